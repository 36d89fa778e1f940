using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Globalization;
using System.Linq;
using System.Text;

namespace FusedOpt.Vulkan;

/// <summary>A scalar type a constant buffer holds.</summary>
public enum UniformType
{
    /// <summary>HLSL <c>float</c>: 4 bytes.</summary>
    Float,

    /// <summary>HLSL <c>int</c>: 4 bytes.</summary>
    Int,

    /// <summary>HLSL <c>uint</c>: 4 bytes.</summary>
    UInt,

    /// <summary>HLSL <c>double</c>: 8 bytes (the shader then needs the device's <c>shaderFloat64</c>).</summary>
    Double,
}

/// <summary>One member of a constant buffer and where it lies.</summary>
/// <param name="Name">The HLSL name.</param>
/// <param name="Type">Its type.</param>
/// <param name="Offset">Its byte offset from the start of the buffer.</param>
public readonly record struct UniformField(string Name, UniformType Type, int Offset)
{
    /// <summary>Its size in bytes.</summary>
    public int Size => UniformLayout.SizeOf(Type);
}

/// <summary>
/// The byte layout of a constant buffer of scalars (the hoisted per-step values of a step), by HLSL's
/// <c>cbuffer</c> packing rules, which for scalars agree with std140: each member at the next multiple of its own size,
/// never straddling a 16-byte row, the whole buffer a multiple of 16 bytes. The first member is always <c>uint n</c>,
/// the element count of the dispatched range, which <see cref="VulkanStepKernel"/> writes itself.
/// </summary>
/// <remarks>
/// Only scalars: vectors, matrices and arrays (whose elements HLSL puts on 16-byte rows, unlike C) are not needed for
/// hoisted values and are not modelled.
/// </remarks>
public sealed class UniformLayout
{
    /// <summary>The name of the element count, the first member.</summary>
    public const string CountName = "n";

    private readonly Dictionary<string, UniformField> _byName;

    private UniformLayout(ImmutableArray<UniformField> fields, int size)
    {
        Fields = fields;
        Size = size;
        _byName = fields.ToDictionary(static f => f.Name, StringComparer.Ordinal);
    }

    /// <summary>Every member in declaration order, <c>n</c> first.</summary>
    public ImmutableArray<UniformField> Fields { get; }

    /// <summary>The buffer's size in bytes: a multiple of 16.</summary>
    public int Size { get; }

    /// <summary>
    /// Lays out <c>uint n</c> followed by <paramref name="fields"/> in order. Throws <see cref="ArgumentException"/> for a
    /// name that is empty, not an identifier, repeated, or <c>n</c>.
    /// </summary>
    public static UniformLayout Create(params ReadOnlySpan<(string Name, UniformType Type)> fields)
    {
        var laid = ImmutableArray.CreateBuilder<UniformField>(fields.Length + 1);
        laid.Add(new UniformField(CountName, UniformType.UInt, 0));
        var seen = new HashSet<string>(StringComparer.Ordinal) { CountName };
        int offset = 4;
        foreach (var (name, type) in fields)
        {
            if (string.IsNullOrEmpty(name) || !(char.IsAsciiLetter(name[0]) || name[0] == '_') || !name.All(static c => char.IsAsciiLetterOrDigit(c) || c == '_'))
            {
                throw new ArgumentException($"Uniform member name '{name}' is not an HLSL identifier (letters, digits, '_', not starting with a digit).", nameof(fields));
            }

            if (!seen.Add(name))
            {
                throw new ArgumentException(
                    name == CountName ? $"'{CountName}' is the element count the kernel writes first; name the member otherwise." : $"Uniform member '{name}' is declared twice.",
                    nameof(fields));
            }

            int size = SizeOf(type);
            offset = (offset + size - 1) / size * size; // scalars of 4 or 8 bytes at their own alignment never straddle a row
            laid.Add(new UniformField(name, type, offset));
            offset += size;
        }

        return new UniformLayout(laid.MoveToImmutable(), (offset + 15) / 16 * 16);
    }

    /// <summary>The size of a scalar in bytes.</summary>
    public static int SizeOf(UniformType type) => type switch
    {
        UniformType.Float or UniformType.Int or UniformType.UInt => 4,
        UniformType.Double => 8,
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "Unknown uniform type."),
    };

    /// <summary>The member named <paramref name="name"/>; <see cref="KeyNotFoundException"/> naming the members when absent.</summary>
    public UniformField this[string name] =>
        _byName.TryGetValue(name, out var f) ? f : throw new KeyNotFoundException($"The constant buffer has no member '{name}'; it has {string.Join(", ", Fields.Select(static x => x.Name))}.");

    /// <summary>Writes a <c>float</c> member into <paramref name="block"/> (one buffer of <see cref="Size"/> bytes).</summary>
    public void Set(Span<byte> block, string name, float value) =>
        BinaryPrimitives.WriteSingleLittleEndian(Slot(block, name, UniformType.Float), value);

    /// <summary>Writes an <c>int</c> member.</summary>
    public void Set(Span<byte> block, string name, int value) =>
        BinaryPrimitives.WriteInt32LittleEndian(Slot(block, name, UniformType.Int), value);

    /// <summary>Writes a <c>uint</c> member.</summary>
    public void Set(Span<byte> block, string name, uint value) =>
        BinaryPrimitives.WriteUInt32LittleEndian(Slot(block, name, UniformType.UInt), value);

    /// <summary>Writes a <c>double</c> member.</summary>
    public void Set(Span<byte> block, string name, double value) =>
        BinaryPrimitives.WriteDoubleLittleEndian(Slot(block, name, UniformType.Double), value);

    /// <summary>
    /// Writes <paramref name="values"/> into the members after <c>n</c>, in declaration order: the float scalars a rule's
    /// <c>Prepare</c> computes (the ILGPU path's <c>GpuArgs.S0…</c>), when the shader declares them in that order.
    /// Throws when there are more values than members after <c>n</c> or one of those members is not a <c>float</c>.
    /// </summary>
    public void SetScalars(Span<byte> block, ReadOnlySpan<float> values)
    {
        if (block.Length < Size)
        {
            throw new ArgumentException($"The block has {block.Length} bytes; the constant buffer needs {Size}.", nameof(block));
        }

        if (values.Length > Fields.Length - 1)
        {
            throw new ArgumentException($"{values.Length} scalars do not fit the {Fields.Length - 1} members after '{CountName}'.", nameof(values));
        }

        for (int i = 0; i < values.Length; i++)
        {
            var field = Fields[i + 1];
            if (field.Type != UniformType.Float)
            {
                throw new ArgumentException($"Scalar {i} would go to '{field.Name}', which is {Keyword(field.Type)}, not float.", nameof(values));
            }

            BinaryPrimitives.WriteSingleLittleEndian(block.Slice(field.Offset, 4), values[i]);
        }
    }

    private Span<byte> Slot(Span<byte> block, string name, UniformType type)
    {
        if (block.Length < Size)
        {
            throw new ArgumentException($"The block has {block.Length} bytes; the constant buffer needs {Size}.", nameof(block));
        }

        var field = this[name];
        if (field.Type != type)
        {
            throw new ArgumentException($"Uniform member '{name}' is {Keyword(field.Type)}, not {Keyword(type)}.", nameof(name));
        }

        return block.Slice(field.Offset, field.Size);
    }

    /// <summary>The HLSL keyword of a type.</summary>
    public static string Keyword(UniformType type) => type switch
    {
        UniformType.Float => "float",
        UniformType.Int => "int",
        UniformType.UInt => "uint",
        UniformType.Double => "double",
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "Unknown uniform type."),
    };

    /// <summary>
    /// The HLSL declaration, one member a line with its byte offset as a comment:
    /// <c>cbuffer Step : register(b0) { uint n; // offset 0 … }</c>.
    /// </summary>
    public string ToHlsl(string blockName = "Step")
    {
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"cbuffer {blockName} : register(b0)\n{{\n");
        foreach (var f in Fields)
        {
            text.Append(CultureInfo.InvariantCulture, $"    {Keyword(f.Type)} {f.Name}; // offset {f.Offset}\n");
        }

        return text.Append("};\n").ToString();
    }
}

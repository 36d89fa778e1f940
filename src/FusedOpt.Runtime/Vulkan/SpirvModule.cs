using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using System.Text;

namespace FusedOpt.Vulkan;

/// <summary>What a descriptor binding of a shader holds.</summary>
public enum SpirvBindingKind
{
    /// <summary>A uniform (constant) buffer: HLSL <c>cbuffer</c>.</summary>
    UniformBuffer,

    /// <summary>A storage buffer: HLSL <c>RWStructuredBuffer</c>.</summary>
    StorageBuffer,

    /// <summary>Anything else (an image, a sampler…): the step kernels use none.</summary>
    Other,
}

/// <summary>One descriptor binding a shader declares.</summary>
/// <param name="Set">The descriptor set.</param>
/// <param name="Binding">The binding number within the set.</param>
/// <param name="Kind">What it holds.</param>
/// <param name="BlockBytes">
/// For a uniform buffer whose members are all scalars, the bytes they span (last member's offset + size); else 0.
/// </param>
public readonly record struct SpirvBinding(int Set, int Binding, SpirvBindingKind Kind, int BlockBytes = 0);

/// <summary>
/// The facts about a SPIR-V compute module the host needs to check before building a pipeline: its entry points, the
/// work-group size of <c>main</c> and the descriptor bindings. A reader of the binary format (SPIR-V 1.x, §2.3 of the
/// specification): the header, then instructions of (word count &lt;&lt; 16 | opcode). It reads, it does not validate.
/// </summary>
public sealed class SpirvModule
{
    /// <summary>The first word of every SPIR-V module.</summary>
    public const uint Magic = 0x07230203;

    private const int OpEntryPoint = 15, OpExecutionMode = 16, OpTypeInt = 21, OpTypeFloat = 22, OpTypeStruct = 30, OpTypePointer = 32, OpVariable = 59;
    private const int OpDecorate = 71, OpMemberDecorate = 72;
    private const int ModeLocalSize = 17, DecorationBlock = 2, DecorationBufferBlock = 3, DecorationBinding = 33, DecorationDescriptorSet = 34, DecorationOffset = 35;
    private const int StorageUniform = 2, StorageStorageBuffer = 12, ModelGLCompute = 5;

    private SpirvModule(ImmutableArray<string> entryPoints, (int X, int Y, int Z)? localSize, ImmutableArray<SpirvBinding> bindings)
    {
        ComputeEntryPoints = entryPoints;
        LocalSize = localSize;
        Bindings = bindings;
    }

    /// <summary>The names of the GLCompute entry points.</summary>
    public ImmutableArray<string> ComputeEntryPoints { get; }

    /// <summary>The work-group size (<c>[numthreads]</c>) of the first compute entry point, when the module states it.</summary>
    public (int X, int Y, int Z)? LocalSize { get; }

    /// <summary>Every descriptor binding, ordered by set and binding.</summary>
    public ImmutableArray<SpirvBinding> Bindings { get; }

    /// <summary>
    /// Reads <paramref name="spirv"/>. Throws <see cref="FormatException"/> when it is not SPIR-V (wrong magic, a length
    /// not a multiple of 4, an instruction running past the end).
    /// </summary>
    public static SpirvModule Read(ReadOnlySpan<byte> spirv)
    {
        if (spirv.Length < 20 || spirv.Length % 4 != 0)
        {
            throw new FormatException($"Not a SPIR-V module: {spirv.Length} bytes; a module is a header of 5 words followed by instructions, a multiple of 4 bytes.");
        }

        uint magic = BinaryPrimitives.ReadUInt32LittleEndian(spirv);
        if (magic != Magic)
        {
            throw new FormatException($"Not a SPIR-V module: the first word is 0x{magic:x8}, expected 0x{Magic:x8} (little-endian).");
        }

        int words = spirv.Length / 4;
        var code = new uint[words];
        for (int w = 0; w < words; w++)
        {
            code[w] = BinaryPrimitives.ReadUInt32LittleEndian(spirv[(w * 4)..]);
        }

        uint Word(int i) => code[i];

        var entryPoints = new List<(uint Id, string Name)>();
        var localSizes = new Dictionary<uint, (int, int, int)>();
        var bindings = new Dictionary<uint, int>();
        var sets = new Dictionary<uint, int>();
        var blocks = new Dictionary<uint, int>();
        var pointers = new Dictionary<uint, (int Storage, uint Pointee)>();
        var variables = new List<(uint Id, uint Type, int Storage)>();
        var scalarBytes = new Dictionary<uint, int>();
        var structs = new Dictionary<uint, uint[]>();
        var memberOffsets = new Dictionary<(uint Struct, int Member), int>();
        for (int i = 5; i < words;)
        {
            uint first = Word(i);
            int count = (int)(first >> 16), op = (int)(first & 0xFFFF);
            if (count == 0 || i + count > words)
            {
                throw new FormatException($"Not a SPIR-V module: the instruction at word {i} (opcode {op}) has {count} words and runs past the end ({words} words).");
            }

            switch (op)
            {
                case OpEntryPoint when count >= 4 && Word(i + 1) == ModelGLCompute:
                    entryPoints.Add((Word(i + 2), ReadString(spirv.Slice((i + 3) * 4, (count - 3) * 4))));
                    break;
                case OpExecutionMode when count >= 6 && Word(i + 2) == ModeLocalSize:
                    localSizes[Word(i + 1)] = ((int)Word(i + 3), (int)Word(i + 4), (int)Word(i + 5));
                    break;
                case OpDecorate when count >= 3:
                    uint target = Word(i + 1);
                    switch ((int)Word(i + 2))
                    {
                        case DecorationBinding when count >= 4: bindings[target] = (int)Word(i + 3); break;
                        case DecorationDescriptorSet when count >= 4: sets[target] = (int)Word(i + 3); break;
                        case DecorationBlock: blocks[target] = DecorationBlock; break;
                        case DecorationBufferBlock: blocks[target] = DecorationBufferBlock; break;
                    }

                    break;
                case OpTypePointer when count >= 4:
                    pointers[Word(i + 1)] = ((int)Word(i + 2), Word(i + 3));
                    break;
                case OpVariable when count >= 4:
                    variables.Add((Word(i + 2), Word(i + 1), (int)Word(i + 3)));
                    break;
                case OpTypeInt or OpTypeFloat when count >= 3:
                    scalarBytes[Word(i + 1)] = (int)Word(i + 2) / 8;
                    break;
                case OpTypeStruct when count >= 2:
                    structs[Word(i + 1)] = [.. Enumerable.Range(i + 2, count - 2).Select(Word)];
                    break;
                case OpMemberDecorate when count >= 5 && Word(i + 3) == DecorationOffset:
                    memberOffsets[(Word(i + 1), (int)Word(i + 2))] = (int)Word(i + 4);
                    break;
            }

            i += count;
        }

        var found = new List<SpirvBinding>();
        foreach (var (id, type, storage) in variables)
        {
            if (!bindings.TryGetValue(id, out int binding))
            {
                continue;
            }

            var kind = SpirvBindingKind.Other;
            int blockBytes = 0;
            if (storage == StorageStorageBuffer)
            {
                kind = SpirvBindingKind.StorageBuffer;
            }
            else if (storage == StorageUniform && pointers.TryGetValue(type, out var pointer))
            {
                // SPIR-V 1.0 (what -V emits for Vulkan 1.0): a storage buffer is a Uniform-class struct decorated BufferBlock.
                kind = blocks.TryGetValue(pointer.Pointee, out int block)
                    ? block == DecorationBufferBlock ? SpirvBindingKind.StorageBuffer : SpirvBindingKind.UniformBuffer
                    : SpirvBindingKind.Other;
                if (kind == SpirvBindingKind.UniformBuffer && structs.TryGetValue(pointer.Pointee, out var members))
                {
                    blockBytes = ScalarBlockBytes(pointer.Pointee, members, scalarBytes, memberOffsets);
                }
            }

            found.Add(new SpirvBinding(sets.GetValueOrDefault(id), binding, kind, blockBytes));
        }

        (int, int, int)? size = entryPoints.Count > 0 && localSizes.TryGetValue(entryPoints[0].Id, out var s) ? s : null;
        return new SpirvModule([.. entryPoints.Select(static e => e.Name)], size, [.. found.OrderBy(static b => b.Set).ThenBy(static b => b.Binding)]);
    }

    /// <summary>The bytes a struct of scalars spans: the largest member offset + size; 0 when a member is not a scalar.</summary>
    private static int ScalarBlockBytes(uint id, uint[] members, Dictionary<uint, int> scalarBytes, Dictionary<(uint, int), int> offsets)
    {
        int end = 0;
        for (int m = 0; m < members.Length; m++)
        {
            if (!scalarBytes.TryGetValue(members[m], out int size) || !offsets.TryGetValue((id, m), out int offset))
            {
                return 0;
            }

            end = Math.Max(end, offset + size);
        }

        return end;
    }

    private static string ReadString(ReadOnlySpan<byte> bytes)
    {
        int end = bytes.IndexOf((byte)0);
        return Encoding.UTF8.GetString(end < 0 ? bytes : bytes[..end]);
    }
}

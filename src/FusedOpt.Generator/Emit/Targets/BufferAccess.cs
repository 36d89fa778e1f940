using System.Globalization;
using FusedOpt.Generator.Model;

namespace FusedOpt.Generator.Emit.Targets;

/// <summary>
/// How one buffer's elements are stored and reached: where its first element is in the step frame, how an element
/// is loaded and converted to the compute type (float32, or a vector of them, on a <see cref="KernelTarget"/>), and
/// how a computed value is converted back and stored. Every kernel that touches memory (the fused loops, the naive
/// step, the ILGPU kernel) goes through one of these, so a new storage is one new subclass:
/// <list type="bullet">
/// <item>bfloat16: <see cref="StorageType"/> <c>ushort</c>, <see cref="Load"/> widens (shift left 16),
/// <see cref="Store"/> rounds to nearest-even;</item>
/// <item>blockwise 8-bit: <see cref="BlockSize"/> 256, <see cref="BlockPrologue"/> reads the block's absmax,
/// <see cref="Load"/> dequantises through the code map, <see cref="BlockEpilogue"/> requantises the block.</item>
/// </list>
/// The loops do not call the block hooks yet: every storage today has <see cref="BlockSize"/> 0. A blocked storage
/// makes <c>FusedEmitter.EmitLoop</c> iterate per block (prologue, the element loop within the block, its scalar
/// tail, epilogue) — that one method is where it goes.
/// </summary>
internal abstract class BufferAccess
{
    /// <summary>The element type in memory, e.g. <c>float</c>.</summary>
    public abstract string StorageType { get; }

    /// <summary>Bytes one element occupies in memory (what the benchmarks' traffic counts).</summary>
    public abstract int BytesPerElement { get; }

    /// <summary>
    /// Elements per block whose prologue/epilogue must run around them (0: none). Thread partitions and vector loops
    /// align to it.
    /// </summary>
    public virtual int BlockSize => 0;

    /// <summary>The step frame's reference to the buffer's first element: <c>f.P</c>, <c>f.G</c>, <c>f.State(k)</c>.</summary>
    public virtual string Source(BufferUse buffer, string frame) => buffer.Kind switch
    {
        NameKind.Param => frame + ".P",
        NameKind.Grad => frame + ".G",
        _ => frame + ".State(" + buffer.Index.ToString(CultureInfo.InvariantCulture) + ")",
    };

    /// <summary>The statement declaring <paramref name="name"/> as a reference to the buffer's first element.</summary>
    public virtual string DeclareReference(string name, BufferUse buffer, string frame) => $"ref {StorageType} {name} = ref {Source(buffer, frame)};";

    /// <summary>Loads the element(s) at <paramref name="index"/> and converts them to the compute type of <paramref name="target"/>.</summary>
    public abstract string Load(KernelTarget target, string reference, string index);

    /// <summary>The statement converting <paramref name="value"/> to the storage type and storing it at <paramref name="index"/>.</summary>
    public abstract string Store(KernelTarget target, string reference, string index, string value);

    /// <summary>Statements before the first element of a block (q8: read the block's scale). None for an unblocked storage.</summary>
    public virtual void BlockPrologue(CodeWriter w, KernelTarget target, string reference, string blockIndex)
    {
    }

    /// <summary>Statements after the last element of a block (q8: the new absmax and requantisation). None for an unblocked storage.</summary>
    public virtual void BlockEpilogue(CodeWriter w, KernelTarget target, string reference, string blockIndex)
    {
    }
}

/// <summary>float32 storage: the compute type itself, so loads and stores convert nothing.</summary>
internal sealed class Fp32Access : BufferAccess
{
    public static readonly Fp32Access Instance = new();

    public override string StorageType => "float";

    public override int BytesPerElement => 4;

    public override string Load(KernelTarget target, string reference, string index) => target.LoadFloat(reference, index);

    public override string Store(KernelTarget target, string reference, string index, string value) => target.StoreFloat(reference, index, value);
}

/// <summary>
/// A per-element state in the CPU loops: loads and stores go through the kernel's state-access type argument
/// (<c>TStates.Load512(ref mRef, i)</c>, <c>IStateAccess</c> in the runtime), chosen per optimizer instance at run
/// time — float32 or bfloat16 — like a switch, so the element loop has no branch on it and every declaration gets
/// every storage without a change to its record.
/// </summary>
internal sealed class StateTypeAccess(string typeParameter) : BufferAccess
{
    public override string StorageType => "float";

    /// <summary>What the declaration asks for; the instance's storage decides the bytes in memory.</summary>
    public override int BytesPerElement => 4;

    public override string Load(KernelTarget target, string reference, string index) => target switch
    {
        VectorTarget v => $"{typeParameter}.Load{v.Bits.ToString(CultureInfo.InvariantCulture)}(ref {reference}, {index})",
        _ => $"{typeParameter}.Load(ref {reference}, {index})",
    };

    public override string Store(KernelTarget target, string reference, string index, string value) => target switch
    {
        VectorTarget v => $"{typeParameter}.Store{v.Bits.ToString(CultureInfo.InvariantCulture)}({value}, ref {reference}, {index});",
        _ => $"{typeParameter}.Store({value}, ref {reference}, {index});",
    };
}

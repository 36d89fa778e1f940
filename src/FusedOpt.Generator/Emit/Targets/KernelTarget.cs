using System.Globalization;
using FusedOpt.Generator.Model;
using ValueType = FusedOpt.Generator.Model.ValueType;

namespace FusedOpt.Generator.Emit.Targets;

/// <summary>
/// A kernel target: how element code is written for one kind of kernel — its lanes, its type names, its function map,
/// its select/mask form, its reserved words and how a name is escaped, and how a float32 element is read and written
/// at an address. <see cref="ExprEmitter"/> and <see cref="FusedEmitter"/> write element code only through a target,
/// so a new kind of kernel (an HLSL compute shader) is one new subclass, not a new set of <c>if (width is null)</c>.
/// </summary>
/// <remarks>
/// A target knows float32 memory only (<see cref="LoadFloat"/>, <see cref="StoreFloat"/>); what is stored at the
/// address (float32, bfloat16, blockwise int8) is a <see cref="BufferAccess"/>'s concern, which widens on load and
/// rounds on store through the target.
/// </remarks>
internal abstract class KernelTarget
{
    /// <summary>The target's name in comments and docs, e.g. <c>Vector512</c>.</summary>
    public abstract string Name { get; }

    /// <summary>float32 elements per iteration: 16, 8 or 1.</summary>
    public abstract int Lanes { get; }

    /// <summary>
    /// True when element values are vectors: a per-element condition is a lane mask (all bits set = true) combined
    /// with <c>&amp; | ~</c> and applied by <see cref="Select"/>, never a branch.
    /// </summary>
    public bool IsVector => Lanes > 1;

    // ---- Type names ----

    /// <summary>The type of one computed element value: <c>Vector512&lt;float&gt;</c> or <c>float</c>.</summary>
    public abstract string ValueTypeName { get; }

    /// <summary>The type written where an element local is declared with an initializer (<c>var</c> for vectors).</summary>
    public abstract string DeclaredType(ValueType type);

    /// <summary>The zero element value (a buffer that is not loaded under the current switches).</summary>
    public abstract string Zero { get; }

    // ---- Constants and scalars ----

    /// <summary>A float literal written in the rule (without its suffix), as an element value; <paramref name="parent"/> is the enclosing precedence.</summary>
    public abstract string Constant(string text, int parent);

    /// <summary>A bool constant as an element value (a mask for vectors).</summary>
    public abstract string Bool(bool value);

    /// <summary>
    /// A step-invariant scalar read from its slot (<paramref name="slot"/>, a float) as an element value: broadcast for
    /// vectors; for a bool (<paramref name="isBool"/>) the slot holds a mask pattern.
    /// </summary>
    public abstract string Broadcast(string slot, bool isBool);

    // ---- Function map and operators ----

    /// <summary>A call of a rule function (<c>MathF.Sqrt</c> in the rule) on element values.</summary>
    public abstract string Call(Func func, string args);

    /// <summary>The logical complement operator for a per-element bool: <c>!</c>, or <c>~</c> on a mask.</summary>
    public abstract string NotOperator { get; }

    /// <summary>A vector comparison as a mask (vector targets only; scalar targets write C# operators).</summary>
    public virtual string Compare(BinaryOp op, string left, string right) => throw new System.NotSupportedException(Name + " writes comparisons as operators");

    // ---- Select/mask form (vector targets) ----

    /// <summary><c>mask ? whenTrue : whenFalse</c> per lane.</summary>
    public abstract string Select(string mask, string whenTrue, string whenFalse);

    /// <summary>The lanes of <paramref name="mask"/> not in <paramref name="condition"/>.</summary>
    public virtual string AndNot(string mask, string condition) => throw new System.NotSupportedException(Name + " has no masks");

    // ---- Memory (float32 at an address) ----

    /// <summary>Reads the float32 element(s) at <paramref name="index"/> from <paramref name="reference"/>.</summary>
    public abstract string LoadFloat(string reference, string index);

    /// <summary>The statement writing <paramref name="value"/> to the float32 element(s) at <paramref name="index"/>.</summary>
    public abstract string StoreFloat(string reference, string index, string value);

    // ---- Reserved words and escaping ----

    /// <summary>True when <paramref name="name"/> is a reserved word of the target language.</summary>
    public virtual bool IsReservedWord(string name) =>
        Microsoft.CodeAnalysis.CSharp.SyntaxFacts.GetKeywordKind(name) != Microsoft.CodeAnalysis.CSharp.SyntaxKind.None;

    /// <summary>A rule name as an identifier of the target language (<c>@checked</c> in C#).</summary>
    public virtual string Escape(string name) => IsReservedWord(name) ? "@" + name : name;

    /// <summary>Wraps <paramref name="text"/> in parentheses when its precedence is below the enclosing one.</summary>
    public static string Wrap(string text, int precedence, int parent) => precedence < parent ? "(" + text + ")" : text;

    public static string FloatLiteral(string text) => text + "f";

    protected static string Int(int value) => value.ToString(CultureInfo.InvariantCulture);
}

/// <summary>Scalar C#: one element per iteration, bools as <c>bool</c>, per-element conditions as branches.</summary>
internal class ScalarTarget : KernelTarget
{
    public static readonly ScalarTarget Instance = new();

    public override string Name => "scalar";

    public override int Lanes => 1;

    public override string ValueTypeName => "float";

    public override string DeclaredType(ValueType type) => type == ValueType.Bool ? "bool" : "float";

    public override string Zero => "0f";

    public override string Constant(string text, int parent) =>
        Wrap(FloatLiteral(text), text.StartsWith("-", System.StringComparison.Ordinal) ? 10 : 20, parent);

    public override string Bool(bool value) => value ? "true" : "false";

    public override string Broadcast(string slot, bool isBool) => isBool ? "StepMath.IsSet(" + slot + ")" : slot;

    public override string Call(Func func, string args) =>
        func == Func.Sign ? "SimdMath.Sign(" + args + ")" : "MathF." + func + "(" + args + ")";

    public override string NotOperator => "!";

    public override string Select(string mask, string whenTrue, string whenFalse) => mask + " ? " + whenTrue + " : " + whenFalse;

    public override string LoadFloat(string reference, string index) => $"Unsafe.Add(ref {reference}, {index})";

    public override string StoreFloat(string reference, string index, string value) => $"Unsafe.Add(ref {reference}, {index}) = {value};";
}

/// <summary>
/// The ILGPU kernel: scalar C# compiled by ILGPU for CUDA, OpenCL or its CPU accelerator. Buffers are
/// <c>ArrayView&lt;float&gt;</c>s indexed by the element, and bool scalars arrive as mask floats in <c>GpuArgs</c>.
/// </summary>
internal sealed class IlgpuTarget : ScalarTarget
{
    public static new readonly IlgpuTarget Instance = new();

    public override string Name => "ILGPU";

    public override string Broadcast(string slot, bool isBool) => isBool ? slot + " != 0f" : slot;

    public override string LoadFloat(string reference, string index) => $"{reference}[{index}]";

    public override string StoreFloat(string reference, string index, string value) => $"{reference}[{index}] = {value};";
}

/// <summary>
/// A <c>System.Runtime.Intrinsics</c> vector width (<c>Vector512</c>, <c>Vector256</c>): lanes of float32, per-element
/// conditions as masks. The same operations in the same order as the scalar target (no FMA contraction), so every
/// width computes the same bits.
/// </summary>
internal sealed class VectorTarget : KernelTarget
{
    public static readonly VectorTarget V512 = new(512);

    public static readonly VectorTarget V256 = new(256);

    private VectorTarget(int bits)
    {
        Bits = bits;
        Name = "Vector" + Int(bits);
    }

    /// <summary>The register width in bits.</summary>
    public int Bits { get; }

    public override string Name { get; }

    public override int Lanes => Bits / 32;

    public override string ValueTypeName => Name + "<float>";

    public override string DeclaredType(ValueType type) => "var";

    public override string Zero => "default";

    public override string Constant(string text, int parent) => Name + ".Create(" + FloatLiteral(text) + ")";

    public override string Bool(bool value) => Name + "<float>." + (value ? "AllBitsSet" : "Zero");

    public override string Broadcast(string slot, bool isBool) => Name + ".Create(" + slot + ")";

    public override string Call(Func func, string args) =>
        func == Func.Sign ? "SimdMath.Sign(" + args + ")" : Name + "." + func + "(" + args + ")";

    public override string NotOperator => "~";

    public override string Compare(BinaryOp op, string left, string right) => op switch
    {
        BinaryOp.Lt => Name + ".LessThan(" + left + ", " + right + ")",
        BinaryOp.Le => Name + ".LessThanOrEqual(" + left + ", " + right + ")",
        BinaryOp.Gt => Name + ".GreaterThan(" + left + ", " + right + ")",
        BinaryOp.Ge => Name + ".GreaterThanOrEqual(" + left + ", " + right + ")",
        BinaryOp.Eq => Name + ".Equals(" + left + ", " + right + ")",
        BinaryOp.Ne => "~" + Name + ".Equals(" + left + ", " + right + ")",
        _ => throw new System.ArgumentOutOfRangeException(nameof(op), op, "not a comparison"),
    };

    public override string Select(string mask, string whenTrue, string whenFalse) => Name + ".ConditionalSelect(" + mask + ", " + whenTrue + ", " + whenFalse + ")";

    public override string AndNot(string mask, string condition) => Name + ".AndNot(" + mask + ", " + condition + ")";

    public override string LoadFloat(string reference, string index) => $"{Name}.LoadUnsafe(ref {reference}, (nuint){index})";

    public override string StoreFloat(string reference, string index, string value) => $"{value}.StoreUnsafe(ref {reference}, (nuint){index});";
}

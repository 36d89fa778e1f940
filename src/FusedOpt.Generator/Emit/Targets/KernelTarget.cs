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

/// <summary>
/// An HLSL compute shader (shader model 6-style, compiled here by glslang's HLSL front end): one element per thread,
/// <c>float</c> and <c>bool</c> scalars, per-element conditions as branches and <c>?:</c>, buffers as
/// <c>RWStructuredBuffer&lt;float&gt;</c> indexed by the element. The same operations in the same order as the scalar
/// loop; the function map is HLSL's intrinsics, with sign(x) through a helper that keeps NaN (as <c>SimdMath.Sign</c>).
/// </summary>
internal sealed class HlslTarget : ScalarTarget
{
    public static new readonly HlslTarget Instance = new();

    /// <summary>The helper every shader that uses sign(x) declares (HLSL's <c>sign</c> returns an int, 0 for NaN).</summary>
    public const string SignFunction = "fusedopt_sign";

    // HLSL keywords and reserved words, the intrinsics the shaders call, type names, and the names every shader declares
    // at global scope (the entry point, the constant-buffer members before the hoisted scalars). A rule name among them
    // is written with a trailing underscore.
    private static readonly System.Collections.Generic.HashSet<string> Reserved = new(System.StringComparer.Ordinal)
    {
        "AppendStructuredBuffer", "asm", "asm_fragment", "BlendState", "bool", "break", "Buffer", "ByteAddressBuffer", "case",
        "cbuffer", "centroid", "class", "column_major", "compile", "compile_fragment", "CompileShader", "const", "continue",
        "ComputeShader", "ConsumeStructuredBuffer", "default", "DepthStencilState", "DepthStencilView", "discard", "do",
        "double", "DomainShader", "dword", "else", "export", "extern", "false", "float", "for", "fxgroup", "GeometryShader",
        "groupshared", "half", "Hullshader", "if", "in", "inline", "inout", "InputPatch", "int", "interface", "line",
        "lineadj", "linear", "LineStream", "matrix", "min16float", "min10float", "min16int", "min12int", "min16uint",
        "namespace", "nointerpolation", "noperspective", "NULL", "out", "OutputPatch", "packoffset", "pass", "pixelfragment",
        "PixelShader", "point", "PointStream", "precise", "RasterizerState", "RenderTargetView", "return", "register",
        "row_major", "RWBuffer", "RWByteAddressBuffer", "RWStructuredBuffer", "RWTexture1D", "RWTexture2D", "RWTexture3D",
        "sample", "sampler", "SamplerState", "SamplerComparisonState", "shared", "snorm", "stateblock", "stateblock_state",
        "static", "string", "struct", "switch", "StructuredBuffer", "tbuffer", "technique", "technique10", "technique11",
        "texture", "Texture1D", "Texture2D", "Texture3D", "TextureCube", "true", "typedef", "triangle", "triangleadj",
        "TriangleStream", "uint", "uniform", "unorm", "unsigned", "vector", "vertexfragment", "VertexShader", "void",
        "volatile", "while", "auto", "catch", "char", "const_cast", "delete", "dynamic_cast", "enum", "explicit", "friend",
        "goto", "long", "mutable", "new", "operator", "private", "protected", "public", "reinterpret_cast", "short", "signed",
        "sizeof", "static_cast", "template", "this", "throw", "try", "typename", "union", "using", "virtual",
        "float1", "float2", "float3", "float4", "int1", "int2", "int3", "int4", "uint1", "uint2", "uint3", "uint4",
        "bool1", "bool2", "bool3", "bool4", "half1", "half2", "half3", "half4", "double1", "double2", "double3", "double4",
        "float2x2", "float3x3", "float4x4",
        "abs", "asfloat", "asint", "asuint", "ceil", "clamp", "exp", "exp2", "floor", "isnan", "isinf", "lerp", "log",
        "log2", "mad", "max", "min", "pow", "rcp", "round", "rsqrt", "saturate", "select", "sign", "sqrt", "step", "trunc",
        "main", "n", "gradScale", SignFunction,
    };

    public override string Name => "HLSL";

    /// <summary>
    /// Element locals are <c>precise</c>: glslang marks every operation that computes them <c>NoContraction</c>, so a
    /// driver may not fuse <c>a * b + c</c> into an FMA — the same operations in the same order as the CPU loops.
    /// </summary>
    public override string ValueTypeName => "precise float";

    public override string DeclaredType(ValueType type) => type == ValueType.Bool ? "bool" : "precise float";

    public override string Zero => "0.0f";

    public override string Constant(string text, int parent)
    {
        bool hasPoint = text.IndexOf('.') >= 0 || text.IndexOf('e') >= 0 || text.IndexOf('E') >= 0;
        return Wrap((hasPoint ? text : text + ".0") + "f", text.StartsWith("-", System.StringComparison.Ordinal) ? 10 : 20, parent);
    }

    public override string Broadcast(string slot, bool isBool) => isBool ? "asuint(" + slot + ") != 0u" : slot;

    public override string Call(Func func, string args) => func switch
    {
        Func.Sqrt => "sqrt(" + args + ")",
        Func.Abs => "abs(" + args + ")",
        Func.Max => "max(" + args + ")",
        Func.Min => "min(" + args + ")",
        Func.Pow => "pow(" + args + ")",
        Func.Exp => "exp(" + args + ")",
        Func.Log => "log(" + args + ")",
        _ => SignFunction + "(" + args + ")",
    };

    public override string LoadFloat(string reference, string index) => $"{reference}[{index}]";

    public override string StoreFloat(string reference, string index, string value) => $"{reference}[{index}] = {value};";

    public override bool IsReservedWord(string name) => Reserved.Contains(name) || name.StartsWith("__", System.StringComparison.Ordinal);

    public override string Escape(string name) => IsReservedWord(name) ? name + "_" : name;
}

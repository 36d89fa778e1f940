using FusedOpt.Generator.Helpers;

namespace FusedOpt.Generator.Model;

// The update rule as a small expression IR: what the parser produces from the C# body and every emitter reads.
// Records with value equality and no Roslyn objects, so the incremental cache can compare them.

/// <summary>C# static type of an expression, as the compiler sees it in the user's rule.</summary>
internal enum ValueType
{
    Float,
    Double,
    Int,
    Bool,
}

/// <summary>What an identifier in the rule refers to.</summary>
internal enum NameKind
{
    /// <summary>A hyperparameter (record property): step-invariant.</summary>
    Hyper,

    /// <summary>The parameter element (<c>ref float p</c>).</summary>
    Param,

    /// <summary>The gradient element (<c>float g</c>).</summary>
    Grad,

    /// <summary>A per-element state (<c>ref float m</c>).</summary>
    State,

    /// <summary>A per-step state (<c>ref double muProduct</c>): step-invariant, updated once per step.</summary>
    StepState,

    /// <summary>The step counter (<c>int t</c>), 1 for the first step.</summary>
    Step,

    /// <summary>A local variable of the rule.</summary>
    Local,

    /// <summary>A step-invariant scalar computed by the prologue (introduced by analysis).</summary>
    Hoisted,
}

internal enum BinaryOp
{
    Add,
    Sub,
    Mul,
    Div,
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
    And,
    Or,
}

internal enum UnaryOp
{
    Neg,
    Not,
}

internal enum Func
{
    Sqrt,
    Abs,
    Max,
    Min,
    Pow,
    Exp,
    Log,
    Sign,
}

internal abstract record Expr(ValueType Type);

/// <summary>A numeric literal; <paramref name="Text"/> is the source text without a type suffix.</summary>
internal sealed record NumExpr(double Value, string Text, ValueType Type) : Expr(Type);

internal sealed record BoolExpr(bool Value) : Expr(ValueType.Bool);

/// <summary>An identifier; for <see cref="NameKind.Hoisted"/>, <paramref name="Name"/> is the slot's variable name and <paramref name="Slot"/> its index.</summary>
internal sealed record RefExpr(string Name, NameKind Kind, ValueType Type, int Slot = -1) : Expr(Type);

internal sealed record UnaryExpr(UnaryOp Op, Expr Operand, ValueType Type) : Expr(Type);

/// <summary>
/// <c>Left Op Right</c>. <paramref name="ReducedFrom"/> is set on a multiplication the analysis made from a division
/// by a step-invariant value (<c>x / c</c> → <c>x * (1 / c)</c>): the division as the rule wrote it, which the
/// emitters print as a comment on the line that uses it.
/// </summary>
internal sealed record BinaryExpr(BinaryOp Op, Expr Left, Expr Right, ValueType Type, string? ReducedFrom = null) : Expr(Type);

internal sealed record CallExpr(Func Func, EquatableArray<Expr> Args, ValueType Type) : Expr(Type);

/// <summary><c>c ? a : b</c>. After analysis, a step-invariant condition is a switch: <paramref name="Flag"/> ≥ 0.</summary>
internal sealed record CondExpr(Expr Cond, Expr WhenTrue, Expr WhenFalse, ValueType Type, int Flag = -1) : Expr(Type);

internal sealed record CastExpr(Expr Operand, ValueType Type) : Expr(Type);

/// <summary>A statement; <paramref name="Id"/> indexes the parser's location table (never part of emitted code).</summary>
internal abstract record Stmt(int Id);

/// <summary><c>Target = Value</c> (compound assignments are lowered to this), or a local declaration when <paramref name="Declares"/>.</summary>
internal sealed record AssignStmt(int Id, string Target, NameKind Kind, ValueType TargetType, Expr Value, bool Declares) : Stmt(Id);

/// <summary><c>if (Cond) Then else Else</c>. After analysis, a step-invariant condition on element work is a switch: <paramref name="Flag"/> ≥ 0.</summary>
internal sealed record IfStmt(int Id, Expr Cond, EquatableArray<Stmt> Then, EquatableArray<Stmt> Else, int Flag = -1) : Stmt(Id);

using System.Linq;
using FusedOpt.Generator.Analysis;
using FusedOpt.Generator.Emit.Targets;
using FusedOpt.Generator.Model;
using ValueType = FusedOpt.Generator.Model.ValueType;

namespace FusedOpt.Generator.Emit;

/// <summary>
/// Writes IR expressions: the float64 prologue (C#), and element code through a <see cref="KernelTarget"/> (a vector
/// width, scalar C#, the ILGPU kernel). Every target gets the same operations in the same order (no FMA
/// contraction), so every width computes the same bits.
/// </summary>
internal static class ExprEmitter
{
    // ---- Prologue: float64, C# semantics otherwise (int arithmetic stays int). ----

    public static string Prologue(Expr e) => e switch
    {
        NumExpr n when n.Type == ValueType.Int => n.Text,
        NumExpr n => DoubleLiteral(n.Text),
        BoolExpr b => b.Value ? "true" : "false",
        RefExpr { Kind: NameKind.Hyper, Type: ValueType.Float } r => "(double)" + KernelNames.Variable(r),
        RefExpr r => KernelNames.Variable(r),
        UnaryExpr u => "(" + (u.Op == UnaryOp.Neg ? "-" : "!") + Operand(Prologue(u.Operand)) + ")",
        BinaryExpr b => "(" + Prologue(b.Left) + " " + Printer.Symbol(b.Op) + " " + Prologue(b.Right) + ")",
        CallExpr c when c.Func == Func.Sign => "StepMath.Sign(" + Prologue(c.Args[0]) + ")",
        CallExpr c => "Math." + c.Func + "(" + string.Join(", ", c.Args.Select(Prologue)) + ")",
        CondExpr c => "(" + Prologue(c.Cond) + " ? " + Prologue(c.WhenTrue) + " : " + Prologue(c.WhenFalse) + ")",
        CastExpr { Type: ValueType.Float } c => "(double)(float)" + Prologue(c.Operand),
        CastExpr { Type: ValueType.Double } c => "(double)" + Prologue(c.Operand),
        CastExpr c => "(int)" + Prologue(c.Operand),
        _ => "0",
    };

    public static string PrologueType(ValueType t) => t switch
    {
        ValueType.Int => "int",
        ValueType.Bool => "bool",
        _ => "double",
    };

    private static string DoubleLiteral(string text)
    {
        bool hasPoint = text.IndexOf('.') >= 0 || text.IndexOf('e') >= 0 || text.IndexOf('E') >= 0;
        return hasPoint ? text : text + ".0";
    }

    public static string FloatLiteral(string text) => KernelTarget.FloatLiteral(text);

    // ---- Element code: through a kernel target (a vector width, scalar C#, the ILGPU kernel). ----

    /// <summary>
    /// Writes element code for <paramref name="target"/>. A switch is written by <paramref name="flag"/> (default: the
    /// kernel's type parameter, <c>TAmsgrad.IsOn</c>).
    /// </summary>
    public static string Element(Expr e, KernelTarget target, KernelNames names, System.Func<int, string>? flag = null) =>
        Element(e, target, flag ?? (i => names.Flag(i) + ".IsOn"), 0);

    /// <summary>Writes <paramref name="e"/>, parenthesised only where C# precedence needs it.</summary>
    private static string Element(Expr e, KernelTarget target, System.Func<int, string> flag, int parent)
    {
        string E(Expr x, int p = 0) => Element(x, target, flag, p);
        switch (e)
        {
            case NumExpr n:
                return target.Constant(n.Text, parent);
            case BoolExpr b:
                return target.Bool(b.Value);
            case RefExpr r:
                return target.Escape(r.Name);
            case UnaryExpr u when u.Op == UnaryOp.Neg:
                return Wrap("-" + Operand(E(u.Operand, 10)), 10, parent);
            case UnaryExpr u:
                return Wrap(target.NotOperator + Operand(E(u.Operand, 10)), 10, parent);
            case BinaryExpr b:
                return Binary(b, target, E, parent);
            case CallExpr c:
                return target.Call(c.Func, string.Join(", ", c.Args.Select(a => E(a))));
            case CondExpr c when c.Flag >= 0:
                return Wrap(flag(c.Flag) + " ? " + E(c.WhenTrue, 2) + " : " + E(c.WhenFalse, 1), 1, parent);
            case CondExpr c:
                return target.IsVector
                    ? target.Select(E(c.Cond), E(c.WhenTrue), E(c.WhenFalse))
                    : Wrap(target.Select(E(c.Cond, 2), E(c.WhenTrue, 2), E(c.WhenFalse, 1)), 1, parent);
            case CastExpr c:
                return E(c.Operand, parent);
            default:
                return "default";
        }
    }

    private static string Binary(BinaryExpr b, KernelTarget target, System.Func<Expr, int, string> E, int parent)
    {
        bool arithmetic = b.Op is BinaryOp.Add or BinaryOp.Sub or BinaryOp.Mul or BinaryOp.Div;
        if (!target.IsVector || arithmetic)
        {
            // Left-associative: the right operand needs parentheses at equal precedence (a - (b - c)).
            int p = Printer.Precedence(b.Op);
            return Wrap(E(b.Left, p) + " " + Printer.Symbol(b.Op) + " " + E(b.Right, p + 1), p, parent);
        }

        if (b.Op is BinaryOp.Eq or BinaryOp.Ne && b.Left.Type == ValueType.Bool)
        {
            // Bools are lane masks (all bits set = true, a NaN as a float): compare them bitwise, never as floats.
            string xor = "(" + E(b.Left, 6) + " ^ " + E(b.Right, 6) + ")";
            return b.Op == BinaryOp.Ne ? xor : Wrap("~" + xor, 10, parent);
        }

        return b.Op switch
        {
            BinaryOp.And => Wrap(E(b.Left, 5) + " & " + E(b.Right, 6), 5, parent),
            BinaryOp.Or => Wrap(E(b.Left, 4) + " | " + E(b.Right, 5), 4, parent),
            // a != b is the complement of a mask: a prefix operator's precedence.
            BinaryOp.Ne => Wrap(target.Compare(b.Op, E(b.Left, 0), E(b.Right, 0)), 10, parent),
            _ => target.Compare(b.Op, E(b.Left, 0), E(b.Right, 0)),
        };
    }

    private static string Wrap(string text, int precedence, int parent) => precedence < parent ? "(" + text + ")" : text;

    /// <summary>
    /// The operand of a prefix operator: parenthesised when it starts with a sign, so that <c>-(-m)</c> is never
    /// written <c>--m</c> (a decrement) and <c>-(-1f)</c> never <c>--1f</c>.
    /// </summary>
    public static string Operand(string text) => text.Length > 0 && text[0] is '-' or '+' ? "(" + text + ")" : text;

}

using System.Globalization;
using System.Linq;
using FusedOpt.Generator.Model;

namespace FusedOpt.Generator.Analysis;

/// <summary>Prints IR back as the C# the user wrote, for comments in generated code and descriptions of switches.</summary>
internal static class Printer
{
    public static string Print(Expr e) => Print(e, 0);

    private static string Print(Expr e, int parentPrecedence)
    {
        switch (e)
        {
            case NumExpr n:
                return n.Text;
            case BoolExpr b:
                return b.Value ? "true" : "false";
            case RefExpr r:
                return r.Name;
            case UnaryExpr u:
                return Wrap((u.Op == UnaryOp.Neg ? "-" : "!") + Emit.ExprEmitter.Operand(Print(u.Operand, 10)), 10, parentPrecedence);
            case BinaryExpr b:
                int p = Precedence(b.Op);
                // Left-associative: the right operand needs parentheses at equal precedence.
                return Wrap(Print(b.Left, p) + " " + Symbol(b.Op) + " " + Print(b.Right, p + 1), p, parentPrecedence);
            case CallExpr c:
                return "MathF." + c.Func + "(" + string.Join(", ", c.Args.Select(a => Print(a, 0))) + ")";
            case CondExpr c:
                return Wrap(Print(c.Cond, 2) + " ? " + Print(c.WhenTrue, 1) + " : " + Print(c.WhenFalse, 1), 1, parentPrecedence);
            case CastExpr c:
                return Wrap("(" + TypeName(c.Type) + ")" + Emit.ExprEmitter.Operand(Print(c.Operand, 10)), 10, parentPrecedence);
            default:
                return e.ToString();
        }
    }

    public static string Symbol(BinaryOp op) => op switch
    {
        BinaryOp.Add => "+",
        BinaryOp.Sub => "-",
        BinaryOp.Mul => "*",
        BinaryOp.Div => "/",
        BinaryOp.Lt => "<",
        BinaryOp.Le => "<=",
        BinaryOp.Gt => ">",
        BinaryOp.Ge => ">=",
        BinaryOp.Eq => "==",
        BinaryOp.Ne => "!=",
        BinaryOp.And => "&&",
        _ => "||",
    };

    public static int Precedence(BinaryOp op) => op switch
    {
        BinaryOp.Mul or BinaryOp.Div => 9,
        BinaryOp.Add or BinaryOp.Sub => 8,
        BinaryOp.Lt or BinaryOp.Le or BinaryOp.Gt or BinaryOp.Ge => 7,
        BinaryOp.Eq or BinaryOp.Ne => 6,
        BinaryOp.And => 4,
        _ => 3,
    };

    public static string TypeName(ValueType t) => t switch
    {
        ValueType.Float => "float",
        ValueType.Double => "double",
        ValueType.Int => "int",
        _ => "bool",
    };

    public static string Literal(double value) => value.ToString("R", CultureInfo.InvariantCulture);

    private static string Wrap(string text, int precedence, int parentPrecedence) =>
        precedence < parentPrecedence ? "(" + text + ")" : text;
}

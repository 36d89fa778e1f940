using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using FusedOpt.Generator.Model;

namespace FusedOpt.Generator.Analysis;

/// <summary>
/// Names a hoisted step-invariant scalar after what it is, so that the kernels read like the rule:
/// <c>Beta1</c> → <c>beta1</c>, <c>1 - Beta1</c> → <c>oneMinusBeta1</c>, <c>1 - MathF.Pow(Beta2, t)</c> →
/// <c>biasCorrection2</c> (PyTorch's name), <c>1.0 / (1 - MathF.Pow(Beta2, t))</c> → <c>invBiasCorrection2</c>,
/// a product or quotient with the learning rate as a factor → <c>stepSize</c> (or its structural name when a rule
/// local has that name: <c>Lr / bc1</c> → <c>lrOverBc1</c>). An expression too large to name readably is
/// <c>scalar</c> + its slot. Every name is a valid identifier that no rule name or earlier scalar has.
/// </summary>
internal static class HoistNames
{
    /// <summary>Longest composed name; a longer one says less than <c>scalar3</c> and is replaced by it.</summary>
    private const int MaxLength = 32;

    /// <summary>
    /// The name for <paramref name="e"/> in slot <paramref name="slot"/>: the first of its candidates that no rule name
    /// or earlier scalar has (<c>stepSize</c>, then the structural name), else the first with 2, 3, … appended.
    /// A C# keyword gets <c>Value</c> appended (<c>Base</c> → <c>baseValue</c>). Adds the name to <paramref name="used"/>.
    /// </summary>
    public static string Unique(Expr e, int slot, ICollection<string> used)
    {
        string? structural = Describe(e);
        var candidates = new List<string>();
        if (IsLearningRateProduct(e))
        {
            candidates.Add("stepSize");
        }

        candidates.Add(structural is null || structural.Length > MaxLength ? "scalar" + slot.ToString(CultureInfo.InvariantCulture) : structural);
        for (int c = 0; c < candidates.Count; c++)
        {
            if (IsKeyword(candidates[c]))
            {
                candidates[c] += "Value";
            }
        }

        string name = candidates.FirstOrDefault(c => !used.Contains(c)) ?? candidates[0];
        for (int k = 2; used.Contains(name); k++)
        {
            name = candidates[0] + k.ToString(CultureInfo.InvariantCulture);
        }

        used.Add(name);
        return name;
    }

    private static bool IsKeyword(string name) =>
        Microsoft.CodeAnalysis.CSharp.SyntaxFacts.GetKeywordKind(name) != Microsoft.CodeAnalysis.CSharp.SyntaxKind.None
        || Microsoft.CodeAnalysis.CSharp.SyntaxFacts.GetContextualKeywordKind(name) != Microsoft.CodeAnalysis.CSharp.SyntaxKind.None;

    private static string? Describe(Expr e)
    {
        switch (e)
        {
            case RefExpr r:
                return r.Kind == NameKind.Step ? "t" : Camel(r.Name);
            case NumExpr n:
                return Number(n.Value);
            case BoolExpr b:
                return b.Value ? "allBits" : "noBits";
            case CastExpr c:
                return Describe(c.Operand);
            case UnaryExpr { Op: UnaryOp.Neg } u:
                return Join("neg", Describe(u.Operand));
            case UnaryExpr u:
                return Join("not", Describe(u.Operand));
            case BinaryExpr { Op: BinaryOp.Sub, Left: NumExpr { Value: 1 }, Right: CallExpr { Func: Func.Pow } pow }
                when pow.Args[0] is RefExpr { Kind: NameKind.Hyper } beta && pow.Args[1] is RefExpr { Kind: NameKind.Step }:
                // 1 - β^t: the bias correction of an exponential average with decay β (Beta2 → biasCorrection2).
                return "biasCorrection" + TrailingDigits(beta.Name);
            case BinaryExpr { Op: BinaryOp.Sub, Left: NumExpr { Value: 1 } } b:
                return Join("oneMinus", Describe(b.Right));
            case BinaryExpr { Op: BinaryOp.Div, Left: NumExpr { Value: 1 } } b:
                return Join("inv", Describe(b.Right));
            case BinaryExpr b:
                string? left = Describe(b.Left), right = Describe(b.Right);
                return b.Op switch
                {
                    BinaryOp.Mul => Join(left, right),
                    BinaryOp.Div => Join(Join(left, "over"), right),
                    BinaryOp.Add => Join(Join(left, "plus"), right),
                    BinaryOp.Sub => Join(Join(left, "minus"), right),
                    BinaryOp.Lt => Join(Join(left, "lt"), right),
                    BinaryOp.Le => Join(Join(left, "le"), right),
                    BinaryOp.Gt => Join(Join(left, "gt"), right),
                    BinaryOp.Ge => Join(Join(left, "ge"), right),
                    BinaryOp.Eq => Join(Join(left, "eq"), right),
                    BinaryOp.Ne => Join(Join(left, "ne"), right),
                    BinaryOp.And => Join(Join(left, "and"), right),
                    _ => Join(Join(left, "or"), right),
                };
            case CallExpr c:
                string? args = c.Args.Aggregate((string?)"", (acc, a) => acc is null ? null : Join(acc, Describe(a)));
                return Join(Camel(c.Func.ToString()), args);
            default:
                return null;
        }
    }

    /// <summary>True for the learning rate times or over something: <c>Lr / (1 - MathF.Pow(Beta1, t))</c>, <c>1 / bc1 * Lr</c>.</summary>
    private static bool IsLearningRateProduct(Expr e) => e switch
    {
        BinaryExpr { Op: BinaryOp.Mul } b => IsLearningRate(b.Left) || IsLearningRate(b.Right) || IsLearningRateProduct(b.Left) || IsLearningRateProduct(b.Right),
        BinaryExpr { Op: BinaryOp.Div } b => IsLearningRate(b.Left) || IsLearningRateProduct(b.Left),
        CastExpr c => IsLearningRateProduct(c.Operand),
        _ => false,
    };

    private static bool IsLearningRate(Expr e) =>
        e is RefExpr { Kind: NameKind.Hyper } r && (string.Equals(r.Name, "lr", System.StringComparison.OrdinalIgnoreCase) || string.Equals(r.Name, "LearningRate", System.StringComparison.OrdinalIgnoreCase));

    private static string? Number(double v) => v switch
    {
        0 => "zero",
        0.5 => "half",
        1 => "one",
        2 => "two",
        _ => null,
    };

    private static string TrailingDigits(string name)
    {
        int i = name.Length;
        while (i > 0 && char.IsDigit(name[i - 1]))
        {
            i--;
        }

        return name.Substring(i);
    }

    private static string? Join(string? left, string? right) =>
        left is null || right is null ? null : left.Length == 0 ? Camel(right) : left + Pascal(right);

    private static string Camel(string s) => s.Length == 0 ? s : char.ToLowerInvariant(s[0]) + s.Substring(1);

    private static string Pascal(string s) => s.Length == 0 ? s : char.ToUpperInvariant(s[0]) + s.Substring(1);
}

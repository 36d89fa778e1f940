using System.Linq;
using FusedOpt.Generator.Model;

namespace FusedOpt.Generator.Analysis;

/// <summary>Element operations per element with every switch on: what bounds a cache-resident step.</summary>
/// <param name="Add">Additions and subtractions.</param>
/// <param name="Mul">Multiplications.</param>
/// <param name="Div">Divisions.</param>
/// <param name="Sqrt">Square roots.</param>
/// <param name="Other">Max, min, abs, sign, negation, comparisons, selects, mask logic, exp, log, pow.</param>
internal sealed record OperationCounts(int Add, int Mul, int Div, int Sqrt, int Other)
{
    public static readonly OperationCounts Zero = new(0, 0, 0, 0, 0);

    public static OperationCounts operator +(OperationCounts a, OperationCounts b) =>
        new(a.Add + b.Add, a.Mul + b.Mul, a.Div + b.Div, a.Sqrt + b.Sqrt, a.Other + b.Other);
}

/// <summary>
/// Counts the operations the vector loop executes per element with every switch on: a switch takes its "on" branch;
/// both branches of a per-element <c>if</c> run (they are if-converted); hoisted scalars cost nothing.
/// </summary>
internal static class OperationCounter
{
    public static OperationCounts Count(KernelPlan plan, System.Func<string, bool> isElementLocal) =>
        plan.Body.Aggregate(OperationCounts.Zero, (sum, s) => sum + Count(s, isElementLocal));

    private static OperationCounts Count(Stmt s, System.Func<string, bool> isElementLocal) => s switch
    {
        AssignStmt a when a.Kind is NameKind.Param or NameKind.Grad or NameKind.State || (a.Kind == NameKind.Local && isElementLocal(a.Target)) => Count(a.Value),
        IfStmt i when i.Flag >= 0 => i.Then.Aggregate(OperationCounts.Zero, (sum, x) => sum + Count(x, isElementLocal)),
        IfStmt i => Count(i.Cond) + i.Then.Concat(i.Else).Aggregate(OperationCounts.Zero, (sum, x) => sum + Count(x, isElementLocal)),
        _ => OperationCounts.Zero,
    };

    private static OperationCounts Count(Expr e) => e switch
    {
        BinaryExpr b => Count(b.Left) + Count(b.Right) + b.Op switch
        {
            BinaryOp.Add or BinaryOp.Sub => new OperationCounts(1, 0, 0, 0, 0),
            BinaryOp.Mul => new OperationCounts(0, 1, 0, 0, 0),
            BinaryOp.Div => new OperationCounts(0, 0, 1, 0, 0),
            _ => new OperationCounts(0, 0, 0, 0, 1),
        },
        UnaryExpr u => Count(u.Operand) + new OperationCounts(0, 0, 0, 0, 1),
        CallExpr c => c.Args.Aggregate(OperationCounts.Zero, (sum, a) => sum + Count(a))
            + (c.Func == Func.Sqrt ? new OperationCounts(0, 0, 0, 1, 0) : new OperationCounts(0, 0, 0, 0, 1)),
        CondExpr c when c.Flag >= 0 => Count(c.WhenTrue),
        CondExpr c => Count(c.Cond) + Count(c.WhenTrue) + Count(c.WhenFalse) + new OperationCounts(0, 0, 0, 0, 1),
        CastExpr c => Count(c.Operand),
        _ => OperationCounts.Zero,
    };
}

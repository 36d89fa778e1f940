using System.Collections.Generic;
using System.Linq;

namespace FusedOpt.Generator.Model;

/// <summary>Questions every emitter asks of an analysed rule: which statements and expressions are per-element.</summary>
internal static class PlanQueries
{
    /// <summary>The direct subexpressions of <paramref name="e"/>.</summary>
    public static IEnumerable<Expr> Children(this Expr e) => e switch
    {
        UnaryExpr u => [u.Operand],
        BinaryExpr b => [b.Left, b.Right],
        CallExpr c => c.Args,
        CondExpr c => [c.Cond, c.WhenTrue, c.WhenFalse],
        CastExpr c => [c.Operand],
        _ => [],
    };

    /// <summary>
    /// True when the element code assigns g although it never reads the gradient buffer (<c>g = 1;</c> with the value
    /// used or not): the kernels must still declare a g variable for the assignment.
    /// </summary>
    public static bool NeedsUnloadedGrad(this KernelPlan plan) =>
        !plan.Buffers.Any(static b => b.Kind == NameKind.Grad && b.IsLoaded) && Assigns(plan, plan.Body, NameKind.Grad);

    private static bool Assigns(KernelPlan plan, IEnumerable<Stmt> block, NameKind kind) =>
        block.Any(s => plan.IsElement(s) && s switch
        {
            AssignStmt a => a.Kind == kind,
            IfStmt i => Assigns(plan, i.Then, kind) || Assigns(plan, i.Else, kind),
            _ => false,
        });

    /// <summary>True when <paramref name="e"/> reads p, g, a state or a per-element local.</summary>
    public static bool ReadsElement(this KernelPlan plan, Expr e) => e switch
    {
        RefExpr r => r.Kind is NameKind.Param or NameKind.Grad or NameKind.State || (r.Kind == NameKind.Local && plan.ElementLocals.Contains(r.Name)),
        _ => e.Children().Any(plan.ReadsElement),
    };

    /// <summary>
    /// True when <paramref name="s"/> runs in the element loop: an assignment to p, g, a state or a per-element local;
    /// an <c>if</c> on a switch (it holds element statements) or on a per-element condition.
    /// </summary>
    public static bool IsElement(this KernelPlan plan, Stmt s) => s switch
    {
        AssignStmt a => a.Kind is NameKind.Param or NameKind.Grad or NameKind.State || (a.Kind == NameKind.Local && plan.ElementLocals.Contains(a.Target)),
        IfStmt i => i.Flag >= 0 || plan.ReadsElement(i.Cond),
        _ => false,
    };
}

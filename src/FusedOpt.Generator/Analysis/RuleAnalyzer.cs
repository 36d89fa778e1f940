using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using FusedOpt.Generator.Helpers;
using FusedOpt.Generator.Model;
using Microsoft.CodeAnalysis;
using ValueType = FusedOpt.Generator.Model.ValueType;

namespace FusedOpt.Generator.Analysis;

/// <summary>How an expression varies: a constant, once per step, or per element.</summary>
internal enum Variability
{
    Const = 0,
    Step = 1,
    Element = 2,
}

/// <summary>
/// Splits the rule into the once-per-step prologue and the element loop:
/// <list type="bullet">
/// <item>every local, step state and subexpression that depends only on hyperparameters, <c>t</c> and per-step
/// states is step-invariant; the maximal such subexpressions of element code become hoisted scalars, computed in
/// float64 once per step;</item>
/// <item>a step-invariant condition over element code becomes a switch: a kernel specialisation chosen once per
/// step, so that the element loop has no branch on it;</item>
/// <item>each buffer (p, g, states) gets the switch combinations under which it is loaded and stored, so that a state
/// used only under a switch (Adam's vMax) is neither allocated nor touched otherwise.</item>
/// </list>
/// </summary>
internal sealed class RuleAnalyzer
{
    public const int MaxFlags = 8;

    private readonly string _ruleName;
    private readonly IReadOnlyList<LocationInfo> _locations;
    private readonly List<DiagnosticInfo> _diagnostics;
    private readonly Dictionary<string, Variability> _locals = new();
    private readonly Dictionary<string, int> _assignCounts = new();
    private readonly HashSet<string> _pureLocals = new();
    private readonly List<HoistModel> _hoists = [];
    private readonly Dictionary<string, int> _pureHoists = new();
    private readonly List<FlagModel> _flags = [];
    private readonly Dictionary<string, int> _pureFlags = new();
    private readonly HashSet<string> _usedNames = new();
    private readonly HashSet<string> _hoistedLocals = new();
    private readonly Dictionary<string, (NameKind Kind, int Index, List<List<FlagLiteral>> Loads, List<List<FlagLiteral>> Stores)> _buffers = new();
    private string? _scalarReason;

    private RuleAnalyzer(string ruleName, IReadOnlyList<LocationInfo> locations, List<DiagnosticInfo> diagnostics)
    {
        _ruleName = ruleName;
        _locations = locations;
        _diagnostics = diagnostics;
    }

    /// <param name="ruleName">The record's name, for messages.</param>
    /// <param name="body">The rule body.</param>
    /// <param name="states">The per-element states.</param>
    /// <param name="ruleNames">Every name the rule declares (hyperparameters, p, g, states, t): no hoisted scalar takes one.</param>
    /// <param name="locations">Statement locations, indexed by <see cref="Stmt.Id"/>.</param>
    /// <param name="ruleLocation">Where diagnostics about the whole rule go.</param>
    /// <param name="diagnostics">Receives the analysis diagnostics.</param>
    public static KernelPlan? Analyze(string ruleName, EquatableArray<Stmt> body, IReadOnlyList<StateModel> states, IEnumerable<string> ruleNames,
        IReadOnlyList<LocationInfo> locations, LocationInfo? ruleLocation, List<DiagnosticInfo> diagnostics)
    {
        var a = new RuleAnalyzer(ruleName, locations, diagnostics);
        a._usedNames.UnionWith(ruleNames);
        int errors = diagnostics.Count;
        a.CollectLocals(body, Variability.Const);
        a.InferLocals(body);
        a.CollectPureLocals(body);
        foreach (var name in a._locals.Keys)
        {
            a._usedNames.Add(name);
        }

        var rewritten = a.RewriteBlock(body, masked: false);
        if (a._flags.Count > MaxFlags)
        {
            diagnostics.Add(DiagnosticInfo.Create(Diagnostics.TooMany, ruleLocation, ruleName,
                a._flags.Count.ToString(CultureInfo.InvariantCulture), "switches (step-invariant conditions over element code)", MaxFlags.ToString(CultureInfo.InvariantCulture)));
        }

        // Buffer guards: where p, g and each state are loaded and stored.
        a._buffers["p"] = (NameKind.Param, -1, [], []);
        a._buffers["g"] = (NameKind.Grad, -1, [], []);
        for (int i = 0; i < states.Count; i++)
        {
            a._buffers[states[i].Name] = (NameKind.State, i, [], []);
        }

        a.TrackBlock(rewritten, [], masked: false);
        foreach (var s in states)
        {
            var use = a._buffers[s.Name];
            if (use.Loads.Count == 0 && use.Stores.Count == 0)
            {
                diagnostics.Add(DiagnosticInfo.Create(Diagnostics.UnusedState, ruleLocation, s.Name));
            }
        }

        if (a._scalarReason is not null)
        {
            diagnostics.Add(DiagnosticInfo.Create(Diagnostics.NotVectorizable, ruleLocation, ruleName, a._scalarReason));
        }

        if (diagnostics.Skip(errors).Any(static d => Diagnostics.ById(d.Id).DefaultSeverity == DiagnosticSeverity.Error))
        {
            return null;
        }

        var buffers = a._buffers.Values
            .OrderBy(static b => b.Kind == NameKind.Param ? -2 : b.Kind == NameKind.Grad ? -1 : b.Index)
            .Select(b => new BufferUse(
                b.Kind == NameKind.State ? states[b.Index].Name : b.Kind == NameKind.Param ? "p" : "g",
                b.Kind, b.Index, Simplify(b.Loads), Simplify(b.Stores)))
            .ToEquatableArray();
        var elementLocals = a._locals.Where(static kv => kv.Value == Variability.Element).Select(static kv => kv.Key).OrderBy(static k => k, System.StringComparer.Ordinal);
        return new KernelPlan(rewritten, a._hoists.ToEquatableArray(), a._flags.ToEquatableArray(), buffers,
            elementLocals.ToEquatableArray(), a._scalarReason is null, a._scalarReason);
    }

    // ---- Locals: how each varies (a fixpoint: a local assigned a per-element value anywhere is per-element). ----

    private void CollectLocals(EquatableArray<Stmt> block, Variability context)
    {
        foreach (var s in block)
        {
            switch (s)
            {
                case AssignStmt { Kind: NameKind.Local } a:
                    _locals[a.Target] = Variability.Const;
                    _assignCounts[a.Target] = (_assignCounts.TryGetValue(a.Target, out int n) ? n : 0) + 1;
                    break;
                case IfStmt i:
                    CollectLocals(i.Then, context);
                    CollectLocals(i.Else, context);
                    break;
            }
        }
    }

    private void InferLocals(EquatableArray<Stmt> body)
    {
        bool changed = true;
        while (changed)
        {
            changed = false;
            Visit(body, Variability.Const);
        }

        void Visit(EquatableArray<Stmt> block, Variability context)
        {
            foreach (var s in block)
            {
                switch (s)
                {
                    case AssignStmt { Kind: NameKind.Local } a:
                        var v = Max(VarOf(a.Value), context);
                        if (v > _locals[a.Target])
                        {
                            _locals[a.Target] = v;
                            changed = true;
                        }

                        break;
                    case IfStmt i:
                        var c = VarOf(i.Cond) == Variability.Element ? Variability.Element : context;
                        Visit(i.Then, c);
                        Visit(i.Else, c);
                        break;
                }
            }
        }
    }

    private void CollectPureLocals(EquatableArray<Stmt> block)
    {
        foreach (var s in block)
        {
            switch (s)
            {
                case AssignStmt { Kind: NameKind.Local, Declares: true } a when _assignCounts[a.Target] == 1 && _locals[a.Target] != Variability.Element && IsPure(a.Value):
                    _pureLocals.Add(a.Target);
                    break;
                case IfStmt i:
                    CollectPureLocals(i.Then);
                    CollectPureLocals(i.Else);
                    break;
            }
        }
    }

    /// <summary>Pure: the same value wherever it is evaluated in the step (no per-step state, no reassigned local).</summary>
    private bool IsPure(Expr e) => e switch
    {
        RefExpr { Kind: NameKind.StepState } => false,
        RefExpr { Kind: NameKind.Local } r => _pureLocals.Contains(r.Name),
        RefExpr => true,
        UnaryExpr u => IsPure(u.Operand),
        BinaryExpr b => IsPure(b.Left) && IsPure(b.Right),
        CallExpr c => c.Args.All(IsPure),
        CondExpr c => IsPure(c.Cond) && IsPure(c.WhenTrue) && IsPure(c.WhenFalse),
        CastExpr c => IsPure(c.Operand),
        _ => true,
    };

    /// <summary>Static: depends on hyperparameters and constants only, so it is fixed until the hyperparameters change.</summary>
    private static bool IsStatic(Expr e) => e switch
    {
        RefExpr r => r.Kind == NameKind.Hyper,
        UnaryExpr u => IsStatic(u.Operand),
        BinaryExpr b => IsStatic(b.Left) && IsStatic(b.Right),
        CallExpr c => c.Args.All(IsStatic),
        CondExpr c => IsStatic(c.Cond) && IsStatic(c.WhenTrue) && IsStatic(c.WhenFalse),
        CastExpr c => IsStatic(c.Operand),
        _ => true,
    };

    public Variability VarOf(Expr e) => e switch
    {
        NumExpr or BoolExpr => Variability.Const,
        RefExpr r => r.Kind switch
        {
            NameKind.Hyper or NameKind.Step or NameKind.StepState or NameKind.Hoisted => Variability.Step,
            NameKind.Local => _locals.TryGetValue(r.Name, out var v) ? v : Variability.Element,
            _ => Variability.Element,
        },
        UnaryExpr u => VarOf(u.Operand),
        BinaryExpr b => Max(VarOf(b.Left), VarOf(b.Right)),
        CallExpr c => c.Args.Select(VarOf).DefaultIfEmpty(Variability.Const).Max(),
        CondExpr c => Max(Max(VarOf(c.Cond), VarOf(c.WhenTrue)), VarOf(c.WhenFalse)),
        CastExpr c => VarOf(c.Operand),
        _ => Variability.Element,
    };

    private static Variability Max(Variability a, Variability b) => a > b ? a : b;

    // ---- Rewriting: classify statements, create switches and hoisted scalars. ----

    private bool IsElementStmt(Stmt s) => s switch
    {
        AssignStmt a => a.Kind switch
        {
            NameKind.Param or NameKind.Grad or NameKind.State => true,
            NameKind.Local => _locals[a.Target] == Variability.Element,
            _ => false,
        },
        IfStmt i => VarOf(i.Cond) == Variability.Element || i.Then.Any(IsElementStmt) || i.Else.Any(IsElementStmt),
        _ => false,
    };

    private EquatableArray<Stmt> RewriteBlock(EquatableArray<Stmt> block, bool masked) =>
        block.Select(s => Rewrite(s, masked)).ToEquatableArray();

    private Stmt Rewrite(Stmt s, bool masked)
    {
        switch (s)
        {
            case AssignStmt { Kind: NameKind.StepState } a:
                if (masked || VarOf(a.Value) == Variability.Element)
                {
                    Report(Diagnostics.StepStateDependsOnElement, a.Id, a.Target);
                }

                return a;
            case AssignStmt a when IsElementStmt(a):
                bool reported = CheckFloat(a.Value, a.Id);
                if (!reported && a.Kind == NameKind.Local && a.TargetType is ValueType.Double or ValueType.Int)
                {
                    Report(Diagnostics.ElementNotFloat, a.Id, a.Target, Printer.TypeName(a.TargetType));
                }

                return a with { Value = Hoist(a.Value) };
            case AssignStmt a:
                return a;
            case IfStmt i:
                var condVar = VarOf(i.Cond);
                bool element = i.Then.Any(IsElementStmt) || i.Else.Any(IsElementStmt);
                if (condVar == Variability.Element)
                {
                    _ = CheckFloat(i.Cond, i.Id);
                    return i with { Cond = Hoist(i.Cond), Then = RewriteBlock(i.Then, true), Else = RewriteBlock(i.Else, true) };
                }

                int flag = element ? FlagFor(i.Cond) : -1;
                return i with { Then = RewriteBlock(i.Then, masked), Else = RewriteBlock(i.Else, masked), Flag = flag };
            default:
                return s;
        }
    }

    /// <summary>Replaces maximal step-invariant subexpressions of element code with hoisted scalars.</summary>
    private Expr Hoist(Expr e)
    {
        var v = VarOf(e);
        if (v != Variability.Element)
        {
            if (e is NumExpr or BoolExpr)
            {
                return e;
            }

            return NewHoist(e);
        }

        switch (e)
        {
            case CondExpr c when VarOf(c.Cond) != Variability.Element:
                return c with { WhenTrue = Hoist(c.WhenTrue), WhenFalse = Hoist(c.WhenFalse), Flag = FlagFor(c.Cond) };
            case CondExpr c:
                return c with { Cond = Hoist(c.Cond), WhenTrue = Hoist(c.WhenTrue), WhenFalse = Hoist(c.WhenFalse) };
            case UnaryExpr u:
                return u with { Operand = Hoist(u.Operand) };
            case BinaryExpr { Op: BinaryOp.Div } b when VarOf(b.Right) != Variability.Element:
                // Strength reduction: x / c → x · (1/c) with 1/c hoisted (float64, rounded once). A vector divide
                // costs ~6 cycles against ~1 for a multiply; the result differs from x / c by at most an ulp.
                return new BinaryExpr(BinaryOp.Mul, Hoist(b.Left), NewHoist(new BinaryExpr(BinaryOp.Div, new NumExpr(1, "1.0", ValueType.Double), b.Right, ValueType.Double)), b.Type,
                    ReducedFrom: Printer.Print(b));
            case BinaryExpr b:
                return b with { Left = Hoist(b.Left), Right = Hoist(b.Right) };
            case CallExpr c:
                if (c.Func == Func.Pow)
                {
                    _scalarReason ??= "MathF.Pow of a per-element value";
                }

                return c with { Args = c.Args.Select(Hoist).ToEquatableArray() };
            case CastExpr c:
                return Hoist(c.Operand);
            default:
                return e;
        }
    }

    private RefExpr NewHoist(Expr e)
    {
        string text = Printer.Print(e);
        var type = e.Type == ValueType.Bool ? ValueType.Bool : ValueType.Float;
        bool pure = IsPure(e);
        if (pure && _pureHoists.TryGetValue(text, out int existing))
        {
            return new RefExpr(_hoists[existing].Name, NameKind.Hoisted, type, existing);
        }

        // A step-invariant local keeps its own name (it is not declared in the element loops); anything else is named
        // after what it is (oneMinusBeta1, stepSize), unique among the rule's names and the earlier scalars.
        string unique = e is RefExpr { Kind: NameKind.Local } local && _hoistedLocals.Add(local.Name)
            ? local.Name
            : HoistNames.Unique(e, _hoists.Count, _usedNames);
        _hoists.Add(new HoistModel(unique, e, text));
        if (pure)
        {
            _pureHoists[text] = _hoists.Count - 1;
        }

        return new RefExpr(unique, NameKind.Hoisted, type, _hoists.Count - 1);
    }

    private int FlagFor(Expr condition)
    {
        string text = Printer.Print(condition);
        bool pure = IsPure(condition);
        if (pure && _pureFlags.TryGetValue(text, out int existing))
        {
            return existing;
        }

        _flags.Add(new FlagModel(condition, text, IsStatic(condition)));
        if (pure)
        {
            _pureFlags[text] = _flags.Count - 1;
        }

        return _flags.Count - 1;
    }

    /// <summary>Reports the first per-element subexpression that is not float32; true when one was found.</summary>
    private bool CheckFloat(Expr e, int id)
    {
        if (VarOf(e) != Variability.Element)
        {
            return false;
        }

        if (e.Type is ValueType.Double or ValueType.Int)
        {
            Report(Diagnostics.ElementNotFloat, id, Printer.Print(e), Printer.TypeName(e.Type));
            return true;
        }

        return e switch
        {
            UnaryExpr u => CheckFloat(u.Operand, id),
            BinaryExpr b => CheckFloat(b.Left, id) || CheckFloat(b.Right, id),
            CallExpr c => c.Args.Any(a => CheckFloat(a, id)),
            CondExpr c => CheckFloat(c.Cond, id) || CheckFloat(c.WhenTrue, id) || CheckFloat(c.WhenFalse, id),
            CastExpr c => CheckFloat(c.Operand, id),
            _ => false,
        };
    }

    // ---- Buffer guards. ----

    private void TrackBlock(EquatableArray<Stmt> block, List<FlagLiteral> path, bool masked)
    {
        foreach (var s in block)
        {
            switch (s)
            {
                case AssignStmt a when IsElementStmt(a):
                    TrackReads(a.Value, path);
                    if (_buffers.TryGetValue(BufferName(a), out var buffer) && a.Kind is NameKind.Param or NameKind.State)
                    {
                        buffer.Stores.Add([.. path]);
                        if (masked)
                        {
                            buffer.Loads.Add([.. path]);
                        }
                    }

                    break;
                case IfStmt i when i.Flag >= 0:
                    TrackBlock(i.Then, [.. path, new FlagLiteral(i.Flag, true)], masked);
                    TrackBlock(i.Else, [.. path, new FlagLiteral(i.Flag, false)], masked);
                    break;
                case IfStmt i when VarOf(i.Cond) == Variability.Element:
                    TrackReads(i.Cond, path);
                    TrackBlock(i.Then, path, true);
                    TrackBlock(i.Else, path, true);
                    break;
            }
        }
    }

    private static string BufferName(AssignStmt a) => a.Kind switch
    {
        NameKind.Param => "p",
        NameKind.Grad => "g",
        _ => a.Target,
    };

    private void TrackReads(Expr e, List<FlagLiteral> path)
    {
        switch (e)
        {
            case RefExpr r when r.Kind is NameKind.Param or NameKind.Grad or NameKind.State:
                _buffers[r.Kind == NameKind.Param ? "p" : r.Kind == NameKind.Grad ? "g" : r.Name].Loads.Add([.. path]);
                break;
            case UnaryExpr u:
                TrackReads(u.Operand, path);
                break;
            case BinaryExpr b:
                TrackReads(b.Left, path);
                TrackReads(b.Right, path);
                break;
            case CallExpr c:
                foreach (var a in c.Args)
                {
                    TrackReads(a, path);
                }

                break;
            case CondExpr c when c.Flag >= 0:
                TrackReads(c.WhenTrue, [.. path, new FlagLiteral(c.Flag, true)]);
                TrackReads(c.WhenFalse, [.. path, new FlagLiteral(c.Flag, false)]);
                break;
            case CondExpr c:
                TrackReads(c.Cond, path);
                TrackReads(c.WhenTrue, path);
                TrackReads(c.WhenFalse, path);
                break;
        }
    }

    private static EquatableArray<GuardPath> Simplify(List<List<FlagLiteral>> paths)
    {
        if (paths.Count == 0)
        {
            return EquatableArray<GuardPath>.Empty;
        }

        if (paths.Any(static p => p.Count == 0))
        {
            return new EquatableArray<GuardPath>([new GuardPath(EquatableArray<FlagLiteral>.Empty)]);
        }

        // Absorption: a path that contains all literals of another path adds nothing to the disjunction.
        var sets = paths.Select(static p => p.Distinct().OrderBy(static l => l.Flag).ToList()).ToList();
        var kept = new List<GuardPath>();
        for (int i = 0; i < sets.Count; i++)
        {
            bool absorbed = false;
            for (int j = 0; j < sets.Count && !absorbed; j++)
            {
                bool strictSubset = sets[j].Count < sets[i].Count && sets[j].All(sets[i].Contains);
                bool earlierEqual = j < i && sets[j].Count == sets[i].Count && sets[j].All(sets[i].Contains);
                absorbed = strictSubset || earlierEqual;
            }

            if (!absorbed)
            {
                kept.Add(new GuardPath(sets[i].ToEquatableArray()));
            }
        }

        return kept.ToEquatableArray();
    }

    private void Report(DiagnosticDescriptor descriptor, int statementId, params string[] args) =>
        _diagnostics.Add(DiagnosticInfo.Create(descriptor, statementId >= 0 && statementId < _locations.Count ? _locations[statementId] : null, args));
}

using System;
using System.Collections.Generic;
using System.Linq;
using FusedOpt.Generator.Model;

namespace FusedOpt.Generator.Analysis;

/// <summary>
/// Checks that every assignment to a <c>[NonNegative]</c> state keeps it ≥ 0 (FOPT026), by interval arithmetic over
/// the rule: a hyperparameter lies in its declared range, <c>t</c> in [1, ∞), a <c>[NonNegative]</c> state is ≥ 0 when
/// the step begins (its start value is checked by the parser, FOPT025), and p, g and every other state may be anything.
/// Equal factors of one product pair up into a square (<c>(1 - Beta2) * g * g</c> is ≥ 0); a conditional and the two
/// branches of an <c>if</c> join their intervals. The check can be beaten by a rule whose sign needs more than that
/// (a constraint across hyperparameters, a cancelling difference), so it is a warning: the attribute remains the
/// declarer's promise. NaN is not tracked (the square root of a negative number counts as ≥ 0): a NaN state is wrong
/// in every storage.
/// </summary>
internal static class StateSigns
{
    public static void Check(ParsedRule rule, List<DiagnosticInfo> diagnostics)
    {
        if (!rule.States.Any(static s => s.NonNegative))
        {
            return;
        }

        var env = new Dictionary<string, Interval>(StringComparer.Ordinal);
        foreach (var h in rule.Hypers)
        {
            env[h.Name] = h.Type == Model.ValueType.Bool ? new Interval(0, 1) : new Interval(h.Min, h.Max);
        }

        foreach (var s in rule.States)
        {
            env[s.Name] = s.NonNegative ? Interval.NonNegative : Interval.All;
        }

        if (rule.StepName is { } step)
        {
            env[step] = new Interval(1, double.PositiveInfinity);
        }

        var nonNegative = new HashSet<string>(rule.States.Where(static s => s.NonNegative).Select(static s => s.Name), StringComparer.Ordinal);
        var locations = rule.StatementLocations.AsArray();
        Walk(rule.Body, env, nonNegative, locations, diagnostics);
    }

    private static void Walk(IEnumerable<Stmt> block, Dictionary<string, Interval> env, HashSet<string> nonNegative, LocationInfo[] locations, List<DiagnosticInfo> diagnostics)
    {
        foreach (var statement in block)
        {
            switch (statement)
            {
                case AssignStmt a:
                    var value = Eval(a.Value, env);
                    if (a.Kind == NameKind.State && nonNegative.Contains(a.Target) && !(value.Lo >= 0))
                    {
                        var location = a.Id >= 0 && a.Id < locations.Length ? locations[a.Id] : null;
                        diagnostics.Add(DiagnosticInfo.Create(Diagnostics.NonNegativeStateMayBeNegative, location, a.Target,
                            $"from the hyperparameters' declared ranges its new value is only known to lie in {value}"));
                    }

                    env[a.Target] = value;
                    break;
                case IfStmt i:
                    var then = new Dictionary<string, Interval>(env, StringComparer.Ordinal);
                    var otherwise = new Dictionary<string, Interval>(env, StringComparer.Ordinal);
                    Walk(i.Then, then, nonNegative, locations, diagnostics);
                    Walk(i.Else, otherwise, nonNegative, locations, diagnostics);
                    foreach (var name in env.Keys.ToList())
                    {
                        env[name] = then[name].Join(otherwise[name]);
                    }

                    break;
            }
        }
    }

    private static Interval Eval(Expr e, Dictionary<string, Interval> env) => e switch
    {
        NumExpr n => new Interval(n.Value, n.Value),
        BoolExpr => new Interval(0, 1),
        RefExpr r => env.TryGetValue(r.Name, out var known) ? known : Interval.All,
        UnaryExpr { Op: UnaryOp.Neg } u => Eval(u.Operand, env).Negate(),
        UnaryExpr => new Interval(0, 1),
        BinaryExpr { Op: BinaryOp.Add } b => Eval(b.Left, env).Add(Eval(b.Right, env)),
        BinaryExpr { Op: BinaryOp.Sub } b => Eval(b.Left, env).Add(Eval(b.Right, env).Negate()),
        BinaryExpr { Op: BinaryOp.Mul } b => Product(b, env),
        BinaryExpr { Op: BinaryOp.Div } b => Eval(b.Left, env).Multiply(Eval(b.Right, env).Reciprocal()),
        BinaryExpr => new Interval(0, 1),
        CallExpr c => Call(c, env),
        CondExpr c => Eval(c.WhenTrue, env).Join(Eval(c.WhenFalse, env)),
        CastExpr c => Eval(c.Operand, env),
        _ => Interval.All,
    };

    /// <summary>A chain of multiplications: equal factors pair up into squares, the rest multiply as intervals.</summary>
    private static Interval Product(BinaryExpr product, Dictionary<string, Interval> env)
    {
        var factors = new List<Expr>();
        Flatten(product, factors);
        var result = new Interval(1, 1);
        var used = new bool[factors.Count];
        for (int i = 0; i < factors.Count; i++)
        {
            if (used[i])
            {
                continue;
            }

            used[i] = true;
            var factor = Eval(factors[i], env);
            int twin = factors.FindIndex(i + 1, f => f.Equals(factors[i]));
            while (twin >= 0 && used[twin])
            {
                twin = factors.FindIndex(twin + 1, f => f.Equals(factors[i]));
            }

            if (twin >= 0)
            {
                used[twin] = true;
                factor = factor.Square();
            }

            result = result.Multiply(factor);
        }

        return result;
    }

    private static void Flatten(Expr e, List<Expr> factors)
    {
        if (e is BinaryExpr { Op: BinaryOp.Mul } b)
        {
            Flatten(b.Left, factors);
            Flatten(b.Right, factors);
        }
        else
        {
            factors.Add(e);
        }
    }

    private static Interval Call(CallExpr c, Dictionary<string, Interval> env)
    {
        var args = c.Args.Select(a => Eval(a, env)).ToArray();
        var x = args.Length > 0 ? args[0] : Interval.All;
        return c.Func switch
        {
            Func.Sqrt => new Interval(Math.Sqrt(Math.Max(x.Lo, 0)), Math.Sqrt(Math.Max(x.Hi, 0))),
            Func.Abs => x.Abs(),
            Func.Max when args.Length == 2 => new Interval(Math.Max(x.Lo, args[1].Lo), Math.Max(x.Hi, args[1].Hi)),
            Func.Min when args.Length == 2 => new Interval(Math.Min(x.Lo, args[1].Lo), Math.Min(x.Hi, args[1].Hi)),
            Func.Exp => new Interval(Math.Exp(x.Lo), Math.Exp(x.Hi)),
            Func.Log => new Interval(Math.Log(Math.Max(x.Lo, 0)), Math.Log(Math.Max(x.Hi, 0))),
            Func.Sign => new Interval(Math.Sign(x.Lo), Math.Sign(x.Hi)),
            Func.Pow when x.Lo >= 0 => Interval.NonNegative,
            _ => Interval.All,
        };
    }

    /// <summary>The closed interval [Lo, Hi] (ends may be infinite); an end computed as NaN widens to the infinity.</summary>
    private readonly struct Interval
    {
        public static readonly Interval All = new(double.NegativeInfinity, double.PositiveInfinity);
        public static readonly Interval NonNegative = new(0, double.PositiveInfinity);

        public Interval(double lo, double hi)
        {
            // + 0.0 turns −0 into 0, so that an end prints as "0".
            Lo = double.IsNaN(lo) ? double.NegativeInfinity : lo + 0.0;
            Hi = double.IsNaN(hi) ? double.PositiveInfinity : hi + 0.0;
        }

        public double Lo { get; }

        public double Hi { get; }

        public Interval Join(Interval o) => new(Math.Min(Lo, o.Lo), Math.Max(Hi, o.Hi));

        public Interval Negate() => new(-Hi, -Lo);

        public Interval Add(Interval o) => new(Lo + o.Lo, Hi + o.Hi);

        public Interval Abs() => Lo >= 0 ? this : Hi <= 0 ? Negate() : new Interval(0, Math.Max(-Lo, Hi));

        public Interval Square()
        {
            var a = Abs();
            return new Interval(Times(a.Lo, a.Lo), Times(a.Hi, a.Hi));
        }

        public Interval Multiply(Interval o)
        {
            double p1 = Times(Lo, o.Lo), p2 = Times(Lo, o.Hi), p3 = Times(Hi, o.Lo), p4 = Times(Hi, o.Hi);
            return new Interval(Math.Min(Math.Min(p1, p2), Math.Min(p3, p4)), Math.Max(Math.Max(p1, p2), Math.Max(p3, p4)));
        }

        /// <summary>1 / x for x in this interval: exact when it excludes 0, else the side of 0 it lies on.</summary>
        public Interval Reciprocal()
        {
            if (Lo > 0 || Hi < 0)
            {
                return new Interval(1 / Hi, 1 / Lo);
            }

            if (Lo >= 0)
            {
                return new Interval(Hi > 0 ? 1 / Hi : double.PositiveInfinity, double.PositiveInfinity);
            }

            if (Hi <= 0)
            {
                return new Interval(double.NegativeInfinity, Lo < 0 ? 1 / Lo : double.NegativeInfinity);
            }

            return All;
        }

        public override string ToString() =>
            (double.IsNegativeInfinity(Lo) ? "(" : "[") + Parse.RuleParser.Format(Lo) + ", " + Parse.RuleParser.Format(Hi) + (double.IsPositiveInfinity(Hi) ? ")" : "]");

        /// <summary>A product of interval ends, where 0 · ∞ is 0 (an end at ∞ is a limit, never reached).</summary>
        private static double Times(double a, double b) => a == 0 || b == 0 ? 0 : a * b;
    }
}

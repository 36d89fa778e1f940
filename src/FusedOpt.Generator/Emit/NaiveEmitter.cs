using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using FusedOpt.Generator.Analysis;
using FusedOpt.Generator.Emit.Targets;
using FusedOpt.Generator.Model;
using ValueType = FusedOpt.Generator.Model.ValueType;

namespace FusedOpt.Generator.Emit;

/// <summary>
/// Writes the naive multi-pass step: the rule as an eager framework runs it, one full pass over memory and one
/// temporary buffer per tensor operation (<c>t0 = m * beta1; t1 = g * (1 - beta1); t2 = t0 + t1; m.copy_(t2)</c>).
/// It is the baseline of the benchmarks and an independent check of the fused kernels. Temporaries of one statement
/// are reused by the next; a temporary bound to a variable (g, a local) is kept.
/// </summary>
internal sealed class NaiveEmitter
{
    private readonly RuleModel _model;
    private readonly KernelNames _names;
    private readonly KernelPlan _plan;
    private readonly List<string> _body = [];
    private readonly HashSet<int> _bound = [];
    private readonly List<int> _statementTemps = [];
    private int _indent;
    private int _temps;
    private int _selects;
    private string _n = "n";
    private string _flags = "flags";

    /// <summary>Lowers the rule to tensor operations at once, so the counts are ready and <see cref="Emit"/> only writes.</summary>
    public NaiveEmitter(RuleModel model, KernelNames names)
    {
        _model = model;
        _names = names;
        _plan = model.Plan;
        Build();
    }

    /// <summary>The lowering of <paramref name="model"/> with its own names: what the analysis stage counts.</summary>
    public static NaiveEmitter Lower(RuleModel model) => new(model, new KernelNames(model));

    /// <summary>Temporaries the step needs.</summary>
    public int Temporaries => _temps;

    /// <summary>Tensor operations (memory passes) with every switch on.</summary>
    public int Passes { get; private set; }

    private void Build()
    {
        _n = _names.Get("n");
        _flags = _names.Get("flags");
        _indent = 0;
        string g = KernelNames.Id(_model.GradName);

        // A rule that never reads g has no g span to scale (it is not even declared).
        if (_plan.Buffers.Any(static b => b.Kind == NameKind.Grad && b.IsLoaded))
        {
            _body.Add(Indent($"if (({_flags} & 1) != 0)"));
            _body.Add(Indent("{"));
            _indent++;
            int scaled = NewTemp(bound: true);
            Op($"NaiveOps.Multiply({g}, {_names.Get("f")}.GradScale, {Temp(scaled)});");
            Line($"{g} = {Temp(scaled)};");
            _indent--;
            _body.Add(Indent("}"));
        }

        EmitBlock(_plan.Body, null);
    }

    public void Emit(CodeWriter w)
    {
        string f = _names.Get("f"), start = _names.Get("start"), end = _names.Get("end"), scratch = _names.Get("scratch");
        w.Line("/// <summary>The naive multi-pass step: one pass and one temporary per tensor operation (the benchmarks' baseline).</summary>");
        w.Line(FusedEmitter.Optimized);
        using (w.Block($"void IOptimizerRule.RunNaive(int {_flags}, ref readonly StepFrame {f}, nint {start}, nint {end}, NaiveScratch {scratch})"))
        {
            w.Line($"int {_n} = (int)({end} - {start});");
            foreach (var b in _plan.Buffers.Where(static b => b.IsLoaded || b.IsStored))
            {
                string name = KernelNames.Id(b.Kind switch { NameKind.Param => _model.ParamName, NameKind.Grad => _model.GradName, _ => b.Name });
                string source = Fp32Access.Instance.Source(b, f);
                string span = $"MemoryMarshal.CreateSpan(ref Unsafe.Add(ref {source}, {start}), {_n})";
                if (b.Kind == NameKind.State)
                {
                    span = $"{f}.HasState({b.Index.ToString(CultureInfo.InvariantCulture)}) ? {span} : default";
                }

                w.Line(b.Kind == NameKind.Grad ? $"ReadOnlySpan<float> {name} = {span};" : $"Span<float> {name} = {span};");
            }

            if (_plan.NeedsUnloadedGrad() && !_plan.Buffers.Any(static b => b.Kind == NameKind.Grad && b.IsStored))
            {
                w.Line($"ReadOnlySpan<float> {KernelNames.Id(_model.GradName)} = default; // assigned, never read from the buffer");
            }

            for (int k = 0; k < _plan.Hoists.Count; k++)
            {
                w.Line($"float {KernelNames.Id(_plan.Hoists[k].Name)} = {f}.Scalar({k.ToString(CultureInfo.InvariantCulture)}); // {_plan.Hoists[k].Text}");
            }

            foreach (var l in _plan.ElementLocals)
            {
                w.Line($"ReadOnlySpan<float> {KernelNames.Id(l)} = default;");
            }

            for (int t = 0; t < _temps; t++)
            {
                w.Line($"Span<float> {Temp(t)} = {scratch}.Temp({t.ToString(CultureInfo.InvariantCulture)}, {_n});");
            }

            foreach (var line in _body)
            {
                w.Line(line);
            }
        }
    }

    private string Temp(int k) => _names.Get("t" + k.ToString(CultureInfo.InvariantCulture));

    private string Indent(string s) => new string(' ', _indent * 4) + s;

    private void Line(string s) => _body.Add(Indent(s));

    private void Op(string s)
    {
        Passes++;
        Line(s);
    }

    private int NewTemp(bool bound)
    {
        for (int k = 0; k < _temps; k++)
        {
            if (!_bound.Contains(k) && !_statementTemps.Contains(k))
            {
                if (bound)
                {
                    _bound.Add(k);
                }
                else
                {
                    _statementTemps.Add(k);
                }

                return k;
            }
        }

        int t = _temps++;
        if (bound)
        {
            _bound.Add(t);
        }
        else
        {
            _statementTemps.Add(t);
        }

        return t;
    }

    /// <summary>An operand: a span variable or a float scalar expression.</summary>
    private readonly record struct Operand(string Text, bool IsSpan, int Temp = -1);

    private void EmitBlock(IEnumerable<Stmt> block, Operand? mask)
    {
        foreach (var s in block.Where(_plan.IsElement))
        {
            _statementTemps.Clear();
            switch (s)
            {
                case AssignStmt a:
                    Line("// " + a.Target + " = " + Printer.Print(a.Value));
                    var value = Lower(a.Value);
                    Assign(a, value, mask);
                    break;
                case IfStmt i when i.Flag >= 0:
                    Line($"if (({_flags} & {(1 << (i.Flag + 1)).ToString(CultureInfo.InvariantCulture)}) != 0) // {_plan.Flags[i.Flag].Text}");
                    Line("{");
                    _indent++;
                    EmitBlock(i.Then, mask);
                    _indent--;
                    Line("}");
                    if (i.Else.Any(_plan.IsElement))
                    {
                        Line("else");
                        Line("{");
                        _indent++;
                        EmitBlock(i.Else, mask);
                        _indent--;
                        Line("}");
                    }

                    break;
                case IfStmt i:
                    Line($"// if ({Printer.Print(i.Cond)}): a mask, then a select per assignment");
                    var cond = Spanned(Lower(i.Cond));
                    int thenMask = NewTemp(bound: true);
                    if (mask is { } outer)
                    {
                        Op($"NaiveOps.And({outer.Text}, {cond.Text}, {Temp(thenMask)});");
                    }
                    else
                    {
                        Op($"NaiveOps.Copy({cond.Text}, {Temp(thenMask)});");
                    }

                    var thenOperand = new Operand(Temp(thenMask), true, thenMask);
                    Operand? elseOperand = null;
                    if (i.Else.Any(_plan.IsElement))
                    {
                        int elseMask = NewTemp(bound: true);
                        Op($"NaiveOps.Not({cond.Text}, {Temp(elseMask)});");
                        if (mask is { } outer2)
                        {
                            Op($"NaiveOps.And({outer2.Text}, {Temp(elseMask)}, {Temp(elseMask)});");
                        }

                        elseOperand = new Operand(Temp(elseMask), true, elseMask);
                    }

                    EmitBlock(i.Then, thenOperand);
                    if (elseOperand is { } e)
                    {
                        EmitBlock(i.Else, e);
                    }

                    break;
            }
        }
    }

    private void Assign(AssignStmt a, Operand value, Operand? mask)
    {
        bool storage = a.Kind is NameKind.Param or NameKind.State;
        string target = KernelNames.Id(a.Kind == NameKind.Param ? _model.ParamName : a.Kind == NameKind.Grad ? _model.GradName : a.Target);
        // A local declared under a mask has no earlier value to keep (it is visible only under that mask): bind it as
        // is. Selecting against it would read an unassigned (empty) span.
        if (mask is { } m && !a.Declares)
        {
            var v = Spanned(value);
            int t = NewTemp(bound: !storage);
            Op($"NaiveOps.Select({m.Text}, {v.Text}, {target}, {Temp(t)});");
            value = new Operand(Temp(t), true, t);
        }

        if (storage)
        {
            Op(value.IsSpan ? $"NaiveOps.Copy({value.Text}, {target});" : $"NaiveOps.Fill({value.Text}, {target});");
            return;
        }

        // g or a local: bind to a temporary that nothing else will overwrite.
        if (value.Temp >= 0 && (_bound.Contains(value.Temp) || _statementTemps.Remove(value.Temp)))
        {
            _bound.Add(value.Temp);
            Line($"{target} = {value.Text};");
            return;
        }

        int k = NewTemp(bound: true);
        Op(value.IsSpan ? $"NaiveOps.Copy({value.Text}, {Temp(k)});" : $"NaiveOps.Fill({value.Text}, {Temp(k)});");
        Line($"{target} = {Temp(k)};");
    }

    private Operand Spanned(Operand o)
    {
        if (o.IsSpan)
        {
            return o;
        }

        int t = NewTemp(bound: false);
        Op($"NaiveOps.Fill({o.Text}, {Temp(t)});");
        return new Operand(Temp(t), true, t);
    }

    private Operand Result(string call, params Operand[] args)
    {
        int t = NewTemp(bound: false);
        Op($"NaiveOps.{call}({string.Join(", ", args.Select(static a => a.Text))}, {Temp(t)});");
        return new Operand(Temp(t), true, t);
    }

    private Operand Lower(Expr e)
    {
        switch (e)
        {
            case NumExpr n:
                return new Operand(n.Text.StartsWith("-", System.StringComparison.Ordinal) ? "(" + ExprEmitter.FloatLiteral(n.Text) + ")" : ExprEmitter.FloatLiteral(n.Text), false);
            case BoolExpr b:
                return new Operand(b.Value ? "StepMath.AllBits" : "0f", false);
            case RefExpr r when r.Kind == NameKind.Hoisted:
                return new Operand(KernelNames.Variable(r), false);
            case RefExpr r:
                return new Operand(KernelNames.Variable(r), true);
            case UnaryExpr u:
                return Result(u.Op == UnaryOp.Neg ? "Negate" : "Not", Spanned(Lower(u.Operand)));
            case BinaryExpr b:
                var l = Lower(b.Left);
                var r2 = Lower(b.Right);
                string op = b.Op switch
                {
                    BinaryOp.Add => "Add",
                    BinaryOp.Sub => "Subtract",
                    BinaryOp.Mul => "Multiply",
                    BinaryOp.Div => "Divide",
                    BinaryOp.Lt => "LessThan",
                    BinaryOp.Le => "LessThanOrEqual",
                    BinaryOp.Gt => "GreaterThan",
                    BinaryOp.Ge => "GreaterThanOrEqual",
                    BinaryOp.Eq => "Equal",
                    BinaryOp.Ne => "NotEqual",
                    BinaryOp.And => "And",
                    _ => "Or",
                };
                bool arithmetic = b.Op is BinaryOp.Add or BinaryOp.Sub or BinaryOp.Mul or BinaryOp.Div;
                if (b.Op is BinaryOp.Eq or BinaryOp.Ne && b.Left.Type == ValueType.Bool)
                {
                    // Masks (all bits set = true, a NaN as a float) are equal when both are set or both clear; a float
                    // comparison would never find two true masks equal.
                    var x = Spanned(l);
                    var y = Spanned(r2);
                    var both = Result("And", x, y);
                    var neither = Result("And", Result("Not", x), Result("Not", y));
                    var equal = Result("Or", both, neither);
                    return b.Op == BinaryOp.Eq ? equal : Result("Not", equal);
                }

                return arithmetic ? Result(op, l, r2) : Result(op, Spanned(l), Spanned(r2));
            case CallExpr c:
                var args = c.Args.Select(Lower).ToArray();
                if (args.Length == 1)
                {
                    return Result(c.Func.ToString(), Spanned(args[0]));
                }

                return Result(c.Func.ToString(), args);
            case CondExpr c when c.Flag >= 0:
                int sel = _selects++;
                string name = _names.Get("sel" + sel.ToString(CultureInfo.InvariantCulture));
                Line($"ReadOnlySpan<float> {name};");
                Line($"if (({_flags} & {(1 << (c.Flag + 1)).ToString(CultureInfo.InvariantCulture)}) != 0) // {_plan.Flags[c.Flag].Text}");
                Line("{");
                _indent++;
                Line($"{name} = {Spanned(Lower(c.WhenTrue)).Text};");
                _indent--;
                Line("}");
                Line("else");
                Line("{");
                _indent++;
                Line($"{name} = {Spanned(Lower(c.WhenFalse)).Text};");
                _indent--;
                Line("}");
                return new Operand(name, true);
            case CondExpr c:
                var cond = Spanned(Lower(c.Cond));
                var whenTrue = Spanned(Lower(c.WhenTrue));
                var whenFalse = Spanned(Lower(c.WhenFalse));
                return Result("Select", cond, whenTrue, whenFalse);
            case CastExpr c:
                return Lower(c.Operand);
            default:
                return new Operand("0f", false);
        }
    }
}

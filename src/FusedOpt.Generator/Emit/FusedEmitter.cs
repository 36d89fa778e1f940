using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using FusedOpt.Generator.Analysis;
using FusedOpt.Generator.Model;
using ValueType = FusedOpt.Generator.Model.ValueType;

namespace FusedOpt.Generator.Emit;

/// <summary>
/// Writes the fused kernels: one width-generic element body instantiated as a Vector512 loop, a Vector256 loop and
/// a scalar loop (which also finishes the vector loops' tails), plus the dispatch chain that turns the switch bits
/// into generic arguments once per call.
/// </summary>
internal sealed class FusedEmitter
{
    private readonly RuleModel _model;
    private readonly KernelNames _names;
    private readonly KernelPlan _plan;
    private readonly System.Func<int, string> _flag;
    private int _maskCounter;

    /// <param name="model">The declaration.</param>
    /// <param name="names">Kernel names.</param>
    /// <param name="flag">How a switch is tested: by default the kernel's type parameter (<c>TAmsgrad.IsOn</c>).</param>
    public FusedEmitter(RuleModel model, KernelNames names, System.Func<int, string>? flag = null)
    {
        _model = model;
        _names = names;
        _plan = model.Plan;
        _flag = flag ?? (i => names.Flag(i) + ".IsOn");
    }

    private string TypeParams => string.Join(", ", _names.AllFlags);

    /// <summary>Hot loops are compiled fully optimised at once, not first at tier 0 (which would run for the first ~100 ms).</summary>
    public const string Optimized = "[MethodImpl(MethodImplOptions.AggressiveOptimization)]";

    private static string Constraints(IEnumerable<string> parameters) =>
        string.Join(" ", parameters.Select(static p => "where " + p + " : struct, IFlag"));

    public void EmitDispatch(CodeWriter w)
    {
        string f = _names.Get("f"), start = _names.Get("start"), end = _names.Get("end"), flags = _names.Get("flags"), isa = _names.Get("isa");
        var all = _names.AllFlags.ToList();
        w.Line("/// <summary>Runs the fused kernel of the given width and switch bits on elements [start, end).</summary>");
        using (w.Block($"void IOptimizerRule.RunFused(Isa {isa}, int {flags}, ref readonly StepFrame {f}, nint {start}, nint {end})"))
        {
            using (w.Block($"switch ({isa})"))
            {
                w.Line($"case Isa.Avx512: Dispatch0<Width512>({flags}, in {f}, {start}, {end}); break;");
                w.Line($"case Isa.Avx2: Dispatch0<Width256>({flags}, in {f}, {start}, {end}); break;");
                w.Line($"default: Dispatch0<WidthScalar>({flags}, in {f}, {start}, {end}); break;");
            }
        }

        // One level per switch bit: each turns a runtime bit into a generic argument, so that the JIT compiles one
        // specialisation per combination actually used and folds every `if (TFlag.IsOn)` in it.
        for (int level = 0; level < all.Count; level++)
        {
            var bound = all.Take(level).ToList();
            string typeParams = string.Join(", ", new[] { _names.Width }.Concat(bound));
            string next = level + 1 < all.Count ? "Dispatch" + (level + 1).ToString(CultureInfo.InvariantCulture) : "Run";
            string prefix = string.Join(", ", new[] { _names.Width }.Concat(bound));
            string nextArgsOn = prefix + ", On";
            string nextArgsOff = prefix + ", Off";
            string call = next == "Run" ? $"({flags}, in {f}, {start}, {end})" : $"({flags}, in {f}, {start}, {end})";
            w.Line();
            w.Line($"// bit {level}: {(level == 0 ? "gradient scale != 1 (unscaling or clipping)" : _plan.Flags[level - 1].Text)}");
            using (w.Block($"private static void Dispatch{level}<{typeParams}>(int {flags}, ref readonly StepFrame {f}, nint {start}, nint {end}) where {_names.Width} : struct {Constraints(bound)}".TrimEnd()))
            {
                w.Line($"if (({flags} & {1 << level}) != 0) {next}<{nextArgsOn}>{call};");
                w.Line($"else {next}<{nextArgsOff}>{call};");
            }
        }

        w.Line();
        using (w.Block($"private static void Run<{_names.Width}, {TypeParams}>(int {flags}, ref readonly StepFrame {f}, nint {start}, nint {end}) where {_names.Width} : struct {Constraints(all)}"))
        {
            if (_plan.Vectorizable)
            {
                w.Line($"if (typeof({_names.Width}) == typeof(Width512)) Fused512<{TypeParams}>(in {f}, {start}, {end});");
                w.Line($"else if (typeof({_names.Width}) == typeof(Width256)) Fused256<{TypeParams}>(in {f}, {start}, {end});");
                w.Line($"else Scalar<{TypeParams}>(in {f}, {start}, {end});");
            }
            else
            {
                w.Line($"// {_plan.ScalarReason} has no vector form: every width runs the scalar loop (FOPT010).");
                w.Line($"Scalar<{TypeParams}>(in {f}, {start}, {end});");
            }
        }
    }

    public void EmitVector(CodeWriter w, int width)
    {
        string W = "Vector" + width.ToString(CultureInfo.InvariantCulture);
        int lanes = width / 32;
        string f = _names.Get("f"), i = _names.Get("i"), end = _names.Get("end");
        w.Line($"/// <summary>The fused {W} loop: {lanes} elements per iteration, one load and one store per buffer; the tail goes to <see cref=\"Scalar\"/>.</summary>");
        w.Line(Optimized);
        using (w.Block($"private static void Fused{width}<{TypeParams}>(ref readonly StepFrame {f}, nint {i}, nint {end}) {Constraints(_names.AllFlags)}"))
        {
            EmitBufferRefs(w, f);
            w.Line($"var {_names.Get("gScale")} = {W}.Create({f}.GradScale);");
            EmitHoists(w, f, W);
            using (w.Block($"for (; {i} <= {end} - {lanes}; {i} += {lanes})"))
            {
                EmitLoads(w, i, W);
                _maskCounter = 0;
                EmitBlock(w, _plan.Body, W, null);
                EmitStores(w, i, W);
            }

            w.Line();
            w.Line($"Scalar<{TypeParams}>(in {f}, {i}, {end});");
        }
    }

    public void EmitScalar(CodeWriter w)
    {
        string f = _names.Get("f"), i = _names.Get("i"), end = _names.Get("end");
        w.Line("/// <summary>The scalar loop: the fallback path, and the tail of the vector loops. Same operations in the same order, so the same bits.</summary>");
        w.Line(Optimized);
        using (w.Block($"private static void Scalar<{TypeParams}>(ref readonly StepFrame {f}, nint {i}, nint {end}) {Constraints(_names.AllFlags)}"))
        {
            EmitBufferRefs(w, f);
            w.Line($"float {_names.Get("gScale")} = {f}.GradScale;");
            EmitHoists(w, f, null);
            using (w.Block($"for (; {i} < {end}; {i}++)"))
            {
                EmitLoads(w, i, null);
                _maskCounter = 0;
                EmitBlock(w, _plan.Body, null, null);
                EmitStores(w, i, null);
            }
        }
    }

    /// <summary>
    /// Writes the scalar element body for one element (loads, rule, stores) with custom load and store text: the GPU
    /// kernel's body. <paramref name="load"/> maps a buffer to the expression reading element i; <paramref name="store"/>
    /// to the statement writing it; <paramref name="scale"/> is the statement applying the gradient scale.
    /// </summary>
    public void EmitElementBody(CodeWriter w, System.Func<BufferUse, string> load, System.Func<BufferUse, string, string> store, string scale)
    {
        foreach (var b in _plan.Buffers)
        {
            string name = BufferVar(b);
            if (!b.IsLoaded)
            {
                if (b.IsStored)
                {
                    w.Line($"float {name} = 0f;");
                }

                continue;
            }

            string guard = Guard(b.Loads);
            w.Line(guard == "true" ? $"float {name} = {load(b)};" : $"float {name} = {guard} ? {load(b)} : 0f;");
            if (b.Kind == NameKind.Grad)
            {
                w.Line(scale);
            }
        }

        if (_plan.NeedsUnloadedGrad())
        {
            w.Line($"float {KernelNames.Id(_model.GradName)} = 0f; // assigned, never read from the buffer");
        }

        _maskCounter = 0;
        EmitBlock(w, _plan.Body, null, null);
        foreach (var b in _plan.Buffers.Where(static b => b.IsStored))
        {
            string guard = Guard(b.Stores);
            string statement = store(b, BufferVar(b));
            w.Line(guard == "true" ? statement : $"if ({guard}) {statement}");
        }
    }

    public string BufferVar(BufferUse b) => KernelNames.Id(RawBufferName(b));

    private string RawBufferName(BufferUse b) => b.Kind switch
    {
        NameKind.Param => _model.ParamName,
        NameKind.Grad => _model.GradName,
        _ => b.Name,
    };

    private void EmitBufferRefs(CodeWriter w, string f)
    {
        foreach (var b in _plan.Buffers.Where(static b => b.IsLoaded || b.IsStored))
        {
            string source = b.Kind switch
            {
                NameKind.Param => f + ".P",
                NameKind.Grad => f + ".G",
                _ => f + ".State(" + b.Index.ToString(CultureInfo.InvariantCulture) + ")",
            };
            w.Line($"ref float {_names.BufferRef(RawBufferName(b))} = ref {source};");
        }
    }

    private void EmitHoists(CodeWriter w, string f, string? W)
    {
        for (int k = 0; k < _plan.Hoists.Count; k++)
        {
            var h = _plan.Hoists[k];
            string slot = f + ".Scalar(" + k.ToString(CultureInfo.InvariantCulture) + ")";
            bool isBool = h.Value.Type == ValueType.Bool;
            string init = (W, isBool) switch
            {
                (null, false) => "float " + KernelNames.Id(h.Name) + " = " + slot + ";",
                (null, true) => "bool " + KernelNames.Id(h.Name) + " = StepMath.IsSet(" + slot + ");",
                _ => "var " + KernelNames.Id(h.Name) + " = " + W + ".Create(" + slot + ");",
            };
            w.Line(init + " // " + h.Text);
        }
    }

    private void EmitLoads(CodeWriter w, string i, string? W)
    {
        foreach (var b in _plan.Buffers)
        {
            string name = BufferVar(b);
            string r = _names.BufferRef(RawBufferName(b));
            string load = W is null ? $"Unsafe.Add(ref {r}, {i})" : $"{W}.LoadUnsafe(ref {r}, (nuint){i})";
            string zero = W is null ? "0f" : "default";
            string type = W is null ? "float" : "var";
            string guard = Guard(b.Loads);
            if (!b.IsLoaded)
            {
                if (b.IsStored)
                {
                    w.Line($"{(W is null ? "float" : W + "<float>")} {name} = {zero};");
                }

                continue;
            }

            w.Line(guard == "true" ? $"{type} {name} = {load};" : $"{type} {name} = {guard} ? {load} : {zero};");
            if (b.Kind == NameKind.Grad)
            {
                w.Line($"if ({_names.ScaleFlag}.IsOn) {name} *= {_names.Get("gScale")};");
            }
        }

        if (_plan.NeedsUnloadedGrad())
        {
            w.Line($"{(W is null ? "float" : W + "<float>")} {KernelNames.Id(_model.GradName)} = {(W is null ? "0f" : "default")}; // assigned, never read from the buffer");
        }
    }

    private void EmitStores(CodeWriter w, string i, string? W)
    {
        foreach (var b in _plan.Buffers.Where(static b => b.IsStored))
        {
            string name = BufferVar(b);
            string r = _names.BufferRef(RawBufferName(b));
            string store = W is null ? $"Unsafe.Add(ref {r}, {i}) = {name};" : $"{name}.StoreUnsafe(ref {r}, (nuint){i});";
            string guard = Guard(b.Stores);
            w.Line(guard == "true" ? store : $"if ({guard}) {store}");
        }
    }

    /// <summary>A disjunction of switch conjunctions as a C# condition over the type parameters.</summary>
    private string Guard(IEnumerable<GuardPath> paths)
    {
        var terms = new List<string>();
        foreach (var path in paths)
        {
            if (path.Literals.IsEmpty)
            {
                return "true";
            }

            terms.Add(string.Join(" && ", path.Literals.Select(l => (l.On ? "" : "!") + _flag(l.Flag))));
        }

        return terms.Count == 1 ? terms[0] : string.Join(" || ", terms.Select(static t => "(" + t + ")"));
    }

    /// <summary>A real if/else around element statements (switches everywhere; per-element conditions in scalar code).</summary>
    private void EmitIfElse(CodeWriter w, string header, IfStmt i, string? W, string? mask)
    {
        using (w.Block(header))
        {
            EmitBlock(w, i.Then, W, mask);
        }

        if (i.Else.Any(_plan.IsElement))
        {
            using (w.Block("else"))
            {
                EmitBlock(w, i.Else, W, mask);
            }
        }
    }

    /// <summary>Element statements; in vector code a per-element if becomes masks and selects.</summary>
    private void EmitBlock(CodeWriter w, IEnumerable<Stmt> block, string? W, string? mask)
    {
        foreach (var s in block.Where(_plan.IsElement))
        {
            switch (s)
            {
                case AssignStmt a:
                    string value = ExprEmitter.Element(a.Value, W, _names, _flag);
                    if (a.Declares)
                    {
                        string type = W is null ? (a.TargetType == ValueType.Bool ? "bool" : "float") : "var";
                        w.Line($"{type} {KernelNames.Id(a.Target)} = {value};");
                    }
                    else if (mask is null || W is null)
                    {
                        w.Line($"{KernelNames.Id(a.Target)} = {value};");
                    }
                    else
                    {
                        w.Line($"{KernelNames.Id(a.Target)} = {W}.ConditionalSelect({mask}, {value}, {KernelNames.Id(a.Target)});");
                    }

                    break;
                case IfStmt i when i.Flag >= 0:
                    EmitIfElse(w, $"if ({_flag(i.Flag)}) // {_plan.Flags[i.Flag].Text}", i, W, mask);
                    break;
                case IfStmt i when W is null:
                    EmitIfElse(w, $"if ({ExprEmitter.Element(i.Cond, W, _names, _flag)})", i, W, null);
                    break;
                case IfStmt i:
                    int k = _maskCounter++;
                    string cond = _names.Get("cond" + k.ToString(CultureInfo.InvariantCulture));
                    string thenMask = _names.Get("mask" + k.ToString(CultureInfo.InvariantCulture));
                    w.Line($"// if ({Printer.Print(i.Cond)}): both branches run, lanes are selected by mask");
                    w.Line($"var {cond} = {ExprEmitter.Element(i.Cond, W, _names, _flag)};");
                    w.Line($"var {thenMask} = {(mask is null ? cond : mask + " & " + cond)};");
                    w.Line("{");
                    w.Indent();
                    EmitBlock(w, i.Then, W, thenMask);
                    w.Outdent();
                    w.Line("}");
                    if (i.Else.Any(_plan.IsElement))
                    {
                        string elseMask = _names.Get("mask" + k.ToString(CultureInfo.InvariantCulture) + "Else");
                        w.Line($"var {elseMask} = {(mask is null ? "~" + cond : W + ".AndNot(" + mask + ", " + cond + ")")};");
                        w.Line("{");
                        w.Indent();
                        EmitBlock(w, i.Else, W, elseMask);
                        w.Outdent();
                        w.Line("}");
                    }

                    break;
            }
        }
    }
}

using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using FusedOpt.Generator.Analysis;
using FusedOpt.Generator.Emit.Targets;
using FusedOpt.Generator.Model;
using ValueType = FusedOpt.Generator.Model.ValueType;

namespace FusedOpt.Generator.Emit;

/// <summary>
/// Writes the fused kernels: one element body written through a <see cref="KernelTarget"/> (lanes, types, functions,
/// masks) and a <see cref="BufferAccess"/> per buffer (load and convert, convert and store), instantiated as a
/// Vector512 loop, a Vector256 loop and a scalar loop (which also finishes the vector loops' tails) — and by
/// <see cref="GpuEmitter"/> as the ILGPU kernel's body — plus the dispatch chain that turns the switch bits into
/// generic arguments once per call.
/// </summary>
internal sealed class FusedEmitter
{
    private readonly RuleModel _model;
    private readonly KernelNames _names;
    private readonly KernelPlan _plan;
    private readonly System.Func<int, string> _flag;
    private readonly System.Func<BufferUse, BufferAccess> _access;
    private readonly System.Func<int, bool>? _fixedSwitches;
    private readonly bool _statesParameter;
    private int _maskCounter;

    /// <param name="model">The declaration.</param>
    /// <param name="names">Kernel names.</param>
    /// <param name="flag">How a switch is tested: by default the kernel's type parameter (<c>TAmsgrad.IsOn</c>).</param>
    /// <param name="access">How each buffer is stored and reached: float32 for every buffer by default.</param>
    /// <param name="fixedSwitches">
    /// For a kernel specialised for one switch combination (an HLSL shader): each switch's value, so that buffer guards
    /// are decided here — a buffer not loaded under the combination is zero, one not stored is not written, and
    /// neither is referenced. Null (the CPU loops, the ILGPU kernel): guards are written as conditions.
    /// </param>
    /// <param name="statesParameter">
    /// The CPU loops: the kernels take the state-access type argument (<see cref="KernelNames.States"/>) before the
    /// switches, and the dispatch turns <c>StateAccessFlags.Bf16</c> into it.
    /// </param>
    public FusedEmitter(RuleModel model, KernelNames names, System.Func<int, string>? flag = null, System.Func<BufferUse, BufferAccess>? access = null,
        System.Func<int, bool>? fixedSwitches = null, bool statesParameter = false)
    {
        _statesParameter = statesParameter;
        _fixedSwitches = fixedSwitches;
        _model = model;
        _names = names;
        _plan = model.Plan;
        _flag = flag ?? (i => names.Flag(i) + ".IsOn");
        _access = access ?? (static _ => Fp32Access.Instance);
    }

    /// <summary>The kernels' type parameters: the state access (CPU loops), then the switches in bit order.</summary>
    private string TypeParams => string.Join(", ", StatesPrefix.Concat(_names.AllFlags));

    private IEnumerable<string> StatesPrefix => _statesParameter ? new[] { _names.States } : System.Array.Empty<string>();

    /// <summary>The constraints of <see cref="TypeParams"/>.</summary>
    private string KernelConstraints =>
        ((_statesParameter ? "where " + _names.States + " : struct, IStateAccess " : "") + Constraints(_names.AllFlags)).TrimEnd();

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
            string first = _statesParameter ? "DispatchStates" : "Dispatch0";
            using (w.Block($"switch ({isa})"))
            {
                w.Line($"case Isa.Avx512: {first}<Width512>({flags}, in {f}, {start}, {end}); break;");
                w.Line($"case Isa.Avx2: {first}<Width256>({flags}, in {f}, {start}, {end}); break;");
                w.Line($"default: {first}<WidthScalar>({flags}, in {f}, {start}, {end}); break;");
            }
        }

        if (_statesParameter)
        {
            w.Line();
            w.Line("// state storage: float32, or bfloat16 words (StateAccessFlags.Bf16, set by the runtime per optimizer instance)");
            using (w.Block($"private static void DispatchStates<{_names.Width}>(int {flags}, ref readonly StepFrame {f}, nint {start}, nint {end}) where {_names.Width} : struct"))
            {
                w.Line($"if (({flags} & StateAccessFlags.Bf16) != 0) Dispatch0<{_names.Width}, Bf16States>({flags}, in {f}, {start}, {end});");
                w.Line($"else Dispatch0<{_names.Width}, Fp32States>({flags}, in {f}, {start}, {end});");
            }
        }

        // One level per switch bit: each turns a runtime bit into a generic argument, so that the JIT compiles one
        // specialisation per combination actually used and folds every `if (TFlag.IsOn)` in it.
        string statesConstraint = _statesParameter ? " where " + _names.States + " : struct, IStateAccess" : "";
        for (int level = 0; level < all.Count; level++)
        {
            var bound = all.Take(level).ToList();
            string typeParams = string.Join(", ", new[] { _names.Width }.Concat(StatesPrefix).Concat(bound));
            string next = level + 1 < all.Count ? "Dispatch" + (level + 1).ToString(CultureInfo.InvariantCulture) : "Run";
            string prefix = string.Join(", ", new[] { _names.Width }.Concat(StatesPrefix).Concat(bound));
            string nextArgsOn = prefix + ", On";
            string nextArgsOff = prefix + ", Off";
            string call = next == "Run" ? $"({flags}, in {f}, {start}, {end})" : $"({flags}, in {f}, {start}, {end})";
            w.Line();
            w.Line($"// bit {level}: {(level == 0 ? "gradient scale != 1 (unscaling or clipping)" : _plan.Flags[level - 1].Text)}");
            using (w.Block($"private static void Dispatch{level}<{typeParams}>(int {flags}, ref readonly StepFrame {f}, nint {start}, nint {end}) where {_names.Width} : struct{statesConstraint} {Constraints(bound)}".TrimEnd()))
            {
                w.Line($"if (({flags} & {1 << level}) != 0) {next}<{nextArgsOn}>{call};");
                w.Line($"else {next}<{nextArgsOff}>{call};");
            }
        }

        w.Line();
        using (w.Block($"private static void Run<{_names.Width}, {TypeParams}>(int {flags}, ref readonly StepFrame {f}, nint {start}, nint {end}) where {_names.Width} : struct {KernelConstraints}"))
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

    public void EmitVector(CodeWriter w, VectorTarget target)
    {
        string f = _names.Get("f"), i = _names.Get("i"), end = _names.Get("end");
        w.Line($"/// <summary>The fused {target.Name} loop: {target.Lanes} elements per iteration, one load and one store per buffer; the tail goes to <see cref=\"Scalar\"/>.</summary>");
        w.Line(Optimized);
        using (w.Block($"private static void Fused{target.Bits}<{TypeParams}>(ref readonly StepFrame {f}, nint {i}, nint {end}) {KernelConstraints}"))
        {
            EmitLoop(w, target, f, i, $"for (; {i} <= {end} - {target.Lanes}; {i} += {target.Lanes})");
            w.Line();
            w.Line($"Scalar<{TypeParams}>(in {f}, {i}, {end});");
        }
    }

    public void EmitScalar(CodeWriter w)
    {
        string f = _names.Get("f"), i = _names.Get("i"), end = _names.Get("end");
        w.Line("/// <summary>The scalar loop: the fallback path, and the tail of the vector loops. Same operations in the same order, so the same bits.</summary>");
        w.Line(Optimized);
        using (w.Block($"private static void Scalar<{TypeParams}>(ref readonly StepFrame {f}, nint {i}, nint {end}) {KernelConstraints}"))
        {
            EmitLoop(w, ScalarTarget.Instance, f, i, $"for (; {i} < {end}; {i}++)");
        }
    }

    /// <summary>A CPU loop on <paramref name="target"/>: buffer references, broadcast scalars, then loads, rule and stores per iteration.</summary>
    private void EmitLoop(CodeWriter w, KernelTarget target, string f, string i, string header)
    {
        foreach (var b in _plan.Buffers.Where(static b => b.IsLoaded || b.IsStored))
        {
            w.Line(_access(b).DeclareReference(CpuReference(b), b, f));
        }

        string gScale = _names.Get("gScale");
        w.Line($"{target.DeclaredType(ValueType.Float)} {gScale} = {target.Broadcast(f + ".GradScale", isBool: false)};");
        EmitHoists(w, target, k => f + ".Scalar(" + k.ToString(CultureInfo.InvariantCulture) + ")", boolNote: "");
        using (w.Block(header))
        {
            EmitElementBody(w, target, CpuReference, i, $"if ({_names.ScaleFlag}.IsOn) {{0}} *= {gScale};");
        }
    }

    /// <summary>
    /// Writes the step-invariant scalars as element values of <paramref name="target"/>, each read from the slot
    /// <paramref name="slot"/> gives for its index; <paramref name="boolNote"/> is appended to the comment of a bool.
    /// </summary>
    public void EmitHoists(CodeWriter w, KernelTarget target, System.Func<int, string> slot, string boolNote)
    {
        for (int k = 0; k < _plan.Hoists.Count; k++)
        {
            var h = _plan.Hoists[k];
            bool isBool = h.Value.Type == ValueType.Bool;
            string type = target.DeclaredType(isBool ? ValueType.Bool : ValueType.Float);
            w.Line($"{type} {target.Escape(h.Name)} = {target.Broadcast(slot(k), isBool)}; // {h.Text}{(isBool ? boolNote : "")}");
        }
    }

    /// <summary>
    /// Writes one iteration of the element body on <paramref name="target"/>: every buffer loaded (through its
    /// <see cref="BufferAccess"/>, from <paramref name="reference"/> at <paramref name="index"/>) under its guard, the
    /// gradient scaled (<paramref name="scale"/>, a format with the gradient's name as {0}), the rule, and the stores.
    /// </summary>
    public void EmitElementBody(CodeWriter w, KernelTarget target, System.Func<BufferUse, string> reference, string index, string scale)
    {
        foreach (var b in _plan.Buffers)
        {
            string name = target.Escape(RawBufferName(b));
            if (!b.IsLoaded)
            {
                if (b.IsStored)
                {
                    w.Line($"{target.ValueTypeName} {name} = {target.Zero};");
                }

                continue;
            }

            string load = _access(b).Load(target, reference(b), index);
            string type = target.DeclaredType(ValueType.Float);
            string guard = Guard(b.Loads);
            w.Line(guard == "true" ? $"{type} {name} = {load};"
                : guard == "false" ? $"{type} {name} = {target.Zero}; // not loaded under this combination"
                : $"{type} {name} = {guard} ? {load} : {target.Zero};");
            if (b.Kind == NameKind.Grad)
            {
                w.Line(string.Format(CultureInfo.InvariantCulture, scale, name));
            }
        }

        if (_plan.NeedsUnloadedGrad())
        {
            w.Line($"{target.ValueTypeName} {target.Escape(_model.GradName)} = {target.Zero}; // assigned, never read from the buffer");
        }

        _maskCounter = 0;
        EmitBlock(w, _plan.Body, target, null);
        foreach (var b in _plan.Buffers.Where(static b => b.IsStored))
        {
            string statement = _access(b).Store(target, reference(b), index, target.Escape(RawBufferName(b)));
            string guard = Guard(b.Stores);
            if (guard != "false")
            {
                w.Line(guard == "true" ? statement : $"if ({guard}) {statement}");
            }
        }
    }

    private string RawBufferName(BufferUse b) => b.Kind switch
    {
        NameKind.Param => _model.ParamName,
        NameKind.Grad => _model.GradName,
        _ => b.Name,
    };

    /// <summary>The CPU loops' <c>ref float</c> variable holding a buffer's first element.</summary>
    private string CpuReference(BufferUse b) => _names.BufferRef(RawBufferName(b));

    /// <summary>
    /// The comment for a line whose expression has strength-reduced divisions: each division as the rule wrote it, so
    /// the reader can see where <c>x * invBiasCorrection2</c> came from. Empty when there is none.
    /// </summary>
    private static string ReductionNote(Expr e)
    {
        var divisions = new List<string>();
        Collect(e);
        return divisions.Count == 0 ? "" : " // strength-reduced: " + string.Join("; ", divisions.Distinct());

        void Collect(Expr x)
        {
            if (x is BinaryExpr { ReducedFrom: { } source })
            {
                divisions.Add(source);
            }

            foreach (var child in x.Children())
            {
                Collect(child);
            }
        }
    }

    /// <summary>A disjunction of switch conjunctions as a C# condition over the type parameters.</summary>
    private string Guard(IEnumerable<GuardPath> paths)
    {
        if (_fixedSwitches is { } on)
        {
            // One combination: the guard is decided now ("false" only here; the CPU loops never see it).
            return paths.Any(path => path.Literals.All(l => on(l.Flag) == l.On)) ? "true" : "false";
        }

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
    private void EmitIfElse(CodeWriter w, string header, IfStmt i, KernelTarget target, string? mask)
    {
        using (w.Block(header))
        {
            EmitBlock(w, i.Then, target, mask);
        }

        if (i.Else.Any(_plan.IsElement))
        {
            using (w.Block("else"))
            {
                EmitBlock(w, i.Else, target, mask);
            }
        }
    }

    /// <summary>Element statements; in vector code a per-element if becomes masks and selects.</summary>
    private void EmitBlock(CodeWriter w, IEnumerable<Stmt> block, KernelTarget target, string? mask)
    {
        foreach (var s in block.Where(_plan.IsElement))
        {
            switch (s)
            {
                case AssignStmt a:
                    string value = ExprEmitter.Element(a.Value, target, _names, _flag);
                    string note = ReductionNote(a.Value), variable = target.Escape(a.Target);
                    if (a.Declares)
                    {
                        string type = target.DeclaredType(a.TargetType == ValueType.Bool ? ValueType.Bool : ValueType.Float);
                        w.Line($"{type} {variable} = {value};{note}");
                    }
                    else if (mask is null || !target.IsVector)
                    {
                        w.Line($"{variable} = {value};{note}");
                    }
                    else
                    {
                        w.Line($"{variable} = {target.Select(mask, value, variable)};{note}");
                    }

                    break;
                case IfStmt i when i.Flag >= 0:
                    EmitIfElse(w, $"if ({_flag(i.Flag)}) // {_plan.Flags[i.Flag].Text}", i, target, mask);
                    break;
                case IfStmt i when !target.IsVector:
                    EmitIfElse(w, $"if ({ExprEmitter.Element(i.Cond, target, _names, _flag)}){ReductionNote(i.Cond)}", i, target, null);
                    break;
                case IfStmt i:
                    int k = _maskCounter++;
                    string cond = _names.Get("cond" + k.ToString(CultureInfo.InvariantCulture));
                    string thenMask = _names.Get("mask" + k.ToString(CultureInfo.InvariantCulture));
                    w.Line($"// if ({Printer.Print(i.Cond)}): both branches run, lanes are selected by mask");
                    w.Line($"var {cond} = {ExprEmitter.Element(i.Cond, target, _names, _flag)};{ReductionNote(i.Cond)}");
                    w.Line($"var {thenMask} = {(mask is null ? cond : mask + " & " + cond)};");
                    w.Line("{");
                    w.Indent();
                    EmitBlock(w, i.Then, target, thenMask);
                    w.Outdent();
                    w.Line("}");
                    if (i.Else.Any(_plan.IsElement))
                    {
                        string elseMask = _names.Get("mask" + k.ToString(CultureInfo.InvariantCulture) + "Else");
                        w.Line($"var {elseMask} = {(mask is null ? target.NotOperator + cond : target.AndNot(mask, cond))};");
                        w.Line("{");
                        w.Indent();
                        EmitBlock(w, i.Else, target, elseMask);
                        w.Outdent();
                        w.Line("}");
                    }

                    break;
            }
        }
    }
}

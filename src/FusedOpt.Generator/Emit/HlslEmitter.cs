using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using FusedOpt.Generator.Emit.Targets;
using FusedOpt.Generator.Model;
using ValueType = FusedOpt.Generator.Model.ValueType;

namespace FusedOpt.Generator.Emit;

/// <summary>
/// Writes the rule as HLSL compute shaders, one full text per switch combination (the flags <c>Prepare</c> returns,
/// bit 0 the gradient scale), each a constant in the generated file and reachable through
/// <c>OptimizerDescriptor.Hlsl(flags)</c>. The layout follows <c>FusedOpt.HlslShader</c>'s contract: a constant
/// buffer at <c>b0</c> (<c>uint n</c>, <c>float gradScale</c>, then the hoisted scalars in slot order, 4 bytes apart),
/// <c>RWStructuredBuffer&lt;float&gt;</c>s at <c>u0</c>… (p, g, then the states the combination touches, in declaration
/// order), <c>[numthreads(256, 1, 1)]</c> and a bounds check. The element body is <see cref="FusedEmitter"/>'s, through
/// <see cref="HlslTarget"/>, with the switches fixed: the same operations in the same order as the CPU loops.
/// </summary>
internal sealed class HlslEmitter
{
    /// <summary>Threads per group; <c>HlslShader.ThreadsPerGroup</c>.</summary>
    public const int ThreadsPerGroup = 256;

    private readonly RuleModel _model;

    public HlslEmitter(RuleModel model) => _model = model;

    /// <summary>Switch combinations the rule can produce: bit 0 (gradient scale) and one bit per switch.</summary>
    public int Combinations => 1 << (_model.Plan.Flags.Count + 1);

    /// <summary>Writes the shader constants and <c>FusedOptHlsl(int flags)</c> into the generated partial record.</summary>
    public void Emit(CodeWriter w)
    {
        w.Line("/// <summary>");
        w.Line("/// The rule as HLSL compute shaders, one per switch combination (see <see cref=\"HlslShader\"/> for the binding");
        w.Line("/// contract); null for flags outside the rule's combinations.");
        w.Line("/// </summary>");
        if (!_model.Supports(Backends.Hlsl))
        {
            w.Line($"// No HLSL shaders: the rule has {_model.Plan.Flags.Count} switches, {Combinations} combinations; shaders are written for at most {Backends.HlslMaxSwitches} switches (FOPT024).");
            w.Line("private static HlslShader? FusedOptHlsl(int flags) => null;");
            return;
        }

        string constants = "[" + string.Join(", ", ConstantNames().Select(Str)) + "]";
        using (w.Block("private static HlslShader? FusedOptHlsl(int flags) => flags switch", "};"))
        {
            for (int flags = 0; flags < Combinations; flags++)
            {
                string buffers = "[" + string.Join(", ", BufferNames(flags).Select(Str)) + "]";
                w.Line($"{Int(flags)} => new(FusedOptHlsl{Int(flags)}, {Int(flags)}, {buffers}, {constants}),");
            }

            w.Line("_ => null,");
        }

        for (int flags = 0; flags < Combinations; flags++)
        {
            w.Line();
            w.Line($"private const string FusedOptHlsl{Int(flags)} =");
            w.Indent();
            var lines = Shader(flags).Split('\n');
            int last = lines.Length - 1;
            while (last > 0 && lines[last].Length == 0)
            {
                last--;
            }

            for (int k = 0; k <= last; k++)
            {
                w.Line(Str(lines[k] + "\n") + (k < last ? " +" : ";"));
            }

            w.Outdent();
        }
    }

    /// <summary>The constant-buffer members after <c>uint n</c>: <c>gradScale</c>, then the hoisted scalars by their names, in slot order.</summary>
    public IReadOnlyList<string> ConstantNames()
    {
        var names = new List<string> { "gradScale" };
        names.AddRange(_model.Plan.Hoists.Select(static h => h.Name));
        return names;
    }

    /// <summary>Buffer names in binding order for <paramref name="flags"/>: p, g, then the states the combination loads or stores.</summary>
    public IReadOnlyList<string> BufferNames(int flags)
    {
        var names = new List<string> { "p", "g" };
        names.AddRange(TouchedStates(flags).Select(static b => b.Name));
        return names;
    }

    private IEnumerable<BufferUse> TouchedStates(int flags) => _model.Plan.Buffers
        .Where(static b => b.Kind == NameKind.State)
        .Where(b => Holds(b.Loads, flags) || Holds(b.Stores, flags))
        .OrderBy(static b => b.Index);

    private static bool Holds(IEnumerable<GuardPath> paths, int flags) =>
        paths.Any(path => path.Literals.All(l => IsOn(flags, l.Flag) == l.On));

    /// <summary>Whether switch <paramref name="flag"/> (0-based, bit <c>flag + 1</c>) is on in <paramref name="flags"/>.</summary>
    private static bool IsOn(int flags, int flag) => ((flags >> (flag + 1)) & 1) != 0;

    /// <summary>The HLSL text for one combination.</summary>
    public string Shader(int flags)
    {
        var m = _model;
        var plan = m.Plan;
        var target = HlslTarget.Instance;
        var names = new KernelNames(m);
        string E(string name) => target.Escape(name);
        string index = names.Get("i"), id = names.Get("id"), cbuffer = names.Get("FusedOptConstants");
        var states = TouchedStates(flags).ToList();
        string P = names.Get(E(m.ParamName) + "Buffer"), G = names.Get(E(m.GradName) + "Buffer");
        var stateBuffers = states.ToDictionary(static b => b.Index, b => names.Get(E(b.Name) + "Buffer"));
        string Reference(BufferUse b) => b.Kind switch
        {
            NameKind.Param => P,
            NameKind.Grad => G,
            // A state this combination does not touch has no buffer; its load is built but never written (its guard is false).
            _ => stateBuffers.TryGetValue(b.Index, out var buffer) ? buffer : "unbound",
        };

        // The element body first: whether it calls sign(x) decides whether the helper is declared.
        var body = new CodeWriter();
        var fused = new FusedEmitter(m, names, flag => names.Flag(flag), fixedSwitches: flag => IsOn(flags, flag));
        bool scaled = (flags & 1) != 0;
        fused.EmitElementBody(body, target, Reference, index,
            scaled ? "{0} *= gradScale;" : "// bit 0 off: {0} is used as loaded (gradient scale 1)");

        var w = new CodeWriter();
        string bits = System.Convert.ToString(flags, 2).PadLeft(plan.Flags.Count + 1, '0');
        w.Line($"// FusedOpt.Generator — HLSL compute shader for optimizer \"{m.OptimizerName}\" (record {m.QualifiedTypeName}, {m.FileName}).");
        w.Line($"// Switch combination {Int(flags)} (0b{bits}) of {Int(Combinations)}:");
        w.Line($"//   bit 0  {names.ScaleFlag}: {OnOff(scaled)} — gradient scale != 1 (loss-scale unscaling or clipping)");
        for (int k = 0; k < plan.Flags.Count; k++)
        {
            w.Line($"//   bit {Int(k + 1)}  {names.Flag(k)}: {OnOff(IsOn(flags, k))} — {plan.Flags[k].Text}");
        }

        w.Line("// Contract (FusedOpt.HlslShader): constant buffer b0 = uint n, float gradScale, then the step-invariant scalars,");
        w.Line($"// 4 bytes apart; buffers u0… = {string.Join(", ", BufferNames(flags))}; one element per thread, {Int(ThreadsPerGroup)} threads per group.");
        w.Line("// Same operations in the same order as the CPU loops; element values are precise, so none is contracted into an FMA.");
        w.Line();
        var boolBits = new Dictionary<int, string>();
        using (w.Block($"cbuffer {cbuffer} : register(b0)", "};"))
        {
            w.Line("uint n;          // elements in this dispatch");
            w.Line("float gradScale; // gradient multiplier (1 when bit 0 is clear)");
            for (int k = 0; k < plan.Hoists.Count; k++)
            {
                var h = plan.Hoists[k];
                if (h.Value.Type == ValueType.Bool)
                {
                    boolBits[k] = names.Get(E(h.Name) + "Bits");
                    w.Line($"float {boolBits[k]}; // {h.Text} (mask bits: all set = true)");
                }
                else
                {
                    w.Line($"float {E(h.Name)}; // {h.Text}");
                }
            }
        }

        w.Line();
        w.Line($"RWStructuredBuffer<float> {P} : register(u0); // {m.ParamName}: parameters");
        w.Line($"RWStructuredBuffer<float> {G} : register(u1); // {m.GradName}: gradients");
        for (int k = 0; k < states.Count; k++)
        {
            w.Line($"RWStructuredBuffer<float> {stateBuffers[states[k].Index]} : register(u{Int(k + 2)}); // state {states[k].Name}");
        }

        w.Line();
        for (int k = 0; k < plan.Flags.Count; k++)
        {
            w.Line($"static const bool {names.Flag(k)} = {(IsOn(flags, k) ? "true" : "false")}; // {plan.Flags[k].Text}");
        }

        if (plan.Flags.Count > 0)
        {
            w.Line();
        }

        string bodyText = body.ToString();
        if (bodyText.Contains(HlslTarget.SignFunction + "("))
        {
            w.Line("// sign(x): -1, 0 or +1, and NaN for NaN (as SimdMath.Sign on the CPU; HLSL's sign returns an int).");
            using (w.Block($"float {HlslTarget.SignFunction}(float x)"))
            {
                w.Line("return x > 0.0f ? 1.0f : (x < 0.0f ? -1.0f : (x == 0.0f ? 0.0f : x));");
            }

            w.Line();
        }

        w.Line($"[numthreads({Int(ThreadsPerGroup)}, 1, 1)]");
        using (w.Block($"void main(uint3 {id} : SV_DispatchThreadID)"))
        {
            w.Line($"uint {index} = {id}.x;");
            w.Line($"if ({index} >= n) return;");
            foreach (var pair in boolBits)
            {
                var h = plan.Hoists[pair.Key];
                w.Line($"bool {E(h.Name)} = {target.Broadcast(pair.Value, isBool: true)}; // {h.Text}");
            }

            w.Lines(bodyText.TrimEnd('\n', '\r'));
        }

        return w.ToString();
    }

    private static string OnOff(bool on) => on ? "on" : "off";

    private static string Int(int value) => value.ToString(CultureInfo.InvariantCulture);

    private static string Str(string s) => Microsoft.CodeAnalysis.CSharp.SymbolDisplay.FormatLiteral(s, quote: true);
}

using System.Globalization;
using System.Linq;
using FusedOpt.Generator.Emit.Targets;
using FusedOpt.Generator.Model;
using ValueType = FusedOpt.Generator.Model.ValueType;

namespace FusedOpt.Generator.Emit;

/// <summary>
/// Writes the rule as an ILGPU kernel — the GPU path from the same IR. One thread per element; the step-invariant
/// scalars and the switch bits are kernel arguments (<c>GpuArgs</c>), so a switch is a uniform branch per launch.
/// Every rule's kernel has the same signature (p, g, eight state views, the arguments), which lets the runtime load
/// and launch any of them without knowing the rule.
/// </summary>
internal sealed class GpuEmitter
{
    private readonly RuleModel _model;
    private readonly KernelNames _names;

    public GpuEmitter(RuleModel model, KernelNames names)
    {
        _model = model;
        _names = names;
    }

    public void Emit(CodeWriter w)
    {
        var plan = _model.Plan;
        if (!_model.Supports(Backends.Ilgpu))
        {
            w.Line($"// No GPU kernel: the rule has {plan.Hoists.Count} step scalars and GpuArgs carries {Backends.Ilgpu.MaxScalars} (FOPT021).");
            w.Line("GpuKernelMethod? IOptimizerRule.GpuKernel => null;");
            return;
        }

        string index = _names.Get("index"), args = _names.Get("args"), i = _names.Get("i");
        string P = _names.Get(_model.ParamName + "Buffer"), G = _names.Get(_model.GradName + "Buffer");
        var states = Enumerable.Range(0, 8).Select(k => _names.Get("state" + k.ToString(CultureInfo.InvariantCulture))).ToArray();
        string View(BufferUse b) => b.Kind switch
        {
            NameKind.Param => P,
            NameKind.Grad => G,
            _ => states[b.Index],
        };

        w.Line("/// <summary>");
        w.Line("/// The rule as an ILGPU kernel (CUDA, OpenCL or ILGPU's CPU accelerator): one thread per element from");
        w.Line("/// <c>args.Offset</c>; step scalars and switch bits are arguments, so each switch is one uniform branch per launch.");
        w.Line("/// </summary>");
        using (w.Block($"public static void GpuKernel(ILGPU.Index1D {index}, ILGPU.ArrayView<float> {P}, ILGPU.ArrayView<float> {G}, "
                       + string.Join(", ", states.Select(static s => "ILGPU.ArrayView<float> " + s)) + $", FusedOpt.Gpu.GpuArgs {args})"))
        {
            w.Line($"long {i} = {index} + {args}.Offset;");
            var body = new FusedEmitter(_model, _names, flag => $"(({args}.Flags & {(1 << (flag + 1)).ToString(CultureInfo.InvariantCulture)}) != 0)");
            body.EmitHoists(w, IlgpuTarget.Instance, k => $"{args}.S{k.ToString(CultureInfo.InvariantCulture)}", boolNote: " (mask bits)");
            body.EmitElementBody(w, IlgpuTarget.Instance, View, i, $"if (({args}.Flags & 1) != 0) {{0}} *= {args}.GradScale;");
        }

        w.Line();
        w.Line("GpuKernelMethod? IOptimizerRule.GpuKernel => GpuKernel;");
    }
}

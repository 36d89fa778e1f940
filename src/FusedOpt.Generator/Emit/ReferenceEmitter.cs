using System.Globalization;
using System.Linq;
using FusedOpt.Generator.Model;

namespace FusedOpt.Generator.Emit;

/// <summary>
/// Writes <c>RunReference</c>: the independent oracle. It calls the record's own <c>Update</c> element by element, as the
/// user wrote it and as the C# compiler compiled it — no IR, no hoisting, no float64 prologue — so a parse or analysis
/// bug that every IR-generated path shares shows up as a disagreement with it.
/// </summary>
/// <remarks>
/// Per-step (<c>ref double</c>) states: every element's call starts from a copy of the step-start value (what the
/// kernels' prologue starts from), and the value after one extra call on a scratch element (p, g and the states all 0)
/// becomes the new per-step state. The generator already refuses a per-step state that depends on per-element data
/// (FOPT009), so that scratch call computes exactly the value every element's call computes. States the rule does not
/// need with these hyperparameters (not allocated) are passed as a scratch float.
/// </remarks>
internal sealed class ReferenceEmitter
{
    private readonly RuleModel _model;
    private readonly KernelNames _names;

    public ReferenceEmitter(RuleModel model, KernelNames names)
    {
        _model = model;
        _names = names;
    }

    public void Emit(CodeWriter w)
    {
        string flags = _names.Get("flags"), step = _names.Get("step"), stepState = _names.Get("stepState"), f = _names.Get("f");
        string start = _names.Get("start"), end = _names.Get("end"), i = _names.Get("i"), t = _names.Get("tInt");
        string scratch = _names.Get("scratch"), grad = _names.Get("gradient");
        string Q(int k) => _names.Get("stepStart" + k.ToString(CultureInfo.InvariantCulture));
        string E(int k) => _names.Get("elementStep" + k.ToString(CultureInfo.InvariantCulture));
        string A(int k) => _names.Get("afterStep" + k.ToString(CultureInfo.InvariantCulture));
        string S(int k) => _names.Get("scratch" + k.ToString(CultureInfo.InvariantCulture));
        string K(int k) => k.ToString(CultureInfo.InvariantCulture);

        w.Line("/// <summary>");
        w.Line("/// The reference path (the tests' oracle): this record's own <c>Update</c>, called element by element. Each element");
        w.Line("/// starts from the step-start per-step states; a call on a scratch element gives their new values.");
        w.Line("/// </summary>");
        using (w.Block($"void IOptimizerRule.RunReference(int {flags}, long {step}, Span<double> {stepState}, ref readonly StepFrame {f}, nint {start}, nint {end})"))
        {
            w.Line($"int {t} = (int){step};");
            w.Line($"float {scratch} = 0f;");
            for (int k = 0; k < _model.StepStates.Count; k++)
            {
                w.Line($"double {Q(k)} = {stepState}[{K(k)}];");
            }

            if (_model.StepStates.Count > 0)
            {
                // The per-step states after this step: one call on a scratch element.
                int scratchCount = 2 + _model.States.Count;
                for (int k = 0; k < scratchCount; k++)
                {
                    w.Line($"float {S(k)} = 0f;");
                }

                for (int k = 0; k < _model.StepStates.Count; k++)
                {
                    w.Line($"double {A(k)} = {Q(k)};");
                }

                var scratchArgs = _model.Arguments.Select(a => a.Kind switch
                {
                    NameKind.Param => "ref " + S(0),
                    NameKind.Grad => S(1),
                    NameKind.State => "ref " + S(2 + a.Index),
                    NameKind.StepState => "ref " + A(a.Index),
                    _ => t,
                });
                w.Line($"Update({string.Join(", ", scratchArgs)});");
                for (int k = 0; k < _model.StepStates.Count; k++)
                {
                    w.Line($"{stepState}[{K(k)}] = {A(k)};");
                }
            }

            using (w.Block($"for (nint {i} = {start}; {i} < {end}; {i}++)"))
            {
                w.Line($"float {grad} = Unsafe.Add(ref {f}.G, {i});");
                w.Line($"if (({flags} & 1) != 0) {grad} *= {f}.GradScale;");
                for (int k = 0; k < _model.StepStates.Count; k++)
                {
                    w.Line($"double {E(k)} = {Q(k)};");
                }

                var args = _model.Arguments.Select(a => a.Kind switch
                {
                    NameKind.Param => $"ref Unsafe.Add(ref {f}.P, {i})",
                    NameKind.Grad => grad,
                    NameKind.State => $"ref {f}.HasState({K(a.Index)}) ? ref Unsafe.Add(ref {f}.State({K(a.Index)}), {i}) : ref {scratch}",
                    NameKind.StepState => "ref " + E(a.Index),
                    _ => t,
                });
                w.Line($"Update({string.Join(", ", args)});");
            }
        }
    }
}

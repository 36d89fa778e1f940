using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using FusedOpt.Generator.Model;
using ValueType = FusedOpt.Generator.Model.ValueType;

namespace FusedOpt.Generator.Emit;

/// <summary>
/// Writes <c>Prepare</c>: the rule's step-invariant statements in their original order, in float64, with each
/// hoisted scalar computed where its element statement stands (so a per-step state is read before or after its
/// update exactly as the rule says), and the switch bits set where their conditions stand.
/// </summary>
internal sealed class PrologueEmitter
{
    private readonly RuleModel _model;
    private readonly KernelNames _names;
    private readonly KernelPlan _plan;
    private readonly string _scalars;
    private readonly string _flags;
    private readonly HashSet<int> _flagsSetUnconditionally = [];
    private readonly HashSet<int> _slotsSetUnconditionally = [];
    private int _depth;

    public PrologueEmitter(RuleModel model, KernelNames names)
    {
        _model = model;
        _names = names;
        _plan = model.Plan;
        _scalars = names.Get("scalars");
        _flags = names.Get("flags");
    }

    public void Emit(CodeWriter w)
    {
        string step = _names.Get("step"), stepState = _names.Get("stepState");
        w.Line("/// <summary>The once-per-step prologue in float64: per-step states, hoisted scalars and switch bits.</summary>");
        using (w.Block($"int IOptimizerRule.Prepare(long {step}, Span<double> {stepState}, Span<float> {_scalars})"))
        {
            if (_model.StepName is not null)
            {
                w.Line($"int {KernelNames.Id(_model.StepName)} = (int){step};");
            }

            for (int q = 0; q < _model.StepStates.Count; q++)
            {
                w.Line($"double {KernelNames.Id(_model.StepStates[q].Name)} = {stepState}[{q.ToString(CultureInfo.InvariantCulture)}];");
            }

            w.Line($"int {_flags} = 0;");
            EmitBlock(w, _plan.Body);
            for (int q = 0; q < _model.StepStates.Count; q++)
            {
                w.Line($"{stepState}[{q.ToString(CultureInfo.InvariantCulture)}] = {KernelNames.Id(_model.StepStates[q].Name)};");
            }

            w.Line($"return {_flags};");
        }
    }

    private bool IsElementLocal(string name) => _plan.ElementLocals.Contains(name);

    private void EmitBlock(CodeWriter w, IEnumerable<Stmt> block)
    {
        foreach (var s in block)
        {
            switch (s)
            {
                case AssignStmt { Kind: NameKind.StepState } a:
                    w.Line($"{KernelNames.Id(a.Target)} = {ExprEmitter.Prologue(a.Value)};");
                    break;
                case AssignStmt { Kind: NameKind.Local } a when !IsElementLocal(a.Target):
                    w.Line(a.Declares
                        ? $"{ExprEmitter.PrologueType(a.TargetType)} {KernelNames.Id(a.Target)} = {ExprEmitter.Prologue(a.Value)};"
                        : $"{KernelNames.Id(a.Target)} = {ExprEmitter.Prologue(a.Value)};");
                    break;
                case AssignStmt a:
                    EmitScalarsOf(w, a.Value);
                    break;
                case IfStmt i when i.Flag >= 0:
                    string condition = ExprEmitter.Prologue(_plan.Flags[i.Flag].Condition);
                    string setBit = $"{_flags} |= {Bit(i.Flag)}; // {_names.Flag(i.Flag)}: {_plan.Flags[i.Flag].Text}";
                    var then = new CodeWriter();
                    var otherwise = new CodeWriter();
                    _depth++;
                    EmitBlock(then, i.Then);
                    EmitBlock(otherwise, i.Else);
                    _depth--;
                    if (then.IsEmpty && otherwise.IsEmpty)
                    {
                        if (_flagsSetUnconditionally.Add(i.Flag) || _depth > 0)
                        {
                            w.Line($"if ({condition}) {setBit}");
                        }

                        break;
                    }

                    using (w.Block($"if ({condition})"))
                    {
                        w.Line(setBit);
                        w.Lines(then.ToString().TrimEnd('\n'), keepEmpty: false);
                    }

                    if (!otherwise.IsEmpty)
                    {
                        using (w.Block("else"))
                        {
                            w.Lines(otherwise.ToString().TrimEnd('\n'), keepEmpty: false);
                        }
                    }

                    break;
                case IfStmt i when _plan.ReadsElement(i.Cond):
                    // A per-element condition: its branches' scalars are needed whichever lanes take them.
                    EmitScalarsOf(w, i.Cond);
                    EmitBlock(w, i.Then);
                    EmitBlock(w, i.Else);
                    break;
                case IfStmt i:
                    _depth++;
                    using (w.Block($"if ({ExprEmitter.Prologue(i.Cond)})"))
                    {
                        EmitBlock(w, i.Then);
                    }

                    if (i.Else.Count > 0)
                    {
                        using (w.Block("else"))
                        {
                            EmitBlock(w, i.Else);
                        }
                    }

                    _depth--;
                    break;
            }
        }
    }

    /// <summary>Writes the hoisted scalars and switch bits an element expression uses, in evaluation order.</summary>
    private void EmitScalarsOf(CodeWriter w, Expr e)
    {
        switch (e)
        {
            case RefExpr { Kind: NameKind.Hoisted } r:
                // A slot shared by several uses is pure: once computed at the top level it need not be again.
                if (_slotsSetUnconditionally.Contains(r.Slot) || (_depth == 0 && !_slotsSetUnconditionally.Add(r.Slot)))
                {
                    break;
                }

                var h = _plan.Hoists[r.Slot];
                string slot = $"{_scalars}[{r.Slot.ToString(CultureInfo.InvariantCulture)}]";
                w.Line(h.Value.Type == ValueType.Bool
                    ? $"{slot} = {ExprEmitter.Prologue(h.Value)} ? StepMath.AllBits : 0f; // {h.Name} = {h.Text}"
                    : $"{slot} = (float){ExprEmitter.Prologue(h.Value)}; // {h.Name} = {h.Text}");
                break;
            case CondExpr c when c.Flag >= 0:
                // A flag shared by several uses is pure (same value everywhere): set it once at the top level.
                if (_depth > 0 || _flagsSetUnconditionally.Add(c.Flag))
                {
                    w.Line($"if ({ExprEmitter.Prologue(_plan.Flags[c.Flag].Condition)}) {_flags} |= {Bit(c.Flag)}; // {_names.Flag(c.Flag)}: {_plan.Flags[c.Flag].Text}");
                }

                EmitScalarsOf(w, c.WhenTrue);
                EmitScalarsOf(w, c.WhenFalse);
                break;
            default:
                foreach (var child in e.Children())
                {
                    EmitScalarsOf(w, child);
                }

                break;
        }
    }

    private static string Bit(int flag) => (1 << (flag + 1)).ToString(CultureInfo.InvariantCulture);
}

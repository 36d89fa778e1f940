using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Threading;
using FusedOpt.Generator.Helpers;
using FusedOpt.Generator.Model;
using Microsoft.CodeAnalysis;

namespace FusedOpt.Generator.Analysis;

/// <summary>
/// The analysis stage: <see cref="ParsedRule"/> → <see cref="RuleModel"/>. Splits the rule into prologue and element
/// loop (<see cref="RuleAnalyzer"/>), checks it against every backend's limits (<see cref="Backends"/>), and computes
/// the facts the emitters print (naive passes and temporaries, operations per element), so that emitting only writes.
/// It also checks that the assignments to <c>[NonNegative]</c> states keep them ≥ 0 (<see cref="StateSigns"/>, FOPT026).
/// </summary>
internal static class RuleAnalysis
{
    public static AnalysedRule Analyse(Result<ParsedRule> parsed, CancellationToken ct)
    {
        var rule = parsed.Value;
        if (rule is null)
        {
            return new AnalysedRule(null, parsed.Diagnostics, "", "", null);
        }

        string qualified = (rule.Namespace.Length > 0 ? rule.Namespace + "." : "") + rule.TypeName;
        var diagnostics = new List<DiagnosticInfo>(parsed.Diagnostics);
        RuleModel? model;
        try
        {
            ct.ThrowIfCancellationRequested();
            model = AnalyseCore(rule, diagnostics);
        }
        catch (OperationCanceledException)
        {
            throw;
        }
        catch (Exception e)
        {
            // The generator never throws: an unexpected failure is a diagnostic on the rule, and no code is emitted.
            diagnostics.Add(DiagnosticInfo.Create(Diagnostics.InternalError, rule.UpdateLocation ?? rule.AttributeLocation, rule.TypeName, e.GetType().Name + ": " + e.Message));
            model = null;
        }

        return new AnalysedRule(model, diagnostics.ToEquatableArray(), rule.OptimizerName, qualified, rule.AttributeLocation);
    }

    private static RuleModel? AnalyseCore(ParsedRule rule, List<DiagnosticInfo> diagnostics)
    {
        var ruleNames = rule.Hypers.Select(static h => h.Name)
            .Concat(rule.States.Select(static s => s.Name))
            .Concat(rule.StepStates.Select(static s => s.Name))
            .Concat([rule.ParamName, rule.GradName, rule.StepName ?? ""]);
        StateSigns.Check(rule, diagnostics);
        var plan = RuleAnalyzer.Analyze(rule.TypeName, rule.Body, rule.States, ruleNames, rule.StatementLocations, rule.UpdateLocation, diagnostics);
        if (plan is null)
        {
            return null;
        }

        var backends = new List<BackendSupport>();
        foreach (var limits in Backends.Limited)
        {
            bool fits = plan.Hoists.Count <= limits.MaxScalars;
            if (!fits)
            {
                diagnostics.Add(DiagnosticInfo.Create(Diagnostics.NoGpuKernel, rule.UpdateLocation, rule.TypeName,
                    plan.Hoists.Count.ToString(CultureInfo.InvariantCulture), limits.MaxScalars.ToString(CultureInfo.InvariantCulture)));
            }

            backends.Add(new BackendSupport(limits, fits));
        }

        bool hlsl = plan.Flags.Count <= Backends.HlslMaxSwitches;
        if (!hlsl)
        {
            diagnostics.Add(DiagnosticInfo.Create(Diagnostics.NoHlslShader, rule.UpdateLocation, rule.TypeName,
                plan.Flags.Count.ToString(CultureInfo.InvariantCulture), (1 << (plan.Flags.Count + 1)).ToString(CultureInfo.InvariantCulture),
                Backends.HlslMaxSwitches.ToString(CultureInfo.InvariantCulture)));
        }

        backends.Add(new BackendSupport(Backends.Hlsl, hlsl));

        var model = new RuleModel(rule.Namespace, rule.TypeName, rule.Accessibility, rule.FileName, rule.OptimizerName, rule.Torch, rule.Summary,
            rule.Hypers, rule.States, rule.StepStates, rule.ParamName, rule.GradName, rule.StepName, rule.Constraints, plan, rule.Arguments,
            new KernelFacts(0, 0, OperationCounts.Zero), backends.ToEquatableArray());

        // The naive step's cost is that of its lowering: one pass per tensor operation, temporaries reused per statement.
        var naive = Emit.NaiveEmitter.Lower(model);
        var ops = OperationCounter.Count(plan, l => plan.ElementLocals.Contains(l));
        return model with { Facts = new KernelFacts(naive.Passes, naive.Temporaries, ops) };
    }
}

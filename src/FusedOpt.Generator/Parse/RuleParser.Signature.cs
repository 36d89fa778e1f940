using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Threading;
using FusedOpt.Generator.Helpers;
using FusedOpt.Generator.Model;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using ValueType = FusedOpt.Generator.Model.ValueType;

namespace FusedOpt.Generator.Parse;

/// <summary>
/// The parse stage, part 3: the signature of <c>Update</c> — p, g, per-element states (<c>ref float</c>), per-step states
/// (<c>ref double</c>) and the step counter — and the names the body may use.
/// </summary>
internal static partial class RuleParser
{
    /// <summary>What the signature of <c>Update</c> declares.</summary>
    private sealed record Signature(
        MethodDeclarationSyntax Syntax,
        Location Location,
        Dictionary<string, (NameKind Kind, ValueType Type)> Names,
        List<UpdateArgument> Arguments,
        List<StateModel> States,
        List<StepStateModel> StepStates,
        string? ParamName,
        string? GradName,
        string? StepName,
        bool Ok);

    /// <summary>Reads <c>Update</c>'s parameters; null when there is no usable <c>Update</c> (FOPT002).</summary>
    private static Signature? ParseSignature(INamedTypeSymbol symbol, TypeDeclarationSyntax syntax, List<HyperModel> hypers, List<DiagnosticInfo> diagnostics, CancellationToken ct)
    {
        var nameLocation = syntax.Identifier.GetLocation();
        void Report(DiagnosticDescriptor d, Location? l, params string[] args) => diagnostics.Add(DiagnosticInfo.Create(d, l, args));

        // The update rule.
        var updates = symbol.GetMembers("Update").OfType<IMethodSymbol>().ToList();
        if (updates.Count != 1)
        {
            Report(Diagnostics.MissingUpdate, nameLocation, symbol.Name, updates.Count == 0 ? "no method named Update was found" : "Update must not be overloaded");
            return null;
        }

        var update = updates[0];
        var updateSyntax = update.DeclaringSyntaxReferences.Select(r => r.GetSyntax(ct)).OfType<MethodDeclarationSyntax>().FirstOrDefault();
        var updateLocation = updateSyntax?.Identifier.GetLocation() ?? nameLocation;
        if (update.IsStatic || !update.ReturnsVoid || update.IsGenericMethod || updateSyntax is null || (updateSyntax.Body is null && updateSyntax.ExpressionBody is null))
        {
            Report(Diagnostics.MissingUpdate, updateLocation, symbol.Name, "Update must be a non-static, non-generic void method with a body");
            return null;
        }

        // A member the record declares itself must not take a name the generated partial declares.
        foreach (var member in symbol.GetMembers())
        {
            if (!member.IsImplicitlyDeclared && member.Name != "Update" && member is not IParameterSymbol
                && Emit.KernelNames.IsReserved(member.Name) && member.Locations.FirstOrDefault() is { IsInSource: true } memberLocation
                && syntax.ParameterList?.Parameters.Any(ps => ps.Identifier.ValueText == member.Name) != true)
            {
                Report(Diagnostics.ReservedName, memberLocation, member.Name, "a member of " + symbol.Name);
            }
        }

        var names = new Dictionary<string, (NameKind Kind, ValueType Type)>(StringComparer.Ordinal);
        foreach (var h in hypers)
        {
            names[h.Name] = (NameKind.Hyper, h.Type);
        }

        var arguments = new List<UpdateArgument>();
        var states = new List<StateModel>();
        var stepStates = new List<StepStateModel>();
        string? paramName = null, gradName = null, stepName = null;
        bool signatureOk = true;
        for (int i = 0; i < update.Parameters.Length; i++)
        {
            var p = update.Parameters[i];
            var pLocation = p.Locations.FirstOrDefault() ?? updateLocation;
            var type = BodyParser.ToValueType(p.Type);
            if (Emit.KernelNames.IsReserved(p.Name))
            {
                Report(Diagnostics.ReservedName, pLocation, p.Name, "a parameter of Update");
                signatureOk = false;
                continue;
            }

            if (names.ContainsKey(p.Name))
            {
                Report(Diagnostics.InvalidRuleParameter, pLocation, p.Name, "it has the name of a hyperparameter; rename it");
                signatureOk = false;
                continue;
            }

            // [NonNegative] on a per-element state promises the rule keeps it >= 0; the other range attributes belong to
            // hyperparameters, and no other parameter of Update takes one.
            bool isState = i >= 2 && p.RefKind == Microsoft.CodeAnalysis.RefKind.Ref && type == ValueType.Float;
            if (MisplacedRangeAttribute(p, isState) is { } misplaced)
            {
                Report(Diagnostics.InvalidRuleParameter, pLocation, p.Name, isState
                    ? $"[{misplaced}] is a hyperparameter range; a per-element state takes only [NonNegative]"
                    : $"[{misplaced}] does not apply here; only a per-element state ('ref float') may be declared [NonNegative]");
                signatureOk = false;
            }

            if (i == 0)
            {
                if (p.RefKind != Microsoft.CodeAnalysis.RefKind.Ref || type != ValueType.Float)
                {
                    Report(Diagnostics.InvalidRuleParameter, pLocation, p.Name, "the first parameter must be 'ref float p', the parameter element");
                    signatureOk = false;
                }

                paramName = p.Name;
                names[p.Name] = (NameKind.Param, ValueType.Float);
                arguments.Add(new UpdateArgument(NameKind.Param, 0));
            }
            else if (i == 1)
            {
                if (p.RefKind != Microsoft.CodeAnalysis.RefKind.None || type != ValueType.Float)
                {
                    Report(Diagnostics.InvalidRuleParameter, pLocation, p.Name, "the second parameter must be 'float g', the gradient element");
                    signatureOk = false;
                }

                gradName = p.Name;
                names[p.Name] = (NameKind.Grad, ValueType.Float);
                arguments.Add(new UpdateArgument(NameKind.Grad, 0));
            }
            else if (p.RefKind == Microsoft.CodeAnalysis.RefKind.Ref && type == ValueType.Float)
            {
                double initial = 0;
                string? from = null;
                bool nonNegative = false;
                foreach (var a in p.GetAttributes())
                {
                    switch (a.AttributeClass?.ToDisplayString())
                    {
                        case "FusedOpt.NonNegativeAttribute":
                            nonNegative = true;
                            break;
                        case "FusedOpt.InitialValueAttribute":
                            initial = ToDouble(a.ConstructorArguments[0].Value);
                            break;
                        case "FusedOpt.InitialFromAttribute":
                            from = a.ConstructorArguments[0].Value as string;
                            if (from is null || !hypers.Any(h => h.Name == from))
                            {
                                Report(Diagnostics.UnknownInitialFrom, pLocation, p.Name, from ?? "null");
                                from = null;
                            }

                            break;
                    }
                }

                // A non-negative state must start >= 0; whether each assignment keeps it there is the analysis' check (FOPT026).
                if (nonNegative && !(initial >= 0))
                {
                    Report(Diagnostics.NegativeStartOfNonNegativeState, pLocation, p.Name, "starts at " + Format(initial));
                }
                else if (nonNegative && from is not null && hypers.First(h => h.Name == from) is { } fromHyper && !(fromHyper.Min >= 0))
                {
                    Report(Diagnostics.NegativeStartOfNonNegativeState, pLocation, p.Name,
                        $"starts from '{from}', whose range {RangeText(fromHyper)} admits negative values; declare '{from}' [NonNegative]");
                }

                arguments.Add(new UpdateArgument(NameKind.State, states.Count));
                states.Add(new StateModel(p.Name, initial, from, nonNegative));
                names[p.Name] = (NameKind.State, ValueType.Float);
            }
            else if (p.RefKind == Microsoft.CodeAnalysis.RefKind.Ref && type == ValueType.Double)
            {
                double initial = 0;
                foreach (var a in p.GetAttributes())
                {
                    if (a.AttributeClass?.ToDisplayString() == "FusedOpt.InitialValueAttribute")
                    {
                        initial = ToDouble(a.ConstructorArguments[0].Value);
                    }
                }

                arguments.Add(new UpdateArgument(NameKind.StepState, stepStates.Count));
                stepStates.Add(new StepStateModel(p.Name, initial));
                names[p.Name] = (NameKind.StepState, ValueType.Double);
            }
            else if (p.RefKind == Microsoft.CodeAnalysis.RefKind.None && type == ValueType.Int && stepName is null)
            {
                stepName = p.Name;
                names[p.Name] = (NameKind.Step, ValueType.Int);
                arguments.Add(new UpdateArgument(NameKind.Step, 0));
            }
            else
            {
                Report(Diagnostics.InvalidRuleParameter, pLocation, p.Name,
                    "after p and g, parameters are per-element states 'ref float', per-step states 'ref double' and at most one step counter 'int t'");
                signatureOk = false;
            }
        }

        if (update.Parameters.Length < 2)
        {
            Report(Diagnostics.MissingUpdate, updateLocation, symbol.Name, "Update needs at least 'ref float p, float g'");
            return null;
        }

        if (states.Count > 8)
        {
            Report(Diagnostics.TooMany, updateLocation, symbol.Name, states.Count.ToString(CultureInfo.InvariantCulture), "per-element states", "8");
            signatureOk = false;
        }

        return new Signature(updateSyntax, updateLocation, names, arguments, states, stepStates, paramName, gradName, stepName, signatureOk);
    }

    /// <summary>
    /// The short name of a range attribute (<c>NonNegative</c>, <c>Positive</c>, <c>Unit</c>, <c>Interval</c>) that
    /// <paramref name="p"/> must not carry, or null: a per-element state may carry <c>[NonNegative]</c> only, any other
    /// parameter of <c>Update</c> none.
    /// </summary>
    private static string? MisplacedRangeAttribute(IParameterSymbol p, bool isState)
    {
        foreach (var a in p.GetAttributes())
        {
            string? name = a.AttributeClass?.ToDisplayString();
            bool isRange = HyperparameterRanges.RangeOfAttribute(name, out _, out _, out _, out _) || name == HyperparameterRanges.IntervalAttribute;
            if (isRange && !(isState && name == "FusedOpt.NonNegativeAttribute"))
            {
                return a.AttributeClass!.Name.Substring(0, a.AttributeClass.Name.Length - "Attribute".Length);
            }
        }

        return null;
    }
}

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

/// <summary>The parse stage, part 2: hyperparameters (primary-constructor parameters with a default and at most one range attribute).</summary>
internal static partial class RuleParser
{
    private static List<HyperModel> ParseHyperparameters(SemanticModel model, TypeDeclarationSyntax syntax, List<DiagnosticInfo> diagnostics, CancellationToken ct)
    {
        var result = new List<HyperModel>();
        if (syntax.ParameterList is null)
        {
            return result;
        }

        foreach (var ps in syntax.ParameterList.Parameters)
        {
            ct.ThrowIfCancellationRequested();
            if (model.GetDeclaredSymbol(ps, ct) is not IParameterSymbol p)
            {
                continue;
            }

            var location = ps.Identifier.GetLocation();
            if (Emit.KernelNames.IsReserved(p.Name))
            {
                diagnostics.Add(DiagnosticInfo.Create(Diagnostics.ReservedName, location, p.Name, "a hyperparameter"));
                continue;
            }

            var type = BodyParser.ToValueType(p.Type);
            if (type is null || p.Type.SpecialType == SpecialType.System_Int64)
            {
                diagnostics.Add(DiagnosticInfo.Create(Diagnostics.UnsupportedHyperparameterType, location, p.Name, p.Type.ToDisplayString()));
                continue;
            }

            if (!p.HasExplicitDefaultValue || ps.Default is null)
            {
                diagnostics.Add(DiagnosticInfo.Create(Diagnostics.InvalidHyperparameter, location, p.Name, "it needs a default value (the optimizer's documented default)"));
                continue;
            }

            double defaultValue = p.ExplicitDefaultValue is bool b ? (b ? 1 : 0) : ToDouble(p.ExplicitDefaultValue);
            // Ranges are finite unless a declaration says otherwise: no attribute means (−∞, ∞), [NonNegative] means
            // [0, ∞); only an [Interval] closed at an infinity ([Interval(0, double.PositiveInfinity)]) admits it.
            double min = double.NegativeInfinity, max = double.PositiveInfinity;
            bool minOpen = true, maxOpen = true;
            int ranges = 0;
            foreach (var a in p.GetAttributes())
            {
                string? attributeName = a.AttributeClass?.ToDisplayString();
                if (HyperparameterRanges.RangeOfAttribute(attributeName, out var fixedMin, out var fixedMax, out var fixedMinOpen, out var fixedMaxOpen))
                {
                    (min, max, minOpen, maxOpen) = (fixedMin, fixedMax, fixedMinOpen, fixedMaxOpen);
                    ranges++;
                }
                else if (attributeName == HyperparameterRanges.IntervalAttribute)
                {
                    min = ToDouble(a.ConstructorArguments[0].Value);
                    max = ToDouble(a.ConstructorArguments[1].Value);
                    minOpen = maxOpen = false;
                    foreach (var n in a.NamedArguments)
                    {
                        if (n.Key == "MinOpen")
                        {
                            minOpen = n.Value.Value is true;
                        }
                        else if (n.Key == "MaxOpen")
                        {
                            maxOpen = n.Value.Value is true;
                        }
                    }

                    if (!(min <= max))
                    {
                        diagnostics.Add(DiagnosticInfo.Create(Diagnostics.InvalidHyperparameter, location, p.Name,
                            $"the interval [{Format(min)}, {Format(max)}] is empty"));
                    }

                    ranges++;
                }
            }

            if (ranges > 1)
            {
                diagnostics.Add(DiagnosticInfo.Create(Diagnostics.InvalidHyperparameter, location, p.Name, "it has more than one range attribute"));
            }

            if (ranges > 0 && type == ValueType.Bool)
            {
                diagnostics.Add(DiagnosticInfo.Create(Diagnostics.InvalidHyperparameter, location, p.Name, "a bool switch cannot have a range"));
            }

            bool userProperty = p.ContainingType is INamedTypeSymbol owner && owner.GetMembers(p.Name).OfType<IPropertySymbol>()
                .Any(static pr => pr.DeclaringSyntaxReferences.Any(static r => r.GetSyntax() is PropertyDeclarationSyntax));
            var h = new HyperModel(p.Name, type.Value, ps.Default.Value.ToString(), defaultValue, min, max, minOpen, maxOpen, userProperty);
            if (h.HasRange && !InRange(h, defaultValue))
            {
                diagnostics.Add(DiagnosticInfo.Create(Diagnostics.DefaultOutOfRange, ps.Default.Value.GetLocation(), p.Name, Format(defaultValue), RangeText(h)));
            }

            result.Add(h);
        }

        return result;
    }
}

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

/// <summary>The parse stage, part 4: <c>[Constraint]</c>s, C# conditions over hyperparameters (parsed and checked here, compiled in the generated code).</summary>
internal static partial class RuleParser
{
    private static List<ConstraintModel> ParseConstraints(INamedTypeSymbol symbol, List<HyperModel> hypers, List<DiagnosticInfo> diagnostics, CancellationToken ct)
    {
        var result = new List<ConstraintModel>();
        var known = new HashSet<string>(hypers.Select(static h => h.Name), StringComparer.Ordinal);
        foreach (var a in symbol.GetAttributes())
        {
            if (a.AttributeClass?.ToDisplayString() != "FusedOpt.ConstraintAttribute" || a.ConstructorArguments.Length != 2)
            {
                continue;
            }

            string condition = a.ConstructorArguments[0].Value as string ?? "";
            string message = a.ConstructorArguments[1].Value as string ?? "";
            var location = a.ApplicationSyntaxReference?.GetSyntax(ct).GetLocation();
            var parsed = SyntaxFactory.ParseExpression(condition);
            string? problem = parsed.GetDiagnostics().FirstOrDefault(static d => d.Severity == DiagnosticSeverity.Error)?.GetMessage(CultureInfo.InvariantCulture);
            if (problem is null && parsed.FullSpan.Length != condition.Length)
            {
                problem = "unexpected text after the expression";
            }

            if (problem is null)
            {
                foreach (var id in parsed.DescendantNodesAndSelf().OfType<IdentifierNameSyntax>())
                {
                    bool isMember = id.Parent is MemberAccessExpressionSyntax ma && ma.Name == id;
                    bool isMathType = id.Identifier.ValueText is "Math" or "MathF";
                    if (!isMember && !isMathType && !known.Contains(id.Identifier.ValueText))
                    {
                        problem = $"'{id.Identifier.ValueText}' is not a hyperparameter";
                        break;
                    }
                }
            }

            if (problem is not null)
            {
                diagnostics.Add(DiagnosticInfo.Create(Diagnostics.InvalidConstraint, location, condition, problem));
                continue;
            }

            result.Add(new ConstraintModel(parsed.NormalizeWhitespace().ToFullString(), message));
        }

        return result;
    }
}

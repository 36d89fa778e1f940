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

/// <summary>The parse stage, part 1: the declaration's shape (a top-level, non-generic, partial record class) and its <c>[Optimizer]</c> attribute.</summary>
internal static partial class RuleParser
{
    private static readonly System.Text.RegularExpressions.Regex NamePattern = new("^[a-z][a-z0-9]*(-[a-z0-9]+)*$", System.Text.RegularExpressions.RegexOptions.CultureInvariant);

    /// <summary>What <c>[Optimizer]</c> says.</summary>
    private sealed record AttributeInfo(string Name, string? Torch, string? Summary, Location Location);

    /// <summary>True when the declaration can be an optimizer; otherwise reports why (FOPT016, FOPT001).</summary>
    private static bool CheckShape(INamedTypeSymbol symbol, TypeDeclarationSyntax syntax, List<DiagnosticInfo> diagnostics, CancellationToken ct)
    {
        var nameLocation = syntax.Identifier.GetLocation();
        void Report(DiagnosticDescriptor d, params string[] args) => diagnostics.Add(DiagnosticInfo.Create(d, nameLocation, args));
        if (!symbol.IsRecord || symbol.TypeKind != TypeKind.Class)
        {
            Report(Diagnostics.InvalidDeclaration, symbol.Name, "it must be a 'partial record' (a record class)");
            return false;
        }

        if (symbol.ContainingType is not null)
        {
            Report(Diagnostics.InvalidDeclaration, symbol.Name, "it must not be nested in another type");
            return false;
        }

        if (symbol.IsGenericType)
        {
            Report(Diagnostics.InvalidDeclaration, symbol.Name, "it must not be generic");
            return false;
        }

        bool isPartial = symbol.DeclaringSyntaxReferences
            .Select(r => r.GetSyntax(ct))
            .OfType<TypeDeclarationSyntax>()
            .All(static d => d.Modifiers.Any(SyntaxKind.PartialKeyword));
        if (!isPartial)
        {
            Report(Diagnostics.NotPartial, symbol.Name);
            return false;
        }

        return true;
    }

    /// <summary>Reads the catalogue name (checked: FOPT017), <c>Torch</c> and <c>Summary</c>.</summary>
    private static AttributeInfo ReadAttribute(AttributeData attribute, TypeDeclarationSyntax syntax, List<DiagnosticInfo> diagnostics, CancellationToken ct)
    {
        var location = attribute.ApplicationSyntaxReference?.GetSyntax(ct).GetLocation() ?? syntax.Identifier.GetLocation();
        string name = attribute.ConstructorArguments.Length == 1 ? attribute.ConstructorArguments[0].Value as string ?? "" : "";
        if (!NamePattern.IsMatch(name))
        {
            diagnostics.Add(DiagnosticInfo.Create(Diagnostics.InvalidName, location, name));
        }

        string? torch = null, summary = null;
        foreach (var named in attribute.NamedArguments)
        {
            if (named.Key == "Torch")
            {
                torch = named.Value.Value as string;
            }
            else if (named.Key == "Summary")
            {
                summary = named.Value.Value as string;
            }
        }

        return new AttributeInfo(name, torch, summary, location);
    }
}

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
/// The parse stage: reads an <c>[Optimizer]</c> record into a <see cref="ParsedRule"/>. One concern per file: the
/// declaration's shape and attribute (<c>RuleParser.Shape.cs</c>), its hyperparameters
/// (<c>RuleParser.Hyperparameters.cs</c>), the signature of <c>Update</c> (<c>RuleParser.Signature.cs</c>), its
/// constraints (<c>RuleParser.Constraints.cs</c>); the body is <see cref="BodyParser"/>'s. Analysis is the next stage
/// (<see cref="Analysis.RuleAnalysis"/>), not called from here.
/// </summary>
internal static partial class RuleParser
{
    public const string AttributeName = "FusedOpt.OptimizerAttribute";

    public static Result<ParsedRule> Parse(GeneratorAttributeSyntaxContext context, CancellationToken ct)
    {
        var diagnostics = new List<DiagnosticInfo>();
        string display = context.TargetSymbol.Name;
        try
        {
            var model = ParseCore(context, diagnostics, ct);
            return new Result<ParsedRule>(model, diagnostics.ToEquatableArray());
        }
        catch (OperationCanceledException)
        {
            throw;
        }
        catch (Exception e)
        {
            // The generator never throws: an unexpected failure is a diagnostic, and no code is emitted.
            diagnostics.Add(DiagnosticInfo.Create(Diagnostics.InternalError, context.TargetNode.GetLocation(), display, e.GetType().Name + ": " + e.Message));
            return new Result<ParsedRule>(null, diagnostics.ToEquatableArray());
        }
    }

    private static ParsedRule? ParseCore(GeneratorAttributeSyntaxContext context, List<DiagnosticInfo> diagnostics, CancellationToken ct)
    {
        var symbol = (INamedTypeSymbol)context.TargetSymbol;
        var syntax = (TypeDeclarationSyntax)context.TargetNode;
        if (!CheckShape(symbol, syntax, diagnostics, ct))
        {
            return null;
        }

        var attribute = ReadAttribute(context.Attributes[0], syntax, diagnostics, ct);

        ct.ThrowIfCancellationRequested();
        var hypers = ParseHyperparameters(context.SemanticModel, syntax, diagnostics, ct);

        ct.ThrowIfCancellationRequested();
        var signature = ParseSignature(symbol, syntax, hypers, diagnostics, ct);
        if (signature is null)
        {
            return null;
        }

        ct.ThrowIfCancellationRequested();
        var parser = new BodyParser(context.SemanticModel, signature.Names, diagnostics, ct);
        var body = parser.ParseBody(signature.Syntax);
        var constraints = ParseConstraints(symbol, hypers, diagnostics, ct);

        if (!signature.Ok || diagnostics.Any(static d => Diagnostics.ById(d.Id).DefaultSeverity == DiagnosticSeverity.Error))
        {
            return null;
        }

        string ns = symbol.ContainingNamespace.IsGlobalNamespace ? "" : symbol.ContainingNamespace.ToDisplayString();
        string accessibility = symbol.DeclaredAccessibility == Accessibility.Public ? "public" : "internal";
        string fileName = System.IO.Path.GetFileName(syntax.SyntaxTree.FilePath);
        return new ParsedRule(ns, symbol.Name, accessibility, fileName, attribute.Name, attribute.Torch, attribute.Summary,
            hypers.ToEquatableArray(), signature.States.ToEquatableArray(), signature.StepStates.ToEquatableArray(),
            signature.ParamName!, signature.GradName!, signature.StepName, constraints.ToEquatableArray(), signature.Arguments.ToEquatableArray(),
            body, parser.StatementLocations.Select(static l => LocationInfo.From(l) ?? new LocationInfo("", default, default)).ToEquatableArray(),
            LocationInfo.From(signature.Location), LocationInfo.From(attribute.Location));
    }

    public static bool InRange(HyperModel h, double v) => HyperparameterRanges.Contains(h.Min, h.Max, h.MinOpen, h.MaxOpen, v);

    public static string RangeText(HyperModel h) => HyperparameterRanges.Text(h.Min, h.Max, h.MinOpen, h.MaxOpen);

    public static string Format(double v) => HyperparameterRanges.Format(v);

    /// <summary>A constant attribute argument as a double (0 when it is not a number).</summary>
    private static double ToDouble(object? value) => value is IConvertible c ? c.ToDouble(CultureInfo.InvariantCulture) : 0;
}

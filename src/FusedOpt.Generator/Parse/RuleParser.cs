using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text.RegularExpressions;
using System.Threading;
using FusedOpt.Generator.Analysis;
using FusedOpt.Generator.Helpers;
using FusedOpt.Generator.Model;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using ValueType = FusedOpt.Generator.Model.ValueType;

namespace FusedOpt.Generator.Parse;

/// <summary>
/// Reads an <c>[Optimizer]</c> record into a <see cref="RuleModel"/>: the declaration's shape, its hyperparameters
/// (primary-constructor parameters with range attributes), the states and step counter of its <c>Update</c> method,
/// the rule body, and its constraints. Then runs the analysis, whose diagnostics need the parser's locations.
/// </summary>
internal static class RuleParser
{
    public const string AttributeName = "FusedOpt.OptimizerAttribute";

    private static readonly Regex NamePattern = new("^[a-z][a-z0-9]*(-[a-z0-9]+)*$", RegexOptions.CultureInvariant);

    public static Result<RuleModel> Parse(GeneratorAttributeSyntaxContext context, CancellationToken ct)
    {
        var diagnostics = new List<DiagnosticInfo>();
        string display = context.TargetSymbol.Name;
        try
        {
            var model = ParseCore(context, diagnostics, ct);
            return new Result<RuleModel>(model, diagnostics.ToEquatableArray());
        }
        catch (OperationCanceledException)
        {
            throw;
        }
        catch (Exception e)
        {
            // The generator never throws: an unexpected failure is a diagnostic, and no code is emitted.
            diagnostics.Add(DiagnosticInfo.Create(Diagnostics.InternalError, context.TargetNode.GetLocation(), display, e.GetType().Name + ": " + e.Message));
            return new Result<RuleModel>(null, diagnostics.ToEquatableArray());
        }
    }

    private static RuleModel? ParseCore(GeneratorAttributeSyntaxContext context, List<DiagnosticInfo> diagnostics, CancellationToken ct)
    {
        var symbol = (INamedTypeSymbol)context.TargetSymbol;
        var syntax = (TypeDeclarationSyntax)context.TargetNode;
        var nameLocation = syntax.Identifier.GetLocation();
        void Report(DiagnosticDescriptor d, Location? l, params string[] args) => diagnostics.Add(DiagnosticInfo.Create(d, l, args));

        // Shape: a top-level, non-generic, partial record class.
        if (!symbol.IsRecord || symbol.TypeKind != TypeKind.Class)
        {
            Report(Diagnostics.InvalidDeclaration, nameLocation, symbol.Name, "it must be a 'partial record' (a record class)");
            return null;
        }

        if (symbol.ContainingType is not null)
        {
            Report(Diagnostics.InvalidDeclaration, nameLocation, symbol.Name, "it must not be nested in another type");
            return null;
        }

        if (symbol.IsGenericType)
        {
            Report(Diagnostics.InvalidDeclaration, nameLocation, symbol.Name, "it must not be generic");
            return null;
        }

        bool isPartial = symbol.DeclaringSyntaxReferences
            .Select(r => r.GetSyntax(ct))
            .OfType<TypeDeclarationSyntax>()
            .All(static d => d.Modifiers.Any(SyntaxKind.PartialKeyword));
        if (!isPartial)
        {
            Report(Diagnostics.NotPartial, nameLocation, symbol.Name);
            return null;
        }

        // The attribute.
        var attribute = context.Attributes[0];
        var attributeLocation = attribute.ApplicationSyntaxReference?.GetSyntax(ct).GetLocation() ?? nameLocation;
        string name = attribute.ConstructorArguments.Length == 1 ? attribute.ConstructorArguments[0].Value as string ?? "" : "";
        if (!NamePattern.IsMatch(name))
        {
            Report(Diagnostics.InvalidName, attributeLocation, name);
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

        ct.ThrowIfCancellationRequested();
        var hypers = ParseHyperparameters(context.SemanticModel, syntax, diagnostics, ct);

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
                foreach (var a in p.GetAttributes())
                {
                    switch (a.AttributeClass?.ToDisplayString())
                    {
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

                arguments.Add(new UpdateArgument(NameKind.State, states.Count));
                states.Add(new StateModel(p.Name, initial, from));
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

        ct.ThrowIfCancellationRequested();
        var parser = new BodyParser(context.SemanticModel, names, diagnostics, ct);
        var body = parser.ParseBody(updateSyntax);
        var constraints = ParseConstraints(symbol, hypers, diagnostics, ct);

        if (!signatureOk || diagnostics.Any(static d => Diagnostics.ById(d.Id).DefaultSeverity == DiagnosticSeverity.Error))
        {
            return null;
        }

        ct.ThrowIfCancellationRequested();
        var plan = RuleAnalyzer.Analyze(symbol.Name, body, states, parser.StatementLocations, updateLocation, diagnostics);
        if (plan is null)
        {
            return null;
        }

        if (plan.Hoists.Count > Emit.GpuEmitter.MaxScalars)
        {
            Report(Diagnostics.NoGpuKernel, updateLocation, symbol.Name, plan.Hoists.Count.ToString(CultureInfo.InvariantCulture),
                Emit.GpuEmitter.MaxScalars.ToString(CultureInfo.InvariantCulture));
        }

        string ns = symbol.ContainingNamespace.IsGlobalNamespace ? "" : symbol.ContainingNamespace.ToDisplayString();
        string accessibility = symbol.DeclaredAccessibility == Accessibility.Public ? "public" : "internal";
        string fileName = System.IO.Path.GetFileName(syntax.SyntaxTree.FilePath);
        return new RuleModel(ns, symbol.Name, accessibility, fileName, name, torch, summary,
            hypers.ToEquatableArray(), states.ToEquatableArray(), stepStates.ToEquatableArray(),
            paramName!, gradName!, stepName, constraints.ToEquatableArray(), plan, arguments.ToEquatableArray());
    }

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
                switch (a.AttributeClass?.ToDisplayString())
                {
                    case "FusedOpt.NonNegativeAttribute":
                        (min, max, minOpen, maxOpen) = (0, double.PositiveInfinity, false, true);
                        ranges++;
                        break;
                    case "FusedOpt.PositiveAttribute":
                        (min, max, minOpen, maxOpen) = (0, double.PositiveInfinity, true, true);
                        ranges++;
                        break;
                    case "FusedOpt.UnitAttribute":
                        (min, max, minOpen, maxOpen) = (0, 1, false, true);
                        ranges++;
                        break;
                    case "FusedOpt.IntervalAttribute":
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
                        break;
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

    public static bool InRange(HyperModel h, double v) =>
        !double.IsNaN(v) && (h.MinOpen ? v > h.Min : v >= h.Min) && (h.MaxOpen ? v < h.Max : v <= h.Max);

    public static string RangeText(HyperModel h) =>
        (h.MinOpen ? "(" : "[") + Format(h.Min) + ", " + Format(h.Max) + (h.MaxOpen ? ")" : "]");

    public static string Format(double v) =>
        double.IsPositiveInfinity(v) ? "∞" : double.IsNegativeInfinity(v) ? "-∞" : v.ToString("R", CultureInfo.InvariantCulture);

    private static double ToDouble(object? value) => value is IConvertible c ? c.ToDouble(CultureInfo.InvariantCulture) : 0;
}

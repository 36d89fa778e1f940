using System.Linq;
using FusedOpt.Generator.Analysis;
using FusedOpt.Generator.Emit;
using FusedOpt.Generator.Helpers;
using FusedOpt.Generator.Model;
using FusedOpt.Generator.Parse;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace FusedOpt.Generator;

/// <summary>
/// Turns every <c>[Optimizer]</c> partial record into fused kernels. The pipeline reads top to bottom, three stages
/// over plain equatable values, each with a tracking name: parse (syntax and symbols → <see cref="ParsedRule"/>) →
/// analyse (→ <see cref="RuleModel"/> and every diagnostic) → emit (→ one file per declaration). Diagnostics are split
/// off before emitting, so a moved warning never regenerates source, and an unchanged model is not emitted again.
/// </summary>
[Generator(LanguageNames.CSharp)]
public sealed class OptimizerGenerator : IIncrementalGenerator
{
    /// <inheritdoc />
    public void Initialize(IncrementalGeneratorInitializationContext context)
    {
        var parsed = context.SyntaxProvider
            .ForAttributeWithMetadataName(
                RuleParser.AttributeName,
                static (node, _) => node is TypeDeclarationSyntax,
                static (ctx, ct) => RuleParser.Parse(ctx, ct))
            .WithTrackingName(TrackingNames.Parse);

        var analysed = parsed
            .Select(static (r, ct) => RuleAnalysis.Analyse(r, ct))
            .WithTrackingName(TrackingNames.Analyse);

        var models = analysed
            .Where(static r => r.Model is not null)
            .Select(static (r, _) => r.Model!)
            .WithTrackingName(TrackingNames.Model);

        // Two declarations with one catalogue name would clash at run time: say so at compile time. The names carry no
        // locations (so a comment changes nothing here); the diagnostic is placed on the attribute of the second type.
        var names = models
            .Select(static (m, _) => new NameEntry(m.OptimizerName, m.QualifiedTypeName))
            .Collect()
            .Select(static (entries, _) => entries.OrderBy(static e => e.TypeName, System.StringComparer.Ordinal).ToEquatableArray())
            .WithTrackingName(TrackingNames.Names);

        var files = models
            .Select(static (model, ct) => EmittedFile.Create(model))
            .WithTrackingName(TrackingNames.Emit);
        context.RegisterSourceOutput(files, static (spc, file) =>
        {
            if (file.Source is not null)
            {
                spc.AddSource(file.HintName, file.Source);
            }
        });

        // An emitter failure (a bug) is reported with the declaration's other diagnostics, so that it has the
        // declaration's location although the model it came from has none. Empty, and so cached, when nothing fails.
        var emitFailures = files
            .Where(static f => f.Source is null)
            .Select(static (f, _) => new EmitFailure(f.QualifiedTypeName, f.Error))
            .Collect()
            .Select(static (failures, _) => failures.ToEquatableArray());

        // Diagnostics travel on their own, so a new warning never regenerates source and vice versa.
        var diagnostics = analysed
            .Combine(names)
            .Combine(emitFailures)
            .Select(static (pair, _) => AllDiagnostics(pair.Left.Left, pair.Left.Right, pair.Right))
            .WithTrackingName(TrackingNames.Diagnostics);
        context.RegisterSourceOutput(diagnostics, static (spc, list) =>
        {
            foreach (var d in list)
            {
                spc.ReportDiagnostic(d.ToDiagnostic());
            }
        });
    }

    /// <summary>The declaration's parse and analysis diagnostics, FOPT018 if its name is taken, FOPT000 if emitting it failed.</summary>
    private static EquatableArray<DiagnosticInfo> AllDiagnostics(AnalysedRule rule, EquatableArray<NameEntry> names, EquatableArray<EmitFailure> failures)
    {
        var result = WithDuplicateName(rule, names);
        foreach (var failure in failures)
        {
            if (rule.Model is not null && failure.QualifiedTypeName == rule.QualifiedTypeName)
            {
                result = result.Concat([DiagnosticInfo.Create(Diagnostics.InternalError, rule.AttributeLocation, rule.Model.TypeName, failure.Error)]).ToEquatableArray();
            }
        }

        return result;
    }

    private static EquatableArray<DiagnosticInfo> WithDuplicateName(AnalysedRule rule, EquatableArray<NameEntry> names)
    {
        if (rule.Model is null)
        {
            return rule.Diagnostics;
        }

        var same = names.Where(e => e.Name == rule.OptimizerName).Select(static e => e.TypeName).ToList();
        if (same.Count < 2 || same[1] != rule.QualifiedTypeName)
        {
            return rule.Diagnostics;
        }

        var duplicate = DiagnosticInfo.Create(Diagnostics.DuplicateName, rule.AttributeLocation, rule.OptimizerName, same[0], same[1]);
        return rule.Diagnostics.Concat([duplicate]).ToEquatableArray();
    }

    private sealed record NameEntry(string Name, string TypeName);

    private sealed record EmitFailure(string QualifiedTypeName, string Error);
}

/// <summary>The emit stage's output: a file, or why there is none.</summary>
/// <param name="HintName">The generated file's name.</param>
/// <param name="QualifiedTypeName">The declaration, for the error.</param>
/// <param name="Source">The file's text, or null when emitting failed.</param>
/// <param name="Error">What failed (an emitter bug), or empty.</param>
internal sealed record EmittedFile(string HintName, string QualifiedTypeName, string? Source, string Error)
{
    public static EmittedFile Create(RuleModel model)
    {
        try
        {
            return new EmittedFile(SourceEmitter.HintName(model), model.QualifiedTypeName, SourceEmitter.Emit(model), "");
        }
        catch (System.Exception e) when (e is not System.OperationCanceledException)
        {
            return new EmittedFile(SourceEmitter.HintName(model), model.QualifiedTypeName, null, e.GetType().Name + ": " + e.Message);
        }
    }
}

/// <summary>Names of the pipeline steps, for incrementality tests.</summary>
public static class TrackingNames
{
    /// <summary>Stage 1: parse one declaration (syntax and symbols → plain values).</summary>
    public const string Parse = nameof(Parse);

    /// <summary>Stage 2: analyse one parsed declaration (→ model and diagnostics).</summary>
    public const string Analyse = nameof(Analyse);

    /// <summary>The declaration's diagnostics (with the duplicate-name check).</summary>
    public const string Diagnostics = nameof(Diagnostics);

    /// <summary>The declaration's model, diagnostics removed.</summary>
    public const string Model = nameof(Model);

    /// <summary>Stage 3: emit one model (→ the generated file).</summary>
    public const string Emit = nameof(Emit);

    /// <summary>All catalogue names, for the duplicate check.</summary>
    public const string Names = nameof(Names);
}

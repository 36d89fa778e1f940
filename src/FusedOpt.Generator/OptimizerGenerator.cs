using System.Collections.Immutable;
using System.Linq;
using FusedOpt.Generator.Emit;
using FusedOpt.Generator.Helpers;
using FusedOpt.Generator.Model;
using FusedOpt.Generator.Parse;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace FusedOpt.Generator;

/// <summary>
/// Turns every <c>[Optimizer]</c> partial record into fused kernels. The pipeline reads top to bottom:
/// find the records → parse and analyse each into a value-equatable <see cref="RuleModel"/> (with its diagnostics
/// kept apart) → emit one file per declaration. Unchanged declarations compare equal and are not regenerated.
/// </summary>
[Generator(LanguageNames.CSharp)]
public sealed class OptimizerGenerator : IIncrementalGenerator
{
    /// <inheritdoc />
    public void Initialize(IncrementalGeneratorInitializationContext context)
    {
        var results = context.SyntaxProvider
            .ForAttributeWithMetadataName(
                RuleParser.AttributeName,
                static (node, _) => node is TypeDeclarationSyntax,
                static (ctx, ct) => RuleParser.Parse(ctx, ct))
            .WithTrackingName(TrackingNames.Parse);

        // Diagnostics travel on their own, so a new warning never regenerates source and vice versa.
        var diagnostics = results
            .Select(static (r, _) => r.Diagnostics)
            .WithTrackingName(TrackingNames.Diagnostics);
        context.RegisterSourceOutput(diagnostics, static (spc, list) =>
        {
            foreach (var d in list)
            {
                spc.ReportDiagnostic(d.ToDiagnostic());
            }
        });

        var models = results
            .Where(static r => r.Value is not null)
            .Select(static (r, _) => r.Value!)
            .WithTrackingName(TrackingNames.Model);
        context.RegisterSourceOutput(models, static (spc, model) =>
        {
            string source;
            try
            {
                source = SourceEmitter.Emit(model);
            }
            catch (System.Exception e) when (e is not System.OperationCanceledException)
            {
                // The generator never throws: an emitter bug is FOPT000 on the declaration, and no file is added.
                spc.ReportDiagnostic(Diagnostic.Create(Diagnostics.InternalError, Location.None, model.TypeName, e.GetType().Name + ": " + e.Message));
                return;
            }

            spc.AddSource(SourceEmitter.HintName(model), source);
        });

        // Two declarations with one catalogue name would clash at run time: say so at compile time.
        var names = models
            .Select(static (m, _) => new NameEntry(m.OptimizerName, (m.Namespace.Length > 0 ? m.Namespace + "." : "") + m.TypeName))
            .Collect()
            .WithTrackingName(TrackingNames.Names);
        context.RegisterSourceOutput(names, static (spc, entries) =>
        {
            foreach (var group in entries.GroupBy(static e => e.Name).Where(static g => g.Count() > 1))
            {
                var types = group.Select(static e => e.TypeName).OrderBy(static t => t, System.StringComparer.Ordinal).ToList();
                spc.ReportDiagnostic(Diagnostic.Create(Diagnostics.DuplicateName, Location.None, group.Key, types[0], types[1]));
            }
        });
    }

    private sealed record NameEntry(string Name, string TypeName);
}

/// <summary>Names of the pipeline steps, for incrementality tests.</summary>
public static class TrackingNames
{
    /// <summary>Parse and analyse one declaration.</summary>
    public const string Parse = nameof(Parse);

    /// <summary>The declaration's diagnostics.</summary>
    public const string Diagnostics = nameof(Diagnostics);

    /// <summary>The declaration's model, diagnostics removed.</summary>
    public const string Model = nameof(Model);

    /// <summary>All catalogue names, for the duplicate check.</summary>
    public const string Names = nameof(Names);
}

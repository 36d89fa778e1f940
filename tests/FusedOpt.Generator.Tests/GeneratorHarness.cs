using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using Basic.Reference.Assemblies;
using FusedOpt.Generator;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace FusedOpt.Tests;

/// <summary>Runs the generator on source text with <see cref="CSharpGeneratorDriver"/>, as the compiler would.</summary>
internal static class GeneratorHarness
{
    public static readonly CSharpParseOptions ParseOptions = new(LanguageVersion.Preview);

    private static readonly ImmutableArray<MetadataReference> References =
    [
        .. Net100.References.All,
        MetadataReference.CreateFromFile(typeof(IOptimizerRule).Assembly.Location),
        MetadataReference.CreateFromFile(typeof(ILGPU.Index1D).Assembly.Location),
    ];

    public static CSharpCompilation Compile(params string[] sources) =>
        CSharpCompilation.Create(
            "UserAssembly",
            sources.Select((s, i) => CSharpSyntaxTree.ParseText(s, ParseOptions, path: $"Rule{i}.cs")),
            References,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable)
                // As the SDK does: ILGPU targets an older System.Runtime, which unifies silently.
                .WithSpecificDiagnosticOptions([new("CS1701", ReportDiagnostic.Suppress), new("CS1702", ReportDiagnostic.Suppress)]));

    public static GeneratorDriver CreateDriver() =>
        CSharpGeneratorDriver.Create(
            [new OptimizerGenerator().AsSourceGenerator()],
            parseOptions: ParseOptions,
            driverOptions: new GeneratorDriverOptions(IncrementalGeneratorOutputKind.None, trackIncrementalGeneratorSteps: true));

    /// <summary>Runs the generator; returns the generator's diagnostics, the generated sources and the output compilation.</summary>
    public static Run Generate(params string[] sources)
    {
        var compilation = Compile(sources);
        var driver = CreateDriver().RunGeneratorsAndUpdateCompilation(compilation, out var output, out var diagnostics);
        var result = driver.GetRunResult();
        var generated = result.Results.SelectMany(static r => r.GeneratedSources).ToDictionary(static s => s.HintName, static s => s.SourceText.ToString());
        return new Run(diagnostics, generated, output, driver);
    }

    internal sealed record Run(ImmutableArray<Diagnostic> GeneratorDiagnostics, IReadOnlyDictionary<string, string> Sources, Compilation Output, GeneratorDriver Driver)
    {
        /// <summary>Errors and warnings of the compilation including the generated files, generator diagnostics included.</summary>
        public IReadOnlyList<Diagnostic> AllProblems =>
            [.. GeneratorDiagnostics.Concat(Output.GetDiagnostics()).Where(static d => d.Severity >= DiagnosticSeverity.Warning)];

        public string Describe() => string.Join(Environment.NewLine, AllProblems.Select(static d => d.ToString()));
    }
}

using System.Linq;
using FusedOpt.Generator;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Xunit;

namespace FusedOpt.Tests;

/// <summary>
/// The pipeline caches: models are value-equatable and hold no locations, so edits that do not change a declaration's
/// meaning do not regenerate it, and a change to one declaration regenerates only that one.
/// </summary>
public sealed class IncrementalityTests
{
    private const string First = """
        using FusedOpt;
        namespace User;
        [Optimizer("first")] public partial record First([NonNegative] float Lr = 0.1f) { void Update(ref float p, float g, ref float v) { v = 0.9f * v + g; p -= Lr * v; } }
        """;

    private const string Second = """
        using FusedOpt;
        namespace User;
        [Optimizer("second")] public partial record Second([NonNegative] float Lr = 0.2f) { void Update(ref float p, float g) { p -= Lr * g; } }
        """;

    [Fact]
    public void AddedComment_DoesNotRegenerate()
    {
        var (driver, compilation) = Start(First);

        var edited = Replace(compilation, 0, "// a comment the model does not see\n" + First);
        var result = driver.RunGenerators(edited, TestContext.Current.CancellationToken).GetRunResult().Results.Single();

        AssertReasons(result, TrackingNames.Model, IncrementalStepRunReason.Unchanged, IncrementalStepRunReason.Cached);
        Assert.All(result.TrackedOutputSteps.SelectMany(static s => s.Value).SelectMany(static s => s.Outputs),
            static o => Assert.True(o.Reason is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged, o.Reason.ToString()));
    }

    [Fact]
    public void ChangedDefaultLr_RegeneratesOnlyThatDeclaration()
    {
        var (driver, compilation) = Start(First, Second);

        var edited = Replace(compilation, 1, Second.Replace("0.2f", "0.3f", System.StringComparison.Ordinal));
        var result = driver.RunGenerators(edited, TestContext.Current.CancellationToken).GetRunResult().Results.Single();

        var reasons = result.TrackedSteps[TrackingNames.Model].SelectMany(static s => s.Outputs).Select(static o => o.Reason).ToList();
        Assert.Equal(1, reasons.Count(static r => r == IncrementalStepRunReason.Modified));
        Assert.Equal(1, reasons.Count(static r => r is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged));
    }

    [Fact]
    public void UnrelatedFile_IsCached()
    {
        var (driver, compilation) = Start(First);

        var edited = compilation.AddSyntaxTrees(CSharpSyntaxTree.ParseText("namespace User; public static class Helper { public static int Two => 2; }", GeneratorHarness.ParseOptions, cancellationToken: TestContext.Current.CancellationToken));
        var result = driver.RunGenerators(edited, TestContext.Current.CancellationToken).GetRunResult().Results.Single();

        AssertReasons(result, TrackingNames.Model, IncrementalStepRunReason.Cached, IncrementalStepRunReason.Unchanged);
    }

    [Fact]
    public void UnrelatedEdit_ParseAnalyseAndEmitAreCached()
    {
        const string helper = "namespace User; public static class Helper { public static int Two => 2; }";
        var (driver, compilation) = Start(First, helper);

        var edited = Replace(compilation, 1, helper.Replace("Two => 2", "Three => 3", System.StringComparison.Ordinal));
        var result = driver.RunGenerators(edited, TestContext.Current.CancellationToken).GetRunResult().Results.Single();

        AssertReasons(result, TrackingNames.Parse, IncrementalStepRunReason.Cached, IncrementalStepRunReason.Unchanged);
        AssertReasons(result, TrackingNames.Analyse, IncrementalStepRunReason.Cached, IncrementalStepRunReason.Unchanged);
        AssertReasons(result, TrackingNames.Emit, IncrementalStepRunReason.Cached, IncrementalStepRunReason.Unchanged);
    }

    [Fact]
    public void AddedComment_ReparsesButDoesNotReEmit()
    {
        var (driver, compilation) = Start(First);

        var edited = Replace(compilation, 0, "// moves every location down a line\n" + First);
        var result = driver.RunGenerators(edited, TestContext.Current.CancellationToken).GetRunResult().Results.Single();

        // The parsed rule holds its locations as values, so it changes; the model does not, so nothing is emitted again.
        AssertReasons(result, TrackingNames.Parse, IncrementalStepRunReason.Modified);
        AssertReasons(result, TrackingNames.Model, IncrementalStepRunReason.Unchanged);
        AssertReasons(result, TrackingNames.Emit, IncrementalStepRunReason.Cached);
    }

    [Fact]
    public void ChangedRuleBody_Regenerates()
    {
        var (driver, compilation) = Start(First);

        var edited = Replace(compilation, 0, First.Replace("0.9f * v", "0.8f * v", System.StringComparison.Ordinal));
        var result = driver.RunGenerators(edited, TestContext.Current.CancellationToken).GetRunResult().Results.Single();

        AssertReasons(result, TrackingNames.Model, IncrementalStepRunReason.Modified);
        AssertReasons(result, TrackingNames.Emit, IncrementalStepRunReason.Modified);
    }

    [Fact]
    public void AddedNonNegativeOnAState_Regenerates_WithTheFlag()
    {
        var (driver, compilation) = Start(First);

        // The state's sign is part of the model: the edit must not be taken for an unchanged declaration.
        var edited = Replace(compilation, 0, First.Replace("ref float v", "[NonNegative] ref float v", System.StringComparison.Ordinal));
        var run = driver.RunGenerators(edited, TestContext.Current.CancellationToken).GetRunResult();
        var result = run.Results.Single();

        AssertReasons(result, TrackingNames.Model, IncrementalStepRunReason.Modified);
        AssertReasons(result, TrackingNames.Emit, IncrementalStepRunReason.Modified);
        Assert.Contains("new(\"v\", 0.0, null, IsRead: true, IsWritten: true, NonNegative: true)", result.GeneratedSources.Single().SourceText.ToString(), System.StringComparison.Ordinal);
    }

    private static (GeneratorDriver Driver, CSharpCompilation Compilation) Start(params string[] sources)
    {
        var compilation = GeneratorHarness.Compile(sources);
        var driver = GeneratorHarness.CreateDriver().RunGenerators(compilation, TestContext.Current.CancellationToken);
        return (driver, compilation);
    }

    private static CSharpCompilation Replace(CSharpCompilation compilation, int index, string text)
    {
        var old = compilation.SyntaxTrees.ElementAt(index);
        return compilation.ReplaceSyntaxTree(old, CSharpSyntaxTree.ParseText(text, GeneratorHarness.ParseOptions, path: old.FilePath));
    }

    private static void AssertReasons(GeneratorRunResult result, string step, params IncrementalStepRunReason[] allowed)
    {
        var outputs = result.TrackedSteps[step].SelectMany(static s => s.Outputs).ToList();
        Assert.NotEmpty(outputs);
        Assert.All(outputs, o => Assert.Contains(o.Reason, allowed));
    }
}

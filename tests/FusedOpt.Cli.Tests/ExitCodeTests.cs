using System;
using System.IO;
using System.Linq;
using System.Text.Json;
using FusedOpt.Cli;
using Spectre.Console;
using Xunit;

namespace FusedOpt.Tests;

/// <summary>The exit-code convention's edges, and replay's outputs named from input files, never from case text.</summary>
public sealed class ExitCodeTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fusedopt-exit-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string Case(string name) =>
        $$"""{"name": {{JsonSerializer.Serialize(name)}}, "torch_optimizer": "SGD", "hyperparameters": {"lr": 0.5}, "initial": [1.0], "gradients": [[0.5]], "expected": [[0.75]]}""";

    private static CliContext Context(StringWriter error) =>
        new(AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(new StringWriter()) }), error);

    [Fact]
    public void Replay_OutputsAreNamedAfterTheInputFiles_NeverAfterTheCaseName()
    {
        string cases = Directory.CreateDirectory(Path.Combine(_dir, "cases")).FullName;
        string outside = Path.Combine(_dir, "escaped");
        File.WriteAllText(Path.Combine(cases, "a.json"), Case("../escaped"));
        File.WriteAllText(Path.Combine(cases, "b.json"), Case(Path.Combine(_dir, "absolute")));
        File.WriteAllText(Path.Combine(cases, "c.json"), Case("../escaped"));
        string output = Path.Combine(_dir, "out");

        var result = CliHarness.Run("replay", cases, "--out", output);

        Assert.Equal(0, result.ExitCode);
        Assert.Equal(["a.json", "b.json", "c.json"], Directory.GetFiles(output).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.False(File.Exists(outside + ".json"));
        Assert.False(File.Exists(Path.Combine(_dir, "absolute.json")));
        Assert.Equal(["cases", "out"], Directory.GetFileSystemEntries(_dir).Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Replay_OutIntoTheCasesFolder_IsRefused_AndTheCasesAreUntouched()
    {
        string cases = Directory.CreateDirectory(Path.Combine(_dir, "cases")).FullName;
        string file = Path.Combine(cases, "a.json");
        File.WriteAllText(file, Case("a"));

        var result = CliHarness.Run("replay", cases, "--out", cases);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("would overwrite the case file itself", result.Error, StringComparison.Ordinal);
        Assert.Equal(Case("a"), File.ReadAllText(file));
    }

    [Fact]
    public void Replay_ZeroStepCaseWithOut_IsABadInputError_NotACrash()
    {
        string file = Path.Combine(_dir, "empty.json");
        File.WriteAllText(file, """{"torch_optimizer": "SGD", "initial": [1.0], "gradients": [], "expected": []}""");

        var result = CliHarness.Run("replay", file, "--out", Path.Combine(_dir, "out.json"));

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("field 'gradients' is empty", result.Error, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(_dir, "out.json")));
    }

    [Fact]
    public void Replay_CaseNameWithControlCharacters_IsRefused()
    {
        string file = Path.Combine(_dir, "esc.json");
        File.WriteAllText(file, Case("\u001b[2Jgone"));

        var result = CliHarness.Run("replay", file);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("field 'name' contains control characters", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void UnknownFlag_ExitsWithTwo_NotTheCheckFailedCode()
    {
        var result = CliHarness.Run("list", "--bogus");

        Assert.Equal(2, result.ExitCode);
        Assert.Equal("error: Unrecognized command or argument '--bogus'; see 'fusedopt list --help'.", result.Error.Trim());
    }

    [Fact]
    public void BenchGemm_OneByOneByOne_ReportsAFiniteRate()
    {
        var result = CliHarness.Run("bench", "gemm", "--m", "1", "--n", "1", "--k", "1", "--threads", "1", "--json");

        Assert.Equal(0, result.ExitCode);
        using var doc = JsonDocument.Parse(result.Output);
        double gflops = doc.RootElement.GetProperty("gflops").GetDouble();
        Assert.True(double.IsFinite(gflops) && gflops > 0, $"gflops = {gflops}");
        Assert.True(doc.RootElement.GetProperty("bestSeconds").GetDouble() > 0);
    }

    [Fact]
    public void Guard_RangeError_PrintsTheMessageWithoutTheFrameworkSuffixes()
    {
        var error = new StringWriter();

        int code = Context(error).Guard(() => throw new ArgumentOutOfRangeException("threads", 0, "--threads must be ≥ 1, got 0."));

        Assert.Equal(2, code);
        Assert.Equal("error: --threads must be ≥ 1, got 0.", error.ToString().Trim());
    }

    [Fact]
    public void Guard_Bug_ExitsWithThree_InOneLine_WithoutAStackTrace()
    {
        var error = new StringWriter();

        int code = Context(error).Guard(() => throw new InvalidOperationException("the model is not built"));

        Assert.Equal(3, code);
        string text = error.ToString().Trim();
        Assert.DoesNotContain('\n', text);
        Assert.StartsWith("error: internal error (InvalidOperationException): the model is not built", text, StringComparison.Ordinal);
        Assert.DoesNotContain(" at ", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Guard_BugInsideAWorker_IsUnwrapped()
    {
        var error = new StringWriter();

        int code = Context(error).Guard(() => throw new AggregateException("A worker thread failed.", new FormatException("bad value")));

        Assert.Equal(2, code);
        Assert.Equal("error: bad value", error.ToString().Trim());
    }
}

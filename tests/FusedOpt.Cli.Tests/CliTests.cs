using System;
using System.IO;
using System.Linq;
using System.Text.Json;
using Xunit;

namespace FusedOpt.Tests;

/// <summary>The command line: outputs, exit codes, and errors that name the file, the field and the value.</summary>
public sealed class CliTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fusedopt-cli-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(string name, string content)
    {
        string path = Path.Combine(_dir, name);
        File.WriteAllText(path, content);
        return path;
    }

    private const string GoodCase = """
        {"name": "tiny_sgd", "torch_optimizer": "SGD", "hyperparameters": {"lr": 0.5},
         "initial": [1.0, -2.0], "gradients": [[0.5, 1.0], [1.0, 0.0]], "expected": [[0.75, -2.5], [0.25, -2.5]]}
        """;

    [Fact]
    public void List_ShowsEveryOptimizer_AndJsonParses()
    {
        var table = CliHarness.Run("list");
        var json = CliHarness.Run("list", "--json");

        Assert.Equal(0, table.ExitCode);
        Assert.Contains("torch.optim.AdaBelief", table.Output, StringComparison.Ordinal);
        using var doc = JsonDocument.Parse(json.Output);
        Assert.Contains(doc.RootElement.EnumerateArray(), static e => e.GetProperty("name").GetString() == "adam");
    }

    [Fact]
    public void Replay_GoodCase_PassesAndWritesTheTrajectory()
    {
        string path = Write("tiny.json", GoodCase);
        string output = Path.Combine(_dir, "out.json");

        var result = CliHarness.Run("replay", path, "--out", output, "--threads", "2");

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("tiny_sgd", result.Output, StringComparison.Ordinal);
        using var doc = JsonDocument.Parse(File.ReadAllText(output));
        Assert.Equal([0.25f, -2.5f], [.. doc.RootElement.GetProperty("final").EnumerateArray().Select(static e => e.GetSingle())]);
        Assert.Equal(2, doc.RootElement.GetProperty("trajectory").GetArrayLength());
    }

    [Fact]
    public void Replay_WrongExpectation_ExitsWithOne_AndShowsTheWorstElement()
    {
        string path = Write("off.json", GoodCase.Replace("0.25, -2.5]]", "0.26, -2.5]]", StringComparison.Ordinal));

        var result = CliHarness.Run("replay", path);

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("at step 2, element 0: expected 0.26, got 0.25", result.Output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("{ not json", "not valid JSON")]
    [InlineData("""{"torch_optimizer": "Adamm", "initial": [1], "gradients": [[1]], "expected": [[1]]}""", "field 'torch_optimizer' is 'Adamm', which no declaration reproduces")]
    [InlineData("""{"torch_optimizer": "Adam", "hyperparameters": {"momentum": 0.9}, "initial": [1], "gradients": [[1]], "expected": [[1]]}""", "field 'hyperparameters.momentum' is not a hyperparameter of adam")]
    [InlineData("""{"torch_optimizer": "Adam", "hyperparameters": {"betas": [1.5, 0.9]}, "initial": [1], "gradients": [[1]], "expected": [[1]]}""", "adam: Beta1 must be in [0, 1), got 1.5.")]
    [InlineData("""{"torch_optimizer": "Adam", "initial": [1, 2], "gradients": [[1]], "expected": [[1, 2]]}""", "field 'gradients[0]' has 1 values but 'initial' has 2")]
    [InlineData("""{"torch_optimizer": "Adam", "initial": [1], "gradients": [["x"]], "expected": [[1]]}""", "field 'gradients[0][0]' must be a number")]
    [InlineData("""{"initial": [1], "gradients": [[1]], "expected": [[1]]}""", "field 'torch_optimizer' is missing")]
    public void Replay_BadInput_IsAClearError_NamingTheFileAndField(string content, string message)
    {
        string path = Write("bad.json", content);

        var result = CliHarness.Run("replay", path);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains(path, result.Error, StringComparison.Ordinal);
        Assert.Contains(message, result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void Replay_MissingPath_IsAClearError()
    {
        var result = CliHarness.Run("replay", Path.Combine(_dir, "nowhere"));

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("no such file or folder", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void Replay_SharedReferences_AllPass()
    {
        SharedData.RequireDirectory(SharedData.ReferenceOptimizers, "Reference trajectories");

        var result = CliHarness.Run("replay", SharedData.ReferenceOptimizers, "--json");

        Assert.Equal(0, result.ExitCode);
        using var doc = JsonDocument.Parse(result.Output);
        Assert.Equal(21, doc.RootElement.GetArrayLength());
    }

    [Fact]
    public void BenchStep_TinySize_ReportsEveryVariant()
    {
        var result = CliHarness.Run("bench", "step", "--optimizer", "adam", "--size", "64K", "--threads", "2", "--rounds", "1", "--json");

        Assert.Equal(0, result.ExitCode);
        using var doc = JsonDocument.Parse(result.Output);
        Assert.Equal(6, doc.RootElement.GetProperty("variants").GetArrayLength());
        Assert.True(doc.RootElement.GetProperty("speedupVsNaive").GetDouble() > 0);
        Assert.Equal(28, doc.RootElement.GetProperty("variants")[0].GetProperty("bytesPerParameter").GetInt32());
    }

    [Theory]
    [InlineData("--optimizer", "adamm", "Unknown optimizer 'adamm'")]
    [InlineData("--size", "16Q", "unknown suffix 'Q'")]
    [InlineData("--threads", "0", "--threads must be between 1 and 1024, got 0")]
    [InlineData("--isa", "sse2", "--isa: 'sse2' is not an instruction set")]
    [InlineData("--set", "lr", "--set 'lr': expected name=value")]
    public void BenchStep_BadOption_NamesTheValue(string option, string value, string message)
    {
        string[] size = option == "--size" ? [] : ["--size", "1K"];
        var result = CliHarness.Run([.. new[] { "bench", "step", "--rounds", "1" }, .. size, option, value]);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains(message, result.Error, StringComparison.Ordinal);
    }
}

using System;
using System.IO;
using System.Linq;
using System.Text.Json;
using System.Text.Json.Nodes;
using FusedOpt.Models.Training;
using Xunit;

namespace FusedOpt.Tests;

/// <summary>
/// <c>train --step-in-backward</c> and <c>bench train --step-in-backward</c>: the run's metrics equal those of the separate
/// step (the oracle: the same run without the flag), the checkpoint keeps the flag through --resume, a conflicting
/// value is refused, and the benchmark reports both rows with the step's traffic.
/// </summary>
public sealed class StepInBackwardCliTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fusedopt-inbackward-cli-").FullName;

    public StepInBackwardCliTests()
    {
        Data = LearnableCifar10.Write(Path.Combine(_dir, "cifar"), recordsPerFile: 20, seed: 5);
    }

    private string Data { get; }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string[] Train(string output, params string[] extra) =>
        ["train", "--data", Data, "--hidden", "16", "--batch", "10", "--threads", "2", "--records-per-file", "any", "--out", output,
         "--optimizer", "sgd", "--lr", "0.05", "--set", "momentum=0.9", "--weight-decay", "0.001", .. extra];

    /// <summary>Metrics lines after the settings line, without wall-clock fields.</summary>
    private static string[] Metrics(string folder) =>
        [.. File.ReadAllLines(Path.Combine(folder, "metrics.jsonl")).Skip(1).Select(static line =>
        {
            var node = JsonNode.Parse(line)!.AsObject();
            node.Remove("seconds");
            node.Remove("imagesPerSecond");
            return node.ToJsonString();
        })];

    [Fact]
    public void Train_StepInBackward_MatchesTheSeparateStep_AndResumeKeepsIt()
    {
        string separate = Path.Combine(_dir, "separate", "run"), inBackward = Path.Combine(_dir, "inbackward", "run");
        var a = CliHarness.Run(Train(separate, "--epochs", "2"));
        var b = CliHarness.Run(Train(inBackward, "--epochs", "1", "--step-in-backward"));
        Assert.True(a.ExitCode == 0, a.Error + a.Output);
        Assert.True(b.ExitCode == 0, b.Error + b.Output);
        Assert.Contains("stepped inside backward", b.Output, StringComparison.Ordinal);
        Assert.True(Checkpoint.Read(Path.Combine(inBackward, Checkpoint.FileName)).Header.Options.StepInBackward);

        // Not given again: the checkpoint's setting holds.
        var resumed = CliHarness.Run("train", "--resume", inBackward, "--epochs", "2");

        Assert.True(resumed.ExitCode == 0, resumed.Error + resumed.Output);
        Assert.True(Checkpoint.Read(Path.Combine(inBackward, Checkpoint.FileName)).Header.Options.StepInBackward);
        Assert.Equal(Metrics(separate), Metrics(inBackward));
    }

    [Fact]
    public void Resume_WithAnotherStepInBackward_IsRefusedNamingIt()
    {
        string output = Path.Combine(_dir, "run");
        Assert.Equal(0, CliHarness.Run(Train(output, "--epochs", "1")).ExitCode);

        var result = CliHarness.Run("train", "--resume", output, "--epochs", "2", "--step-in-backward");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("--step-in-backward on (the checkpoint has off)", result.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void BenchTrain_StepInBackward_ReportsBothRowsAndTheStepTraffic()
    {
        var fcn = CliHarness.Run("bench", "train", "--hidden", "32", "--batch", "16", "--iterations", "2", "--step-in-backward", "--json");
        var vgg = CliHarness.Run("bench", "train", "--model", "vgg11", "--width", "0.125", "--batch", "4", "--iterations", "1", "--step-in-backward", "--json");
        var text = CliHarness.Run("bench", "train", "--hidden", "32", "--batch", "16", "--iterations", "1", "--step-in-backward");

        Assert.True(fcn.ExitCode == 0, fcn.Error);
        using var f = JsonDocument.Parse(fcn.Output);
        long parameters = f.RootElement.GetProperty("parameters").GetInt64();
        Assert.Equal((3072 * 32) + 32 + (32 * 10) + 10, parameters);
        Assert.True(f.RootElement.GetProperty("inBackwardImagesPerSecond").GetDouble() > 0);
        Assert.Equal(28 * parameters, f.RootElement.GetProperty("stepBytesPerIteration").GetInt64());   // Adam: p r/w, g, m r/w, v r/w
        Assert.Equal(4 * parameters, f.RootElement.GetProperty("inCacheBytesPerIteration").GetInt64());

        Assert.True(vgg.ExitCode == 0, vgg.Error);
        using var v = JsonDocument.Parse(vgg.Output);
        var inBackward = v.RootElement.GetProperty("inBackward");
        Assert.True(inBackward.GetProperty("bestSeconds").GetDouble() > 0);
        Assert.Equal(20 * v.RootElement.GetProperty("parameters").GetInt64(), inBackward.GetProperty("traffic").GetProperty("stepBytes").GetInt64());   // SGD-momentum: p r/w, g, buf r/w

        Assert.True(text.ExitCode == 0, text.Error);
        Assert.Contains("fused step inside backward:", text.Output, StringComparison.Ordinal);
        Assert.Contains("the separate step moves", text.Output, StringComparison.Ordinal);
    }
}

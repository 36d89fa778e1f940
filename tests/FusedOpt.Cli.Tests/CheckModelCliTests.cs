using System;
using System.IO;
using System.Linq;
using System.Text.Json;
using System.Text.Json.Nodes;
using Xunit;

namespace FusedOpt.Tests;

/// <summary><c>fusedopt check-model</c> and the convolutional models of <c>fusedopt gradcheck</c>.</summary>
public sealed class CheckModelCliTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fusedopt-check-model-").FullName;

    private static string ReferenceDir => Path.Combine(SharedData.SharedRoot, "reference", "vgg");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void CheckModel_PyTorchReferenceFolder_PassesEveryTensor_AndWritesTheCaseFormat()
    {
        SharedData.RequireDirectory(ReferenceDir, "VGG reference case");
        string written = Path.Combine(_dir, "ours");
        var result = CliHarness.Run("check-model", ReferenceDir, "--json", "--out", written);

        Assert.Equal(0, result.ExitCode);
        using var doc = JsonDocument.Parse(result.Output);
        var report = doc.RootElement.EnumerateArray().Single();
        Assert.True(report.GetProperty("passed").GetBoolean());
        Assert.Equal(53, report.GetProperty("tensors").GetArrayLength());

        // What --out wrote has the reference's fields and passes against itself when checked again.
        var ours = JsonNode.Parse(File.ReadAllText(Directory.EnumerateFiles(written).Single()))!;
        var reference = JsonNode.Parse(File.ReadAllText(Directory.EnumerateFiles(ReferenceDir, "*.json").Single()))!;
        Assert.Equal(reference["train"]!["gradients"]!.AsObject().Select(static p => p.Key), ours["train"]!["gradients"]!.AsObject().Select(static p => p.Key));
        Assert.Equal(0, CliHarness.Run("check-model", written).ExitCode);
    }

    [Fact]
    public void CheckModel_ReferenceWithAWrongGradient_ExitsOne_AndNamesTheTensor()
    {
        SharedData.RequireDirectory(ReferenceDir, "VGG reference case");
        var root = JsonNode.Parse(File.ReadAllText(Directory.EnumerateFiles(ReferenceDir, "*.json").Single()))!;
        var grad = root["train"]!["gradients"]!["0.8.weight"]!.AsArray();
        for (int i = 0; i < grad.Count; i++)
        {
            grad[i] = -grad[i]!.GetValue<double>();
        }

        string path = Path.Combine(_dir, "broken.json");
        File.WriteAllText(path, root.ToJsonString());
        var result = CliHarness.Run("check-model", path);

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("FAIL", result.Output, StringComparison.Ordinal);
        Assert.Contains("0.8.weight", result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public void CheckModel_MissingPathOrMalformedCase_ExitsTwo_WithAMessage()
    {
        var missing = CliHarness.Run("check-model", Path.Combine(_dir, "nope.json"));
        Assert.Equal(2, missing.ExitCode);
        Assert.Contains("nope.json", missing.Error, StringComparison.Ordinal);

        string bad = Path.Combine(_dir, "bad.json");
        File.WriteAllText(bad, """{"name": "x", "architecture": {"config": [8, "M"], "width": 1}}""");
        var malformed = CliHarness.Run("check-model", bad);
        Assert.Equal(2, malformed.ExitCode);
        Assert.Contains("input", malformed.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void Gradcheck_ConvModels_Pass()
    {
        var result = CliHarness.Run("gradcheck", "--models", "conv,conv-bn-pool,vgg-tiny", "--losses", "cross-entropy", "--json");

        Assert.Equal(0, result.ExitCode);
        using var doc = JsonDocument.Parse(result.Output);
        Assert.Equal(3, doc.RootElement.GetArrayLength());
    }

    [Fact]
    public void BenchTrain_Vgg11_ReportsThroughputLayersAndMemory_AndComparesAlgorithms()
    {
        var train = CliHarness.Run("bench", "train", "--model", "vgg11", "--width", "0.125", "--batch", "8", "--iterations", "1", "--json");
        Assert.Equal(0, train.ExitCode);
        using var doc = JsonDocument.Parse(train.Output);
        Assert.True(doc.RootElement.GetProperty("fusedImagesPerSecond").GetDouble() > 0);
        Assert.True(doc.RootElement.GetProperty("peakWorkingSetMiB").GetDouble() > 0);
        var layers = doc.RootElement.GetProperty("layers").EnumerateArray().ToList();
        Assert.Equal(8, layers.Count(static l => l.GetProperty("layer").GetString()!.StartsWith("conv", StringComparison.Ordinal)));
        Assert.All(layers.Where(static l => l.GetProperty("layer").GetString() == "conv2"), static l => Assert.True(l.GetProperty("forwardMs").GetDouble() > 0));

        var compare = CliHarness.Run("bench", "train", "--model", "vgg11", "--width", "0.125", "--batch", "4", "--iterations", "1", "--compare-conv", "--json");
        Assert.Equal(0, compare.ExitCode);
        using var rows = JsonDocument.Parse(compare.Output);
        Assert.Contains(rows.RootElement.EnumerateArray(), static r => r.GetProperty("algorithm").GetString() == "winograd");
        Assert.Contains(rows.RootElement.EnumerateArray(), static r => r.GetProperty("algorithm").GetString() == "winograd4x4" && r.GetProperty("chosenByAuto").GetBoolean());
        Assert.Equal(8, rows.RootElement.EnumerateArray().Count(static r => r.GetProperty("chosenByAuto").GetBoolean()));
    }
}

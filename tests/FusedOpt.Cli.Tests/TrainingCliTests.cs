using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json;
using Xunit;

namespace FusedOpt.Tests;

/// <summary>train, compare, gradcheck, bench gemm and bench train, on small synthetic CIFAR-10 files.</summary>
public sealed class TrainingCliTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fusedopt-train-cli-").FullName;

    public TrainingCliTests()
    {
        // Six files of 20 records each in the official layout, pixels that depend on the label.
        Data = LearnableCifar10.Write(Path.Combine(_dir, "cifar"), recordsPerFile: 20, seed: 3);
    }

    private string Data { get; }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>The command, the data folder, a small model, and <paramref name="extra"/> (which may replace a default).</summary>
    private string[] Common(params string[] extra)
    {
        var defaults = new (string Option, string Value)[] { ("--data", Data), ("--hidden", "16"), ("--batch", "10"), ("--threads", "2"), ("--records-per-file", "any") };
        return [.. extra, .. defaults.Where(d => !extra.Contains(d.Option)).SelectMany(static d => new[] { d.Option, d.Value })];
    }

    [Fact]
    public void Train_WritesMetricsCheckpointPlotsAndResult_AndResumes()
    {
        string output = Path.Combine(_dir, "run");

        var first = CliHarness.Run(Common("train", "--optimizer", "adam", "--lr", "0.01", "--epochs", "2", "--out", output));
        var resumed = CliHarness.Run("train", "--resume", output, "--epochs", "3", "--data", Data);

        Assert.True(first.ExitCode == 0, first.Error + first.Output);
        Assert.True(resumed.ExitCode == 0, resumed.Error + resumed.Output);
        Assert.Contains("resuming", resumed.Output, StringComparison.Ordinal);
        foreach (var file in new[] { "metrics.jsonl", "checkpoint.fopt", "loss.png", "accuracy.png", "result.json" })
        {
            Assert.True(File.Exists(Path.Combine(output, file)), file);
        }

        int epochs = File.ReadLines(Path.Combine(output, "metrics.jsonl")).Count(static l => l.Contains("\"epoch\"", StringComparison.OrdinalIgnoreCase) && l.Contains("testAccuracy", StringComparison.OrdinalIgnoreCase));
        Assert.Equal(3, epochs);
    }

    [Fact]
    public void Plot_TwoRuns_WritesChartsAndATableOfBestAndFinalAccuracy()
    {
        string a = Path.Combine(_dir, "plot-sgd"), b = Path.Combine(_dir, "plot-adam"), prefix = Path.Combine(_dir, "img", "study");
        Assert.Equal(0, CliHarness.Run(Common("train", "--optimizer", "sgd", "--lr", "0.05", "--epochs", "3", "--out", a)).ExitCode);
        Assert.Equal(0, CliHarness.Run(Common("train", "--optimizer", "adam", "--lr", "0.01", "--epochs", "2", "--out", b)).ExitCode);

        var plot = CliHarness.Run("plot", "sgd=" + a, b, "--out", prefix, "--table", prefix + ".md", "--json");

        Assert.True(plot.ExitCode == 0, plot.Error + plot.Output);
        Assert.True(File.Exists(prefix + "-accuracy.png"));
        Assert.True(File.Exists(prefix + "-loss.png"));
        var rows = JsonDocument.Parse(plot.Output).RootElement.EnumerateArray().ToList();
        Assert.Equal(["sgd", "plot-adam"], rows.Select(static r => r.GetProperty("label").GetString()));
        foreach (var (row, folder) in rows.Zip(new[] { a, b }))
        {
            // The oracle: the test accuracies train wrote to result.json, maximum and last taken here.
            using var result = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, "result.json")));
            var accuracies = result.RootElement.GetProperty("epochs").EnumerateArray().Select(static e => e.GetProperty("test").GetProperty("accuracy").GetDouble()).ToList();
            Assert.Equal(accuracies.Count, row.GetProperty("epochs").GetInt32());
            Assert.Equal(accuracies.Max(), row.GetProperty("bestTestAccuracy").GetDouble());
            Assert.Equal(accuracies.IndexOf(accuracies.Max()) + 1, row.GetProperty("bestEpoch").GetInt32());
            Assert.Equal(accuracies[^1], row.GetProperty("finalTestAccuracy").GetDouble());
        }

        string table = File.ReadAllText(prefix + ".md");
        Assert.Contains("| sgd | sgd | lr 0.05 | 3 |", table, StringComparison.Ordinal);
        Assert.Contains("| plot-adam | adam | lr 0.01 | 2 |", table, StringComparison.Ordinal);
    }

    [Fact]
    public void Plot_RunWithoutResult_ReadsItsEvaluatedEpochsFromTheMetrics()
    {
        string folder = Path.Combine(_dir, "plot-in-progress"), prefix = Path.Combine(_dir, "img", "progress");
        Assert.Equal(0, CliHarness.Run(Common("train", "--optimizer", "adam", "--lr", "0.01", "--epochs", "3", "--out", folder)).ExitCode);
        // The oracle: the test accuracies and losses train wrote to result.json. Then make the folder look like a run in
        // progress: no result.json, and a last metrics line cut off mid-write.
        string resultPath = Path.Combine(folder, "result.json");
        List<(double Accuracy, double TrainLoss)> expected;
        using (var result = JsonDocument.Parse(File.ReadAllText(resultPath)))
        {
            expected = [.. result.RootElement.GetProperty("epochs").EnumerateArray()
                .Select(static e => (e.GetProperty("test").GetProperty("accuracy").GetDouble(), e.GetProperty("trainLoss").GetDouble()))];
        }

        File.Delete(resultPath);
        File.AppendAllText(Path.Combine(folder, "metrics.jsonl"), "{\"kind\":\"iteration\",\"itera");

        var plot = CliHarness.Run("plot", "progress=" + folder, "--out", prefix, "--json");

        Assert.True(plot.ExitCode == 0, plot.Error + plot.Output);
        Assert.True(File.Exists(prefix + "-accuracy.png"));
        var row = Assert.Single(JsonDocument.Parse(plot.Output).RootElement.EnumerateArray().ToList());
        Assert.Equal("adam", row.GetProperty("optimizer").GetString());
        Assert.Contains("in progress", row.GetProperty("hyperparameters").GetString(), StringComparison.Ordinal);
        Assert.Equal(3, row.GetProperty("epochs").GetInt32());
        var accuracies = expected.Select(static e => e.Accuracy).ToList();
        Assert.Equal(accuracies.Max(), row.GetProperty("bestTestAccuracy").GetDouble());
        Assert.Equal(accuracies.IndexOf(accuracies.Max()) + 1, row.GetProperty("bestEpoch").GetInt32());
        Assert.Equal(accuracies[^1], row.GetProperty("finalTestAccuracy").GetDouble());
        Assert.Equal(expected[^1].TrainLoss, row.GetProperty("finalTrainLoss").GetDouble());
    }

    [Fact]
    public void Train_Json_InformationGoesToStderrAsPlainTextWithItsNumberFormats()
    {
        var run = CliHarness.Run(Common("train", "--optimizer", "sgd", "--epochs", "1", "--out", Path.Combine(_dir, "json"), "--json"));

        Assert.True(run.ExitCode == 0, run.Error + run.Output);
        // fcn 3072-16-10: 3072·16 + 16 + 16·10 + 10 parameters, printed with the {…:N0} group separators.
        Assert.Contains("49,338 parameters", run.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("[grey]", run.Error, StringComparison.Ordinal);
        using var _ = JsonDocument.Parse(run.Output);
    }

    [Fact]
    public void Plot_FolderWithoutResult_ExitsWith2NamingTheFile()
    {
        var run = CliHarness.Run("plot", Path.Combine(_dir, "nowhere"), "--out", Path.Combine(_dir, "x"));

        Assert.Equal(2, run.ExitCode);
        Assert.Contains("result.json does not exist", run.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void Compare_WritesOnePlotAndAMarkdownTable()
    {
        string output = Path.Combine(_dir, "compare");

        var result = CliHarness.Run(Common("compare", "--optimizers", "sgd,adam", "--lr", "sgd=0.05,adam=0.01", "--epochs", "1", "--also-naive", "--out", output));

        Assert.True(result.ExitCode == 0, result.Error + result.Output);
        string table = File.ReadAllText(Path.Combine(output, "compare.md"));
        Assert.Contains("| sgd | 0.05 |", table, StringComparison.Ordinal);
        Assert.Contains("| adam (naive step) | 0.01 |", table, StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(output, "loss.png")));
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "compare.json")));
        var runs = doc.RootElement.EnumerateArray().ToList();
        // The naive step trains to the same accuracy as the fused one.
        Assert.Equal(runs[2].GetProperty("finalTestAccuracy").GetDouble(), runs[3].GetProperty("finalTestAccuracy").GetDouble());
    }

    [Theory]
    [InlineData("--optimizer", "adamm", "Unknown optimizer 'adamm'")]
    [InlineData("--schedule", "sometimes", "sometimes")]
    [InlineData("--hidden", "16,x", "--hidden '16,x': 'x' is not a positive width")]
    [InlineData("--decay", "l3", "--decay 'l3': expected l2 or decoupled")]
    public void Train_BadOption_NamesIt(string option, string value, string message)
    {
        var result = CliHarness.Run(Common("train", "--epochs", "1", "--out", Path.Combine(_dir, "bad"), option, value));

        Assert.Equal(2, result.ExitCode);
        Assert.Contains(message, result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void Train_MissingData_IsAClearError()
    {
        var result = CliHarness.Run("train", "--data", Path.Combine(_dir, "nowhere"), "--epochs", "1");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("nowhere", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void Gradcheck_PassesOnEveryModelAndLoss()
    {
        var result = CliHarness.Run("gradcheck", "--models", "relu,dropout", "--losses", "ce,hinge", "--json");

        Assert.Equal(0, result.ExitCode);
        using var doc = JsonDocument.Parse(result.Output);
        Assert.Equal(4, doc.RootElement.GetArrayLength());
        Assert.All(doc.RootElement.EnumerateArray(), static r => Assert.True(r.GetProperty("maxRelError").GetDouble() < 1e-4));
    }

    [Fact]
    public void BenchGemm_And_BenchTrain_Report()
    {
        var gemm = CliHarness.Run("bench", "gemm", "--m", "64", "--n", "48", "--k", "32", "--threads", "2", "--json");
        var train = CliHarness.Run("bench", "train", "--hidden", "32", "--batch", "16", "--iterations", "2", "--json");

        Assert.Equal(0, gemm.ExitCode);
        Assert.True(JsonDocument.Parse(gemm.Output).RootElement.GetProperty("gflops").GetDouble() > 0);
        Assert.Equal(0, train.ExitCode);
        Assert.True(JsonDocument.Parse(train.Output).RootElement.GetProperty("fusedImagesPerSecond").GetDouble() > 0);
    }
}

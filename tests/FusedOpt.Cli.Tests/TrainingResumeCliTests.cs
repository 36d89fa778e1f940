using System;
using System.IO;
using System.Linq;
using System.Text.Json.Nodes;
using Xunit;

namespace FusedOpt.Tests;

/// <summary>
/// train --resume after a kill, resume options, divergence and compare's option checks, on small synthetic CIFAR-10
/// files. The oracle of a resumed run is the same run trained without interruption.
/// </summary>
public sealed class TrainingResumeCliTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fusedopt-resume-cli-").FullName;

    public TrainingResumeCliTests()
    {
        // Six files of 20 records each in the official layout, pixels that depend on the label.
        Data = LearnableCifar10.Write(Path.Combine(_dir, "cifar"), recordsPerFile: 20, seed: 5);
    }

    private string Data { get; }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string[] Train(string output, params string[] extra) =>
        ["train", "--data", Data, "--hidden", "16", "--batch", "10", "--threads", "2", "--records-per-file", "any", "--out", output,
         .. extra.Contains("--optimizer") ? Array.Empty<string>() : ["--optimizer", "adam", "--lr", "0.01"], .. extra];

    private static string WithoutTiming(string json)
    {
        var node = JsonNode.Parse(json)!;
        Strip(node);
        return node.ToJsonString();

        static void Strip(JsonNode? n)
        {
            switch (n)
            {
                case JsonObject o:
                    o.Remove("seconds");
                    o.Remove("imagesPerSecond");
                    foreach (var (_, child) in o)
                    {
                        Strip(child);
                    }

                    break;
                case JsonArray a:
                    foreach (var child in a)
                    {
                        Strip(child);
                    }

                    break;
            }
        }
    }

    [Fact]
    public void Resume_AfterKill_WithoutData_EqualsAnUninterruptedRun()
    {
        string straight = Path.Combine(_dir, "a", "run"), killed = Path.Combine(_dir, "b", "run");
        var full = CliHarness.Run(Train(straight, "--epochs", "2"));
        var first = CliHarness.Run(Train(killed, "--epochs", "1"));
        // What a kill during epoch 2 leaves: iterations after the checkpoint, an unfinished line, a checkpoint temporary.
        string metrics = Path.Combine(killed, "metrics.jsonl");
        File.AppendAllText(metrics, File.ReadLines(metrics).Skip(1).First() + "\n{\"kind\":\"iteration\",\"iter");
        File.WriteAllText(Path.Combine(killed, "checkpoint.fopt.tmp-31337"), "partial");

        var resumed = CliHarness.Run("train", "--resume", killed, "--epochs", "2");

        Assert.True(full.ExitCode == 0, full.Error + full.Output);
        Assert.True(first.ExitCode == 0, first.Error + first.Output);
        Assert.True(resumed.ExitCode == 0, resumed.Error + resumed.Output);
        Assert.Contains("the folder the run trained on", resumed.Output, StringComparison.Ordinal);
        Assert.Contains("epochs 1 → 2", resumed.Output, StringComparison.Ordinal);
        // Line 1 records the settings the run started with (--epochs 1 here, as a run extended later would); a run killed
        // mid-way and resumed has the same first line (the library tests kill mid-epoch). Everything after it matches.
        Assert.Equal(
            File.ReadAllLines(Path.Combine(straight, "metrics.jsonl")).Skip(1).Select(WithoutTiming),
            File.ReadAllLines(metrics).Skip(1).Select(WithoutTiming));
        Assert.Equal(WithoutTiming(File.ReadAllText(Path.Combine(straight, "result.json"))), WithoutTiming(File.ReadAllText(Path.Combine(killed, "result.json"))));
        Assert.Equal(2, JsonNode.Parse(File.ReadAllText(Path.Combine(killed, "result.json")))!["epochs"]!.AsArray().Count);
        Assert.False(File.Exists(Path.Combine(killed, "checkpoint.fopt.tmp-31337")));
        Assert.True(File.Exists(Path.Combine(killed, "loss.png")));
    }

    [Fact]
    public void Resume_ConflictingOptions_AreRefusedNamingThem()
    {
        string output = Path.Combine(_dir, "run");
        CliHarness.Run(Train(output, "--epochs", "1"));

        var result = CliHarness.Run("train", "--resume", output, "--epochs", "2", "--optimizer", "sgd", "--lr", "5", "--batch", "7");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("--optimizer sgd (the checkpoint has adam)", result.Error, StringComparison.Ordinal);
        Assert.Contains("--batch 7 (the checkpoint has 10)", result.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void Resume_AnotherIsaAndThreads_AreAppliedAndReported()
    {
        string output = Path.Combine(_dir, "run");
        CliHarness.Run(Train(output, "--epochs", "1"));

        var result = CliHarness.Run("train", "--resume", output, "--epochs", "2", "--isa", "scalar", "--threads", "1");

        Assert.True(result.ExitCode == 0, result.Error + result.Output);
        Assert.Contains("isa auto → scalar", result.Output, StringComparison.Ordinal);
        Assert.Contains("threads 2 → 1", result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public void Train_Diverged_ExitsWith1NamingTheIteration_KeepGoingTrainsOn()
    {
        string[] exploding = ["--optimizer", "sgd", "--lr", "1e30", "--epochs", "2"];

        var stopped = CliHarness.Run(Train(Path.Combine(_dir, "stop"), exploding));
        var kept = CliHarness.Run(Train(Path.Combine(_dir, "keep"), [.. exploding, "--keep-going"]));

        Assert.Equal(1, stopped.ExitCode);
        Assert.Matches(@"training diverged: the loss was \S+ at epoch 1, batch \d+ of 10 \(iteration \d+\)", stopped.Error);
        Assert.True(kept.ExitCode == 0, kept.Error + kept.Output);
    }

    [Theory]
    [InlineData("--optimizers", "", "--optimizers is empty")]
    [InlineData("--optimizers", "sgd,sgd", "--optimizers names sgd twice")]
    [InlineData("--lr", "sgd=abc", "--lr sgd: 'abc' is not a number")]
    [InlineData("--lr", "rmsprop=0.1", "--lr rmsprop=0.1: rmsprop is not in --optimizers (sgd, adam)")]
    [InlineData("--test-subset", "0", "--test-subset must be ≥ 1 image")]
    public void Compare_BadOption_IsRefusedUpFront_NamingIt(string option, string value, string message)
    {
        string[] args = ["compare", "--data", Data, "--hidden", "16", "--batch", "10", "--records-per-file", "any", "--epochs", "1", "--out", Path.Combine(_dir, "cmp")];
        if (option != "--optimizers")
        {
            args = [.. args, "--optimizers", "sgd,adam"];
        }

        var result = CliHarness.Run([.. args, option, value]);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains(message, result.Error, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(_dir, "cmp")), "nothing is trained before the options are checked");
    }

    /// <summary>
    /// A checkpoint written with --isa avx512 resumes in a process the runtime denies AVX-512 (DOTNET_EnableAVX512*=0):
    /// the run falls back, says so, and ends with the bits of an uninterrupted AVX-512 run.
    /// </summary>
    [Fact]
    public async System.Threading.Tasks.Task Resume_Avx512Checkpoint_OnAMachineWithoutAvx512_FallsBackToTheSameBits()
    {
        if (!FusedOpt.Kernels.IsaSupport.IsSupported(FusedOpt.Kernels.Isa.Avx512))
        {
            Assert.Skip("this machine has no AVX-512 to write the checkpoint with");
        }

        string straight = Path.Combine(_dir, "a", "run"), resumed = Path.Combine(_dir, "b", "run");
        Assert.Equal(0, CliHarness.Run(Train(straight, "--epochs", "2", "--isa", "avx512")).ExitCode);
        Assert.Equal(0, CliHarness.Run(Train(resumed, "--epochs", "1", "--isa", "avx512")).ExitCode);

        var start = new System.Diagnostics.ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            Environment = { ["DOTNET_EnableAVX512F"] = "0", ["DOTNET_EnableAVX512"] = "0", ["FUSEDOPT_ISA"] = null },
        };
        foreach (string arg in new[] { Path.Combine(AppContext.BaseDirectory, "fusedopt.dll"), "train", "--resume", resumed, "--epochs", "2" })
        {
            start.ArgumentList.Add(arg);
        }

        using var process = System.Diagnostics.Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        string stdout = await process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        await process.WaitForExitAsync(TestContext.Current.CancellationToken);

        Assert.True(process.ExitCode == 0, stdout + await stderr);
        Assert.Contains("isa avx512 is not supported here; training on with avx2", stdout, StringComparison.Ordinal);
        var expected = FusedOpt.Models.Training.Checkpoint.Read(Path.Combine(straight, "checkpoint.fopt"));
        var actual = FusedOpt.Models.Training.Checkpoint.Read(Path.Combine(resumed, "checkpoint.fopt"));
        Assert.True(expected.Optimizer.Span.SequenceEqual(actual.Optimizer.Span), "parameters or optimizer state differ from the uninterrupted AVX-512 run");
        Assert.Equal(
            File.ReadAllLines(Path.Combine(straight, "metrics.jsonl")).Skip(1).Select(WithoutTiming),
            File.ReadAllLines(Path.Combine(resumed, "metrics.jsonl")).Skip(1).Select(WithoutTiming));
    }
}

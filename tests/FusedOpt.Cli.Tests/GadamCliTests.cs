using System;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;
using FusedOpt.Cli;
using Xunit;

namespace FusedOpt.Tests;

/// <summary>
/// <c>fusedopt gadam</c> on small synthetic CIFAR-10 files: the modes agree bit for bit (standalone, parallel, and two
/// Open MPI ranks), a resumed run equals an uninterrupted one, and bad input exits with 2.
/// </summary>
public sealed class GadamCliTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fusedopt-gadam-cli-").FullName;

    public GadamCliTests()
    {
        // Six files of 40 records each in the official layout, pixels that depend on the label.
        Data = LearnableCifar10.Write(Path.Combine(_dir, "cifar"), recordsPerFile: 40, seed: 5);
    }

    private string Data { get; }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>The command with a small model and <paramref name="extra"/>, which may replace a default.</summary>
    private string[] Args(string output, params string[] extra)
    {
        var defaults = new (string Option, string Value)[]
        {
            ("--data", Data), ("--records-per-file", "any"), ("--hidden", "16"), ("--batch", "20"), ("--population", "4"),
            ("--validation-batch", "50"), ("--seed", "3"), ("--out", output),
        };
        return ["gadam", .. extra, .. defaults.Where(d => !extra.Contains(d.Option)).SelectMany(static d => new[] { d.Option, d.Value }), "--json"];
    }

    private static JsonElement Result(string output) => JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "result.json"))).RootElement;

    private static string Hash(string output) => Result(output).GetProperty("populationHash").GetString()!;

    private static string[] Losses(string output) =>
        [.. File.ReadLines(Path.Combine(output, "metrics.jsonl")).Where(static l => l.Contains("\"candidateLosses\"", StringComparison.Ordinal))
            .Select(static l => JsonDocument.Parse(l).RootElement.GetProperty("candidateLosses").GetRawText())];

    [Fact]
    public void Gadam_WritesMetricsCheckpointsCurvesAndResult()
    {
        string output = Path.Combine(_dir, "run");

        var run = CliHarness.Run(Args(output, "--generations", "2"));

        Assert.True(run.ExitCode == 0, run.Error + run.Output);
        foreach (var file in new[] { "metrics.jsonl", "loss.png", "accuracy.png", "result.json", "checkpoint/gadam.json", "checkpoint/g0002-m0.fopt", "checkpoint/g0002-m3.fopt" })
        {
            Assert.True(File.Exists(Path.Combine(output, file)), file);
        }

        Assert.False(File.Exists(Path.Combine(output, "checkpoint", "g0001-m0.fopt")), "older checkpoints are removed");
        var generation = JsonDocument.Parse(File.ReadLines(Path.Combine(output, "metrics.jsonl")).Last()).RootElement;
        Assert.Equal(1, generation.GetProperty("generation").GetInt32());
        Assert.Equal(4, generation.GetProperty("probabilities").GetArrayLength());
        Assert.Equal(4, generation.GetProperty("pairs").GetArrayLength());
        Assert.Equal(8, generation.GetProperty("candidateLosses").GetArrayLength());
        Assert.Equal(4, generation.GetProperty("survivors").GetArrayLength());
        Assert.True(generation.GetProperty("pairs")[0].TryGetProperty("mutated", out _));
        Assert.Equal(0, Result(output).GetProperty("bytesSent").GetInt64());
        Assert.Contains("populationHash", run.Output, StringComparison.Ordinal);
    }

    [Fact]
    public void StandaloneAndParallel_GiveBitIdenticalPopulations()
    {
        string standalone = Path.Combine(_dir, "standalone"), parallel = Path.Combine(_dir, "parallel");

        var a = CliHarness.Run(Args(standalone, "--generations", "2", "--mode", "standalone"));
        var b = CliHarness.Run(Args(parallel, "--generations", "2", "--mode", "parallel", "--workers", "3"));

        Assert.True(a.ExitCode == 0 && b.ExitCode == 0, a.Error + b.Error);
        Assert.Equal(Hash(standalone), Hash(parallel));
        Assert.Equal(Losses(standalone), Losses(parallel));
    }

    [Fact]
    public void Resume_AfterOneGeneration_MatchesTheUninterruptedRun()
    {
        string whole = Path.Combine(_dir, "whole"), split = Path.Combine(_dir, "split");

        var full = CliHarness.Run(Args(whole, "--generations", "2"));
        var first = CliHarness.Run(Args(split, "--generations", "1"));
        var resumed = CliHarness.Run("gadam", "--resume", split, "--generations", "2", "--data", Data, "--json");

        Assert.True(full.ExitCode == 0 && first.ExitCode == 0 && resumed.ExitCode == 0, full.Error + first.Error + resumed.Error);
        Assert.Contains("resuming", resumed.Error, StringComparison.Ordinal);
        Assert.Equal(Hash(whole), Hash(split));
        Assert.Equal(Losses(whole), Losses(split));
    }

    [Fact]
    public void OtherSeeds_AndUniformMutation_GiveOtherPopulations()
    {
        string a = Path.Combine(_dir, "a"), b = Path.Combine(_dir, "b"), c = Path.Combine(_dir, "c");

        CliHarness.Run(Args(a, "--generations", "1"));
        CliHarness.Run(Args(b, "--generations", "1", "--seed", "4"));
        var uniform = CliHarness.Run(Args(c, "--generations", "1", "--mutation", "uniform"));

        Assert.True(uniform.ExitCode == 0, uniform.Error);
        Assert.NotEqual(Hash(a), Hash(b));
        Assert.NotEqual(Hash(a), Hash(c));
    }

    [Fact]
    public void Plot_GadamAgainstTrain_WritesBothCharts_AndAMissingRunExitsWith2()
    {
        string gadam = Path.Combine(_dir, "plot-gadam"), adam = Path.Combine(_dir, "plot-adam"), prefix = Path.Combine(_dir, "img", "cmp");
        Assert.Equal(0, CliHarness.Run(Args(gadam, "--generations", "2")).ExitCode);
        var train = CliHarness.Run("train", "--data", Data, "--records-per-file", "any", "--hidden", "16", "--batch", "20", "--epochs", "2", "--optimizer", "adam", "--out", adam, "--json");
        Assert.True(train.ExitCode == 0, train.Error);

        var plot = CliHarness.Run("gadam", "plot", gadam, adam, "--out", prefix);
        var missing = CliHarness.Run("gadam", "plot", Path.Combine(_dir, "nowhere"), "--out", prefix);

        Assert.True(plot.ExitCode == 0, plot.Error);
        Assert.True(File.Exists(prefix + "-accuracy.png"));
        Assert.True(File.Exists(prefix + "-loss.png"));
        Assert.Equal(2, missing.ExitCode);
        Assert.Contains("result.json does not exist", missing.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void Bench_ReportsEveryInstructionSetAndThreadCount()
    {
        var run = CliHarness.Run("gadam", "bench", "--size", "1000", "--repeat", "1", "--threads", "2", "--json");

        Assert.True(run.ExitCode == 0, run.Error);
        var rows = JsonDocument.Parse(run.Output).RootElement.EnumerateArray().ToList();
        int isas = new[] { Kernels.Isa.Scalar, Kernels.Isa.Avx2, Kernels.Isa.Avx512 }.Count(Kernels.IsaSupport.IsSupported);
        Assert.Equal(2 * isas, rows.Count);
        Assert.All(rows, static r => Assert.True(r.GetProperty("nanosecondsPerElement").GetDouble() > 0));
    }

    [Theory]
    [InlineData("--population", "1", "--population must be ≥ 2")]
    [InlineData("--mutation", "gaussian", "--mutation 'gaussian'")]
    [InlineData("--mode", "cluster", "--mode 'cluster'")]
    [InlineData("--model", "vgg11", "--model 'vgg11'")]
    [InlineData("--mutation-rate", "2", "--mutation-rate must be in [0, 1]")]
    public void BadInput_ExitsWith2_NamingTheValue(string option, string value, string message)
    {
        var run = CliHarness.Run(Args(Path.Combine(_dir, "bad"), option, value));

        Assert.Equal(2, run.ExitCode);
        Assert.Contains(message, run.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void Resume_WithoutCheckpoint_ExitsWith2()
    {
        var run = CliHarness.Run("gadam", "--resume", Path.Combine(_dir, "nothing"), "--data", Data);

        Assert.Equal(2, run.ExitCode);
        Assert.Contains("no checkpoint", run.Error, StringComparison.Ordinal);
    }

    /// <summary>
    /// Two Open MPI ranks (loopback, oversubscribed) against the standalone run: the same population hash, and the
    /// parents' parameters crossed ranks. Skips when mpirun is absent, except under CI=true where that is a failure.
    /// </summary>
    [Fact]
    public async Task Mpi_TwoRanks_MatchStandalone_BitForBit()
    {
        string? mpirun = FindOnPath("mpirun");
        if (mpirun is null)
        {
            Assert.False(Environment.GetEnvironmentVariable("CI") == "true", "mpirun is not installed; .ci/run installs openmpi-bin from .ci/apt-packages.");
            Assert.Skip("mpirun not found on PATH; install openmpi-bin and libopenmpi-dev to run the 2-rank test.");
        }

        string standalone = Path.Combine(_dir, "mpi-reference"), distributed = Path.Combine(_dir, "mpi-2");
        var reference = CliHarness.Run(Args(standalone, "--generations", "2"));
        Assert.True(reference.ExitCode == 0, reference.Error);

        var start = new ProcessStartInfo(mpirun) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };

        // Containers often forbid the cross-memory attach Open MPI's shared-memory transport uses for large messages.
        start.Environment["OMPI_MCA_btl_vader_single_copy_mechanism"] = "none";
        foreach (string arg in new[] { "--allow-run-as-root", "--oversubscribe", "-np", "2", "dotnet", CliDll() }.Concat(Args(distributed, "--generations", "2")))
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(TimeSpan.FromMinutes(3));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail("mpirun -np 2 did not finish within 3 minutes.");
        }

        string output = await stdout + await stderr;
        Assert.True(process.ExitCode == 0, $"mpirun exited with {process.ExitCode}: {output}");
        var result = Result(distributed);
        Assert.Equal(2, result.GetProperty("ranks").GetInt32());
        Assert.Equal(Hash(standalone), Hash(distributed));
        Assert.Equal(Losses(standalone), Losses(distributed));
        Assert.True(result.GetProperty("bytesSent").GetInt64() > 0, "the ranks exchanged fitness values and parents");
    }

    private static string CliDll()
    {
        string dll = typeof(CliApp).Assembly.Location;
        Assert.True(File.Exists(Path.ChangeExtension(dll, ".runtimeconfig.json")), $"{dll} has no runtimeconfig.json beside it; build src/FusedOpt.Cli.");
        return dll;
    }

    private static string? FindOnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => Path.Combine(dir, name)).FirstOrDefault(File.Exists);
}

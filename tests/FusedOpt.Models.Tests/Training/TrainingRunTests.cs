using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json.Nodes;
using FusedOpt.Kernels;
using FusedOpt.Models;
using FusedOpt.Models.Data;
using FusedOpt.Models.Training;
using FusedOpt.Models.Training.Metrics;
using FusedOpt.Tests.Data;
using Xunit;

namespace FusedOpt.Tests.Training;

/// <summary>
/// Runs on disk: a run killed mid-epoch and resumed writes what an uninterrupted run writes (metrics without timing,
/// result.json without timing, parameters and layer buffers bit for bit); resume options are checked; divergence stops.
/// The oracle of every resume test is the same run trained without interruption.
/// </summary>
public sealed class TrainingRunTests : IDisposable
{
    private static readonly string[] TimingFields = ["seconds", "imagesPerSecond"];

    private readonly SyntheticCifar10 _files = SmallRun.Files();
    private readonly string _dir = Directory.CreateTempSubdirectory("fusedopt-run-").FullName;

    public void Dispose()
    {
        _files.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    private Cifar10Dataset Data() => Cifar10.Load(_files.Folder, SyntheticCifar10.Options);

    private static TrainOptions Small(int epochs) => SmallRun.Options(epochs);

    /// <summary>The FCN with a <see cref="RunningMeanLayer{T}"/> after the flatten: a model with a buffer.</summary>
    private static ModelSpec WithBuffer(string name = "stats")
    {
        var fcn = Fcn.Spec(hidden: [24, 16], dropout: 0.1, seed: 7);
        return new ModelSpec(fcn.Layers.Insert(1, new RunningMeanSpec(3 * 32 * 32, name)));
    }

    private sealed class KillAfter(int iterations) : IProgress<TrainProgress>
    {
        public void Report(TrainProgress value)
        {
            if (value.Iteration == iterations)
            {
                throw new OperationCanceledException($"killed after iteration {iterations}");
            }
        }
    }

    private sealed record Outcome(float[] Parameters, float[][] Buffers, string Folder);

    private Outcome Uninterrupted(string parent, TrainOptions options, ModelSpec? spec = null)
    {
        string folder = Path.Combine(_dir, parent, "run");
        using var run = TrainingRun.Start(Data(), options, "run", folder, spec);
        run.Run();
        return new Outcome(run.Trainer.Arena.Params.Span.ToArray(), [.. run.Trainer.Model.Buffers.Select(static b => b.Values.ToArray())], folder);
    }

    /// <summary>Trains until <paramref name="killAt"/> iterations, then throws out of the loop as a kill would.</summary>
    private string Killed(string parent, TrainOptions options, int killAt, ModelSpec? spec = null)
    {
        string folder = Path.Combine(_dir, parent, "run");
        using var run = TrainingRun.Start(Data(), options, "run", folder, spec);
        Assert.Throws<OperationCanceledException>(() => run.Run(new KillAfter(killAt)));
        return folder;
    }

    private Outcome Resumed(string folder, TrainOptions? options = null, ModelSpec? spec = null)
    {
        using var run = TrainingRun.Resume(Data(), Path.Combine(folder, Checkpoint.FileName), options: options, spec: spec);
        run.Run();
        return new Outcome(run.Trainer.Arena.Params.Span.ToArray(), [.. run.Trainer.Model.Buffers.Select(static b => b.Values.ToArray())], folder);
    }

    /// <summary>Every line of a metrics file, with the timing fields removed.</summary>
    private static List<string> MetricsWithoutTiming(string folder) =>
        [.. File.ReadAllLines(Path.Combine(folder, TrainingRun.MetricsFileName)).Select(static l => WithoutTiming(JsonNode.Parse(l)!))];

    private static string ResultWithoutTiming(string folder) => WithoutTiming(JsonNode.Parse(File.ReadAllText(Path.Combine(folder, TrainingRun.ResultFileName)))!);

    private static string WithoutTiming(JsonNode node)
    {
        Strip(node);
        return node.ToJsonString();

        static void Strip(JsonNode? n)
        {
            if (n is JsonObject o)
            {
                foreach (string field in TimingFields)
                {
                    o.Remove(field);
                }

                foreach (var (_, child) in o)
                {
                    Strip(child);
                }
            }
            else if (n is JsonArray a)
            {
                foreach (var child in a)
                {
                    Strip(child);
                }
            }
        }
    }

    private static void AssertSameBits(float[] expected, float[] actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        int first = Enumerable.Range(0, expected.Length).FirstOrDefault(i => BitConverter.SingleToInt32Bits(expected[i]) != BitConverter.SingleToInt32Bits(actual[i]), -1);
        Assert.True(first < 0, first < 0 ? "" : $"{what} differ first at [{first}]: expected {expected[first]:R}, got {actual[first]:R}");
    }

    [Fact]
    public void Resume_AfterKillMidEpoch_MetricsResultAndParametersEqualUninterruptedRun()
    {
        var straight = Uninterrupted("straight", Small(3));
        string folder = Killed("killed", Small(3), killAt: 7 + 3); // 40 images / 6 = 7 batches per epoch: 3 into epoch 2

        // What a kill leaves besides the extra iterations: an unfinished last line and a checkpoint temporary.
        File.AppendAllText(Path.Combine(folder, TrainingRun.MetricsFileName), "{\"kind\":\"iteration\",\"itera");
        File.WriteAllText(Path.Combine(folder, Checkpoint.FileName + ".tmp-424242"), "half a checkpoint");
        var resumed = Resumed(folder);

        AssertSameBits(straight.Parameters, resumed.Parameters, "parameters");
        Assert.Equal(MetricsWithoutTiming(straight.Folder), MetricsWithoutTiming(folder));
        Assert.Equal(ResultWithoutTiming(straight.Folder), ResultWithoutTiming(folder));
        Assert.False(File.Exists(Path.Combine(folder, Checkpoint.FileName + ".tmp-424242")));
        Assert.Equal(3 * 7, MetricsReader.ReadAll(Path.Combine(folder, TrainingRun.MetricsFileName)).OfType<IterationMetrics>().Count());
    }

    [Fact]
    public void Resume_ModelWithBuffer_ParametersAndBuffersEqualUninterruptedRun()
    {
        var straight = Uninterrupted("straight", Small(2), WithBuffer());
        string folder = Killed("killed", Small(2), killAt: 7 + 5, WithBuffer());
        var resumed = Resumed(folder, spec: WithBuffer());

        Assert.Single(straight.Buffers);
        Assert.Contains(straight.Buffers[0], static v => v != 0);
        AssertSameBits(straight.Buffers[0], resumed.Buffers[0], "running means");
        AssertSameBits(straight.Parameters, resumed.Parameters, "parameters");
    }

    [Fact]
    public void Resume_Vgg11_ParametersAndBatchNormStatisticsEqualUninterruptedRun()
    {
        // The catalogue's VGG11-BN at width 1/16 (4…32 channels): BatchNorm running statistics are the buffers.
        var vgg = Small(2) with { Model = "vgg11", Width = 0.0625, Dropout = 0 };
        var straight = Uninterrupted("vgg-straight", vgg);
        string folder = Killed("vgg-killed", vgg, killAt: 7 + 4);
        var resumed = Resumed(folder);

        Assert.Equal(2 * 8, straight.Buffers.Length); // running_mean and running_var of 8 BatchNorm layers
        Assert.All(straight.Buffers, static b => Assert.Contains(b, static v => v != 0 && v != 1));
        for (int i = 0; i < straight.Buffers.Length; i++)
        {
            AssertSameBits(straight.Buffers[i], resumed.Buffers[i], $"BatchNorm buffer {i}");
        }

        AssertSameBits(straight.Parameters, resumed.Parameters, "parameters");
        Assert.Equal(MetricsWithoutTiming(Path.Combine(_dir, "vgg-straight", "run")), MetricsWithoutTiming(folder));
    }

    [Fact]
    public void Resume_BufferOfAnotherName_IsRefusedNamingBoth()
    {
        string folder = Killed("killed", Small(2), killAt: 9, WithBuffer("stats"));

        var e = Assert.Throws<CheckpointException>(() => Resumed(folder, spec: WithBuffer("other")));

        Assert.Contains("'stats.running_mean'", e.Message, StringComparison.Ordinal);
        Assert.Contains("'other.running_mean'", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(Isa.Avx2)]
    [InlineData(Isa.Scalar)]
    public void Resume_CheckpointOfAvx512_WithAnotherIsa_GivesTheAvx512Bits(Isa isa)
    {
        if (!IsaSupport.IsSupported(Isa.Avx512))
        {
            Assert.Skip("this machine has no AVX-512");
        }

        var avx512 = Small(2) with { Isa = Isa.Avx512 };
        var straight = Uninterrupted("straight", avx512);
        string folder = Killed("killed", avx512, killAt: 8);
        var resumed = Resumed(folder, avx512 with { Isa = isa });

        AssertSameBits(straight.Parameters, resumed.Parameters, "parameters");
    }

    [Fact]
    public void Resume_ChangedEpochsAndThreads_AreAppliedAndReported()
    {
        string folder = Killed("killed", Small(2), killAt: 9);
        string checkpoint = Path.Combine(folder, Checkpoint.FileName);

        using var run = TrainingRun.Resume(Data(), checkpoint, options: Small(3) with { Threads = 1 });

        Assert.Equal(3, run.Trainer.Options.Epochs);
        Assert.Equal(1, run.Trainer.Options.Threads);
        Assert.Contains("epochs 2 → 3", run.Notes);
        Assert.Contains("threads 2 → 1", run.Notes);
    }

    [Fact]
    public void Resume_WithFewerEpochsThanCompleted_IsRefused()
    {
        string folder = Killed("killed", Small(3), killAt: (2 * 7) + 1);

        var e = Assert.Throws<ArgumentException>(() => TrainingRun.Resume(Data(), Path.Combine(folder, Checkpoint.FileName), options: Small(1)).Dispose());

        Assert.Contains("--epochs 1: the run has already completed 2 epochs", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("optimizer", "--optimizer sgd (the checkpoint has adam)")]
    [InlineData("lr", "--lr 5 (the checkpoint has 0.003)")]
    [InlineData("batch", "--batch 7 (the checkpoint has 6)")]
    [InlineData("seed", "--seed 8 (the checkpoint has 7)")]
    [InlineData("augment", "--augment False (the checkpoint has True)")]
    public void Resume_ConflictingOption_IsRefusedNamingIt(string what, string message)
    {
        string folder = Killed("killed", Small(2), killAt: 9);
        var options = what switch
        {
            "optimizer" => Small(2) with { Optimizer = "sgd", Hyperparameters = new Dictionary<string, double>() },
            "lr" => Small(2) with { Hyperparameters = new Dictionary<string, double> { ["lr"] = 5 } },
            "batch" => Small(2) with { BatchSize = 7 },
            "seed" => Small(2) with { Seed = 8 },
            _ => Small(2) with { Augment = false },
        };

        var e = Assert.Throws<ArgumentException>(() => TrainingRun.Resume(Data(), Path.Combine(folder, Checkpoint.FileName), options: options).Dispose());

        Assert.Contains(message, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Diverged_StopsNamingEpochAndIteration_KeepGoingTrainsOn()
    {
        var exploding = Small(2) with { Optimizer = "sgd", Hyperparameters = new Dictionary<string, double> { ["lr"] = 1e30 }, WeightDecay = 0, Dropout = 0 };

        RunResult stopped, kept;
        using (var run = TrainingRun.Start(Data(), exploding, "stop", Path.Combine(_dir, "stop")))
        {
            stopped = run.Run();
        }

        using (var run = TrainingRun.Start(Data(), exploding with { KeepGoing = true }, "keep", Path.Combine(_dir, "keep")))
        {
            kept = run.Run();
        }

        Assert.NotNull(stopped.Diverged);
        Assert.Matches(@"training diverged: the loss was (NaN|Infinity|-Infinity) at epoch 1, batch \d+ of 7 \(iteration \d+\)", stopped.Diverged);
        Assert.Empty(stopped.Epochs);
        Assert.False(File.Exists(Path.Combine(_dir, "stop", Checkpoint.FileName)));
        Assert.Null(kept.Diverged);
        Assert.Equal(2, kept.Epochs.Count);
    }

    [Fact]
    public void MetricsCutBack_KeepsExactlyThePrefix_AndRefusesAMidLineLength()
    {
        string path = Path.Combine(_dir, "m.jsonl");
        File.WriteAllText(path, "{\"a\":1}\n{\"b\":2}\n{\"c\":");

        Assert.Throws<InvalidDataException>(() => MetricsFile.CutBack(path, 5));
        Assert.Throws<InvalidDataException>(() => MetricsFile.CutBack(path, 1000));
        long removed = MetricsFile.CutBack(path, 8);

        Assert.Equal("{\"a\":1}\n", File.ReadAllText(path));
        Assert.Equal(8 + 5, removed);
        Assert.Empty(Directory.EnumerateFiles(_dir, "m.jsonl.tmp-*"));
    }

    [Fact]
    public void RememberedDataFolder_ThatIsNotAFullPath_IsRefused()
    {
        var header = new CheckpointHeader(Small(1), 1, 8, default, [0, 0, 0], [1, 1, 1], DataFolder: "../../etc");
        var contents = new CheckpointContents(header, ReadOnlyMemory<byte>.Empty, [], Checkpoint.Version);

        var e = Assert.Throws<CheckpointException>(() => TrainingRun.RememberedDataFolder(contents, "x.fopt"));

        Assert.Contains("'../../etc' is not a full, normalised path", e.Message, StringComparison.Ordinal);
    }

    private sealed class Progress : IProgress<TrainProgress>
    {
        public long Last { get; private set; }

        public void Report(TrainProgress value) => Last = value.Iteration;
    }

    /// <summary>
    /// Steps (metrics lines and progress reports included) allocate nothing: an epoch of 20 iterations allocates no more than an epoch of 7 (what an epoch allocates
    /// once — the test pass, the data order — is the same for both), with a buffer layer, dropout and augmentation on.
    /// </summary>
    [Fact]
    public void Trainer_Iterations_AllocateNothing()
    {
        long Allocated(int batch)
        {
            var options = Small(6) with { BatchSize = batch, Schedule = "constant", Threads = 2 };
            using var trainer = new Trainer(Data(), options, WithBuffer());
            using var metrics = new MetricsWriter(Stream.Null);
            var progress = new Progress();
            trainer.RunEpoch(metrics, progress);

            // Only what this thread allocates (other test classes run in parallel), the least of three epochs.
            return Allocations.OnThisThread(() => trainer.RunEpoch(metrics, progress), windows: 3);
        }

        long seven = Allocated(6), twenty = Allocated(2);

        Assert.True(twenty - seven <= 13 * 4, $"an epoch of 7 iterations allocated {seven:N0} bytes, one of 20 {twenty:N0}: {(twenty - seven) / 13.0:N1} bytes per iteration");
    }

    /// <summary>
    /// A version-1 checkpoint (no buffers, no data folder, no metrics length) still resumes: the metrics are cut after
    /// the checkpoint's epoch record instead, and the run ends as the uninterrupted one.
    /// </summary>
    [Fact]
    public void Resume_VersionOneCheckpoint_CutsMetricsAfterItsEpoch_AndEqualsUninterruptedRun()
    {
        var straight = Uninterrupted("straight", Small(2));
        string folder = Killed("killed", Small(2), killAt: 7 + 4);
        string path = Path.Combine(folder, Checkpoint.FileName);
        var v2 = Checkpoint.Read(path);
        var json = System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(
            v2.Header with { DataFolder = null, MetricsBytes = null },
            new System.Text.Json.JsonSerializerOptions { Converters = { new System.Text.Json.Serialization.JsonStringEnumConverter() }, IncludeFields = true });
        var body = new List<byte>();
        body.AddRange("FOPTCKPT"u8.ToArray());
        body.AddRange(BitConverter.GetBytes(1u));
        body.AddRange(BitConverter.GetBytes((uint)json.Length));
        body.AddRange(json);
        body.AddRange(v2.Optimizer.ToArray());
        body.AddRange(BitConverter.GetBytes(System.IO.Hashing.XxHash3.HashToUInt64([.. body])));
        File.WriteAllBytes(path, [.. body]);

        Assert.Equal(1u, Checkpoint.Read(path).Version);
        var resumed = Resumed(folder);

        AssertSameBits(straight.Parameters, resumed.Parameters, "parameters");
        Assert.Equal(MetricsWithoutTiming(straight.Folder), MetricsWithoutTiming(folder));
    }
}

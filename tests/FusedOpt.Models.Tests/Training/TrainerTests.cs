using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using FusedOpt.Models.Data;
using FusedOpt.Models.Training;
using FusedOpt.Models.Training.Metrics;
using FusedOpt.Tests.Data;
using Xunit;

namespace FusedOpt.Tests.Training;

/// <summary>The training loop: learning happens, runs are deterministic, and a resumed run continues bit for bit.</summary>
public sealed class TrainerTests : IDisposable
{
    private readonly SyntheticCifar10 _files = SmallRun.Files();
    private readonly string _dir = Directory.CreateTempSubdirectory("fusedopt-train-").FullName;

    public void Dispose()
    {
        _files.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    private Cifar10Dataset Data() => Cifar10.Load(_files.Folder, SyntheticCifar10.Options);

    private static TrainOptions Small(int epochs) => SmallRun.Options(epochs);

    [Fact]
    public void TwoEpochs_EqualOneEpoch_Checkpoint_ResumeOneEpoch_Bitwise()
    {
        var data = Data();
        float[] straight;
        using (var trainer = new Trainer(data, Small(2)))
        {
            trainer.RunEpoch();
            trainer.RunEpoch();
            straight = trainer.Arena.Params.Span.ToArray();
        }

        string path = Path.Combine(_dir, "checkpoint.fopt");
        using (var first = new Trainer(data, Small(2)))
        {
            first.RunEpoch();
            first.SaveCheckpoint(path);
        }

        using var resumed = Trainer.Resume(Data(), path);
        Assert.Equal(1, resumed.Epoch);
        resumed.RunEpoch();

        Assert.Equal(2, resumed.Epoch);
        Assert.Equal(straight.Length, resumed.Arena.Params.Span.Length);
        Assert.True(straight.AsSpan().SequenceEqual(resumed.Arena.Params.Span), "resumed parameters differ from the uninterrupted run");
    }

    [Fact]
    public void SameOptions_SameParameters()
    {
        var data = Data();
        using var a = new Trainer(data, Small(1));
        using var b = new Trainer(data, Small(1));
        a.RunEpoch();
        b.RunEpoch();

        Assert.True(a.Arena.Params.Span.SequenceEqual(b.Arena.Params.Span));
    }

    [Fact]
    public void FusedAndNaiveSteps_TrainToTheSameParameters()
    {
        var data = Data();
        using var fused = new Trainer(data, Small(1));
        using var naive = new Trainer(data, Small(1) with { StepMode = StepMode.Naive });
        fused.RunEpoch();
        naive.RunEpoch();

        Assert.True(fused.Arena.Params.Span.SequenceEqual(naive.Arena.Params.Span));
    }

    [Fact]
    public void Loss_Falls_AndMetricsAreWritten()
    {
        string metricsPath = Path.Combine(_dir, "metrics.jsonl");
        var options = Small(15) with { Dropout = 0, Augment = false, Schedule = "constant", WeightDecay = 0, Hyperparameters = new Dictionary<string, double> { ["lr"] = 1e-2 } };
        var results = new List<EpochResult>();
        using (var metrics = new MetricsWriter(metricsPath))
        using (var trainer = new Trainer(Data(), options))
        {
            for (int e = 0; e < options.Epochs; e++)
            {
                results.Add(trainer.RunEpoch(metrics));
            }
        }

        Assert.True(results[^1].TrainLoss < 0.9 * results[0].TrainLoss, $"loss {results[0].TrainLoss} → {results[^1].TrainLoss}");
        var records = MetricsReader.ReadAll(metricsPath);
        Assert.Equal(options.Epochs, records.OfType<EpochMetrics>().Count());
        Assert.Equal(results[^1].Iteration, records.OfType<IterationMetrics>().Count());
    }

    [Theory]
    [InlineData("fcn")]
    [InlineData("vgg11")]
    public void Evaluate_RunsInSlicesOfTheTrainingBatch_MatchesOneImagePerForward(string model)
    {
        // Training batch 6; the test set's 10 images read as one minibatch of 10 run forward as slices of 6 and 4, so the
        // model's buffers never grow past the training batch. The oracle: the same trained model evaluated one image per
        // forward pass (evaluation mode treats every image on its own), which slices nothing. VGG11 (width 1/8) runs the
        // convolutions, BatchNorm in evaluation mode and the pools sliced.
        var data = Data();
        var options = model == "fcn" ? Small(1) : Small(1) with { Model = "vgg11", Width = 0.125, Dropout = 0 };
        using var sliced = new Trainer(data, options with { EvalBatchSize = 10 });
        using var single = new Trainer(data, options with { EvalBatchSize = 1 });
        sliced.RunEpoch();
        single.RunEpoch();
        Assert.Equal(6, sliced.Model.BatchCapacity);

        var a = sliced.Evaluate(data.Test);
        var b = single.Evaluate(data.Test);

        Assert.Equal(6, sliced.Model.BatchCapacity);
        Assert.Equal(10, a.Images);
        Assert.Equal(b.Accuracy, a.Accuracy);
        Assert.Equal(b.Loss, a.Loss, 1e-12);
    }

    [Fact]
    public void Evaluate_AfterATrainingSetSmallerThanABatch_StaysAtTheLargestTrainingForward()
    {
        // 4 training images with batch 6: training never runs a forward of 6, and evaluating 10 images must not either.
        var data = Cifar10.Load(_files.Folder, SyntheticCifar10.Options with { Subset = 4 });
        using var trainer = new Trainer(data, Small(1) with { Subset = 4, EvalBatchSize = 10 });
        trainer.RunEpoch();

        Assert.Equal(4, trainer.Model.BatchCapacity);
        Assert.Equal(10, trainer.Evaluate(data.Test).Images);
        Assert.Equal(4, trainer.Model.BatchCapacity);
    }

    [Fact]
    public void CorruptCheckpoint_IsAClearError()
    {
        string path = Path.Combine(_dir, "bad.fopt");
        using (var trainer = new Trainer(Data(), Small(1)))
        {
            trainer.RunEpoch();
            trainer.SaveCheckpoint(path);
        }

        var bytes = File.ReadAllBytes(path);
        bytes[bytes.Length / 2] ^= 1;
        File.WriteAllBytes(path, bytes);

        var e = Assert.Throws<CheckpointException>(() => Trainer.Resume(Data(), path));
        Assert.Contains("checksum mismatch", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("model", "--model 'vgg99' is not available")]
    [InlineData("optimizer", "Unknown optimizer 'adamm'")]
    [InlineData("schedule", "step:x")]
    [InlineData("epochs", "--epochs, --batch and --threads must be ≥ 1")]
    public void BadOptions_AreNamed(string what, string message)
    {
        var options = what switch
        {
            "model" => Small(1) with { Model = "vgg99" },
            "optimizer" => Small(1) with { Optimizer = "adamm" },
            "schedule" => Small(1) with { Schedule = "step:x" },
            _ => Small(0),
        };

        var e = Assert.ThrowsAny<Exception>(options.Validate);

        Assert.Contains(message, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Fcn_OnSharedCifar10Slice_LossFalls()
    {
        SharedData.RequireDirectory(SharedData.Cifar10, "CIFAR-10");
        var data = Cifar10.Load(SharedData.Cifar10, new Cifar10Options { Subset = 500, TestSubset = 500 });
        var options = new TrainOptions
        {
            Optimizer = "adam",
            Hyperparameters = new Dictionary<string, double> { ["lr"] = 1e-4 },
            Epochs = 3,
            BatchSize = 100,
            Threads = 2,
        };
        using var trainer = new Trainer(data, options);

        var epochs = Enumerable.Range(0, options.Epochs).Select(_ => trainer.RunEpoch()).ToList();

        Assert.True(epochs[^1].TrainLoss < epochs[0].TrainLoss, $"loss {epochs[0].TrainLoss} → {epochs[^1].TrainLoss}");
        Assert.Equal(500, epochs[^1].Test.Images);
    }
}

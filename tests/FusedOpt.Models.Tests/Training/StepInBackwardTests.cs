using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using FusedOpt.Memory;
using FusedOpt.Models;
using FusedOpt.Models.Data;
using FusedOpt.Models.Losses;
using FusedOpt.Models.Training;
using FusedOpt.Models.Training.Metrics;
using FusedOpt.Optimizers;
using FusedOpt.Tests.Data;
using Xunit;

namespace FusedOpt.Tests.Training;

/// <summary>
/// <see cref="TrainOptions.StepInBackward"/>: each layer stepped as soon as its gradients are complete gives the bits of
/// the separate step after backward (parameters, every optimizer state, losses, BatchNorm statistics) on the FCN and on
/// VGG11, with weight decay through the per-group rules, for Adam and SGD-momentum on 1 and 2 threads. The separate
/// step is itself held to the PyTorch references elsewhere; one SGD iteration is also held to p − lr·g written out here,
/// with g from a backward pass that stepped nothing.
/// </summary>
public sealed class StepInBackwardTests : IDisposable
{
    private readonly SyntheticCifar10 _files = SmallRun.Files();

    public void Dispose() => _files.Dispose();

    private Cifar10Dataset Data() => Cifar10.Load(_files.Folder, SyntheticCifar10.Options);

    /// <summary>The small run (dropout, augmentation, a schedule that moves the lr between epochs, weight decay) with the given optimizer.</summary>
    private static TrainOptions Options(string optimizer, int threads, int epochs) => SmallRun.Options(epochs) with
    {
        Optimizer = optimizer,
        Hyperparameters = optimizer == "sgd"
            ? new Dictionary<string, double> { ["lr"] = 0.02, ["momentum"] = 0.9 }
            : new Dictionary<string, double> { ["lr"] = 3e-3 },
        Threads = threads,
    };

    private sealed class LossLog : IProgress<TrainProgress>
    {
        public List<double> Values { get; } = [];

        public void Report(TrainProgress value) => Values.Add(value.Loss);
    }

    private sealed record Outcome(float[] Parameters, float[][] States, float[][] Buffers, double[] Losses, long Steps);

    private Outcome Train(TrainOptions options)
    {
        using var trainer = new Trainer(Data(), options);
        var losses = new LossLog();
        for (int e = 0; e < options.Epochs; e++)
        {
            trainer.RunEpoch(progress: losses);
        }

        // Only the tensors: the arena sweep also steps the (all-zero) alignment padding between them, the per-layer one not.
        var tensors = trainer.Arena.Tensors;
        float[] Tensors(Span<float> buffer)
        {
            var values = new List<float>();
            foreach (var t in tensors)
            {
                values.AddRange(buffer.Slice((int)t.Offset, (int)t.Length));
            }

            return [.. values];
        }

        var states = Enumerable.Range(0, trainer.Optimizer.Descriptor.States.Count)
            .Select(i => trainer.Optimizer.GetState(i) is { } s ? Tensors(s.Span) : [])
            .ToArray();
        return new Outcome(
            Tensors(trainer.Arena.Params.Span), states, [.. trainer.Model.Buffers.Select(static b => b.Values.ToArray())],
            [.. losses.Values], trainer.Optimizer.GetStepCount());
    }

    private static void AssertSameBits(float[] expected, float[] actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            if (BitConverter.SingleToInt32Bits(expected[i]) != BitConverter.SingleToInt32Bits(actual[i]))
            {
                Assert.Fail($"{what}[{i}]: {expected[i]:R} after the step, {actual[i]:R} with the step inside backward");
            }
        }
    }

    private static void AssertSameRun(Outcome separate, Outcome inBackward)
    {
        Assert.Equal(separate.Steps, inBackward.Steps);
        Assert.Equal(separate.Losses, inBackward.Losses);
        AssertSameBits(separate.Parameters, inBackward.Parameters, "parameters");
        Assert.Equal(separate.States.Length, inBackward.States.Length);
        for (int s = 0; s < separate.States.Length; s++)
        {
            AssertSameBits(separate.States[s], inBackward.States[s], $"state {s}");
        }

        Assert.Equal(separate.Buffers.Length, inBackward.Buffers.Length);
        for (int b = 0; b < separate.Buffers.Length; b++)
        {
            AssertSameBits(separate.Buffers[b], inBackward.Buffers[b], $"buffer {b}");
        }
    }

    [Theory]
    [InlineData("adam", 1)]
    [InlineData("adam", 2)]
    [InlineData("sgd", 1)]
    [InlineData("sgd", 2)]
    public void Fcn_StepInBackward_EqualsTheSeparateStep_Bitwise(string optimizer, int threads)
    {
        var options = Options(optimizer, threads, epochs: 2);

        var separate = Train(options);
        var inBackward = Train(options with { StepInBackward = true });

        Assert.Equal(2 * 7, separate.Steps);
        Assert.Contains(separate.States, static s => s.Any(static v => v != 0));   // a state that moved: the comparison means something
        AssertSameRun(separate, inBackward);
    }

    [Theory]
    [InlineData("adam", 1)]
    [InlineData("adam", 2)]
    [InlineData("sgd", 1)]
    [InlineData("sgd", 2)]
    public void Vgg11_StepInBackward_EqualsTheSeparateStep_Bitwise(string optimizer, int threads)
    {
        // The catalogue's VGG11-BN at width 1/16 (4…32 channels, Winograd and im2col convolutions), weight decay on
        // the rank ≥ 2 group only; BatchNorm's running statistics are buffers, never stepped.
        var options = Options(optimizer, threads, epochs: 1) with { Model = "vgg11", Width = 0.0625, Dropout = 0 };

        var separate = Train(options);
        var inBackward = Train(options with { StepInBackward = true });

        Assert.Equal(2 * 8, separate.Buffers.Length);
        AssertSameRun(separate, inBackward);
    }

    /// <summary>Records each tensor's gradient at the moment the hook is told it is complete, then steps it.</summary>
    private sealed class Capture(Optimizer optimizer, ParameterArena arena) : IBackwardHook
    {
        public float[] Gradients { get; } = new float[arena.Length];

        public List<int> Order { get; } = [];

        public void GradientsComplete(int firstTensor, int tensorCount)
        {
            for (int t = firstTensor; t < firstTensor + tensorCount; t++)
            {
                var slot = arena.Tensors[t];
                arena.Grad(slot).CopyTo(Gradients.AsSpan((int)slot.Offset, (int)slot.Length));
                Order.Add(t);
            }

            optimizer.StepTensors(firstTensor, tensorCount);
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void Sgd_OneIterationInBackward_IsParameterMinusLrTimesTheGradientOfABackwardThatSteppedNothing(int threads)
    {
        const float lr = 0.1f;
        var spec = Fcn.Spec(inputShape: [3, 8, 8], hidden: [40, 24], classes: 10, seed: 3);
        using var model = spec.Build<float>(threads);
        using var arena = new ParameterArena();
        model.Register(arena);
        arena.Build();
        model.Initialize(seed: 5);
        using var optimizer = new Optimizer(arena, new Sgd(Lr: lr), new OptimizerOptions { Threads = threads });
        var rng = new Rng(11);
        float[] images = [.. Enumerable.Range(0, 6 * model.InputFeatures).Select(_ => (float)rng.NextGaussian())];
        int[] labels = [.. Enumerable.Range(0, 6).Select(_ => rng.NextInt(10))];
        float[] dLogits = new float[6 * 10];
        var loss = new SoftmaxCrossEntropy();

        // The oracle's gradient: a backward pass with no step at all.
        arena.ZeroGrads();
        loss.Evaluate(model.Forward(images, 6, training: true), labels, 10, dLogits);
        model.Backward(dLogits);
        float[] g = arena.Grads.Span.ToArray();
        float[] p = arena.Params.Span.ToArray();

        arena.ZeroGrads();
        loss.Evaluate(model.Forward(images, 6, training: true), labels, 10, dLogits);
        var capture = new Capture(optimizer, arena);
        optimizer.BeginStep();
        model.Backward(dLogits, hook: capture);
        var result = optimizer.EndStep();

        Assert.Equal(1, result.StepCount);
        Assert.Equal([4, 5, 2, 3, 0, 1], capture.Order);   // fc3, fc2, fc1: last layer first, weight then bias
        foreach (var t in arena.Tensors)
        {
            for (long i = t.Offset; i < t.Offset + t.Length; i++)
            {
                // The gradient was complete when its layer was stepped, and the step is SGD's p ← p − γ·g in float32.
                Assert.Equal(BitConverter.SingleToInt32Bits(g[i]), BitConverter.SingleToInt32Bits(capture.Gradients[i]));
                float expected = p[i] - (lr * g[i]);
                Assert.True(
                    BitConverter.SingleToInt32Bits(expected) == BitConverter.SingleToInt32Bits(arena.Params.Span[(int)i]),
                    $"{t.Name}[{i - t.Offset}]: p − lr·g = {p[i]:R} − {lr}·{g[i]:R} = {expected:R}, stepped {arena.Params.Span[(int)i]:R}");
            }
        }

        Assert.Contains(g, static v => v != 0);
    }

    private sealed class Progress : IProgress<TrainProgress>
    {
        public void Report(TrainProgress value)
        {
        }
    }

    /// <summary>As <c>Trainer_Iterations_AllocateNothing</c>: an epoch of 20 iterations allocates no more than one of 7.</summary>
    [Fact]
    public void Trainer_StepInBackward_Iterations_AllocateNothing()
    {
        long Allocated(int batch)
        {
            var options = SmallRun.Options(6) with { BatchSize = batch, Schedule = "constant", Threads = 2, StepInBackward = true };
            using var trainer = new Trainer(Data(), options);
            using var metrics = new MetricsWriter(Stream.Null);
            var progress = new Progress();
            trainer.RunEpoch(metrics, progress);
            return Allocations.OnThisThread(() => trainer.RunEpoch(metrics, progress), windows: 3);
        }

        long seven = Allocated(6), twenty = Allocated(2);

        Assert.True(twenty - seven <= 13 * 4, $"an epoch of 7 iterations allocated {seven:N0} bytes, one of 20 {twenty:N0}: {(twenty - seven) / 13.0:N1} bytes per iteration");
    }

    [Fact]
    public void Vgg11_TrainingStepInBackward_AfterWarmUp_AllocatesNothing_AndEqualsTheSeparateStep()
    {
        var spec = Vgg.Spec(0.125);
        using var separate = new TrainingStep(spec, new Sgd(Lr: 0.01f, Momentum: 0.9f, WeightDecay: 5e-4f), threads: 2);
        using var inBackward = new TrainingStep(spec, new Sgd(Lr: 0.01f, Momentum: 0.9f, WeightDecay: 5e-4f), threads: 2, stepInBackward: true);
        var rng = new Rng(7);
        float[] images = [.. Enumerable.Range(0, 6 * separate.Model.InputFeatures).Select(_ => (float)rng.NextGaussian())];
        int[] labels = [.. Enumerable.Range(0, 6).Select(_ => rng.NextInt(10))];
        for (int i = 0; i < 2; i++)
        {
            Assert.Equal(separate.Step(images, labels, 6), inBackward.Step(images, labels, 6));
        }

        long last = 0;
        int clean = 0;
        for (int attempt = 0; attempt < 100 && clean < 3; attempt++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            inBackward.Step(images, labels, 6);
            last = GC.GetAllocatedBytesForCurrentThread() - before;
            clean = last == 0 ? clean + 1 : 0;
            separate.Step(images, labels, 6);
        }

        Assert.True(clean == 3, $"every iteration allocated; the last one {last} bytes");
        Assert.Equal(separate.Optimizer.GetStepCount(), inBackward.Optimizer.GetStepCount());
        for (int i = 0; i < separate.Arena.Tensors.Count; i++)
        {
            var t = separate.Arena.Tensors[i];
            Assert.True(separate.Arena.Param(t).SequenceEqual(inBackward.Arena.Param(inBackward.Arena.Tensors[i])), $"{t.Name} differs");
        }
    }

    [Theory]
    [InlineData("MaxGradNorm", "cannot clip gradients (MaxGradNorm = 1)")]
    [InlineData("SkipNonFinite", "cannot skip a step on a non-finite gradient (SkipNonFinite)")]
    public void TrainingStep_InBackward_WithAGlobalGradientTerm_IsRefusedAtConstruction(string option, string message)
    {
        var options = option == "MaxGradNorm" ? new OptimizerOptions { Threads = 1, MaxGradNorm = 1 } : new OptimizerOptions { Threads = 1, SkipNonFinite = true };

        var e = Assert.Throws<NotSupportedException>(() => new TrainingStep(Vgg.Spec(0.125), new Sgd(Lr: 0.01f), options, seed: 1, stepInBackward: true));

        Assert.Contains(message, e.Message, StringComparison.Ordinal);
        using var separate = new TrainingStep(Vgg.Spec(0.125), new Sgd(Lr: 0.01f), options, seed: 1, stepInBackward: false);
    }
}

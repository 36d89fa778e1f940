using System;
using System.Linq;
using FusedOpt.Models;
using FusedOpt.Models.Layers;
using FusedOpt.Optimizers;
using Xunit;

namespace FusedOpt.Tests.Conv;

/// <summary>A VGG training iteration: no allocation in steady state, and results independent of the thread count.</summary>
public sealed class ConvTrainingTests
{
    private static (float[] Images, int[] Labels) Batch(int batch, int features)
    {
        var rng = new Rng(7);
        return ([.. Enumerable.Range(0, batch * features).Select(_ => (float)rng.NextGaussian())], [.. Enumerable.Range(0, batch).Select(_ => rng.NextInt(10))]);
    }

    [Theory]
    [InlineData(ConvAlgorithm.Auto)]
    [InlineData(ConvAlgorithm.Im2Col)]
    [InlineData(ConvAlgorithm.Winograd)]
    [InlineData(ConvAlgorithm.Winograd4x4)]
    public void TrainingIteration_AfterWarmUp_AllocatesNothingOnTheCallingThread(ConvAlgorithm algorithm)
    {
        using var step = new TrainingStep(Vgg.Spec(0.125, algorithm: algorithm), new Sgd(Lr: 0.01f, Momentum: 0.9f), threads: 2);
        var (images, labels) = Batch(6, step.Model.InputFeatures);

        // Warm-up: workspaces sized, pool threads started (their own allocations are not on this thread).
        step.Step(images, labels, 6);
        AssertSteadyStateAllocatesNothing(() => step.Step(images, labels, 6));

        // A smaller batch (an epoch's last) reuses the same workspaces.
        step.Step(images, labels, 4);
        AssertSteadyStateAllocatesNothing(() => step.Step(images, labels, 4));
    }

    /// <summary>
    /// Requires three consecutive iterations that allocate nothing on this thread, within 100 tries. Tiered JIT can
    /// attribute a few bytes (its call-counting stubs, ~24 B) to an iteration while it promotes hot methods — later
    /// under load, when test classes run in parallel — but code that allocates per iteration never gets three in a row.
    /// </summary>
    private static void AssertSteadyStateAllocatesNothing(Action iteration)
    {
        long last = 0;
        int clean = 0;
        for (int attempt = 0; attempt < 100 && clean < 3; attempt++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            iteration();
            last = GC.GetAllocatedBytesForCurrentThread() - before;
            clean = last == 0 ? clean + 1 : 0;
        }

        Assert.True(clean == 3, $"every iteration allocated; the last one {last} bytes");
    }

    [Fact]
    public void TrainingIterations_OneAndTwoThreads_GiveBitwiseIdenticalParametersAndStatistics()
    {
        var spec = Vgg.Spec(0.125);
        using var one = new TrainingStep(spec, new Sgd(Lr: 0.05f, Momentum: 0.9f), threads: 1);
        using var two = new TrainingStep(spec, new Sgd(Lr: 0.05f, Momentum: 0.9f), threads: 2);
        Assert.Contains(one.Model.Layers, static l => l is Conv2d<float> { Implementation: ConvAlgorithm.Winograd4x4 });
        var (images, labels) = Batch(5, one.Model.InputFeatures);
        for (int i = 0; i < 3; i++)
        {
            Assert.Equal(one.Step(images, labels, 5), two.Step(images, labels, 5));
        }

        Assert.True(one.Arena.Params.Span.SequenceEqual(two.Arena.Params.Span));
        Assert.Equal(one.Model.Buffers.Select(static b => b.Values), two.Model.Buffers.Select(static b => b.Values));
        Assert.Equal(one.Model.Forward(images, 5, training: false).ToArray(), two.Model.Forward(images, 5, training: false).ToArray());
    }
}

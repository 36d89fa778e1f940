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
    public void TrainingIteration_AfterWarmUp_AllocatesNothingOnTheCallingThread(ConvAlgorithm algorithm)
    {
        using var step = new TrainingStep(Vgg.Spec(0.125, algorithm: algorithm), new Sgd(Lr: 0.01f, Momentum: 0.9f), threads: 2);
        var (images, labels) = Batch(6, step.Model.InputFeatures);

        // Warm-up: workspaces sized, pool threads started (their own allocations are not on this thread), and enough
        // iterations for tiered JIT to finish promoting the hot methods (its call-counting stubs allocate ~24 bytes).
        for (int i = 0; i < 40; i++)
        {
            step.Step(images, labels, 6);
        }

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 3; i++)
        {
            step.Step(images, labels, 6);
        }

        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(0, allocated);

        // A smaller batch (an epoch's last) reuses the same workspaces.
        step.Step(images, labels, 4);
        before = GC.GetAllocatedBytesForCurrentThread();
        step.Step(images, labels, 4);
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Fact]
    public void TrainingIterations_OneAndTwoThreads_GiveBitwiseIdenticalParametersAndStatistics()
    {
        var spec = Vgg.Spec(0.125);
        using var one = new TrainingStep(spec, new Sgd(Lr: 0.05f, Momentum: 0.9f), threads: 1);
        using var two = new TrainingStep(spec, new Sgd(Lr: 0.05f, Momentum: 0.9f), threads: 2);
        Assert.Contains(one.Model.Layers, static l => l is Conv2d<float> { UsesWinograd: true });
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

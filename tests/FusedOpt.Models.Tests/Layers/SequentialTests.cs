using System;
using System.Linq;
using FusedOpt.Memory;
using FusedOpt.Models;
using FusedOpt.Models.Layers;
using FusedOpt.Models.Losses;
using FusedOpt.Optimizers;
using Xunit;

namespace FusedOpt.Tests.Layers;

/// <summary>The model: registration in the arena, shape errors, buffers, precision agreement, and a training smoke run.</summary>
public sealed class SequentialTests
{
    [Fact]
    public void Fcn_SeedArchitecture_RegistersEveryTensorByName()
    {
        using var model = Fcn.Create();
        using var arena = new ParameterArena();
        model.Register(arena, static name => name.EndsWith(".bias", StringComparison.Ordinal) ? 1 : 0);
        arena.Build();

        Assert.Equal(3072, model.InputFeatures);
        Assert.Equal(10, model.OutputFeatures);
        Assert.Equal(["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "fc3.weight", "fc3.bias", "fc4.weight", "fc4.bias"], arena.Tensors.Select(static t => t.Name));
        Assert.Equal([500, 3072], arena["fc1.weight"].Shape);
        Assert.Equal([10], arena["fc4.bias"].Shape);
        Assert.Equal(1, arena["fc2.bias"].Group);
        Assert.Equal((3072 * 500) + 500 + (2 * ((500 * 500) + 500)) + (500 * 10) + 10, model.ParameterCount);
        Assert.Equal(model.ParameterCount, arena.ParameterCount);
        Assert.Contains("2,042,510 parameters", model.Summary(), StringComparison.Ordinal);
    }

    [Fact]
    public void Initialize_SameSeed_GivesSameBits_AndEachTensorDependsOnlyOnItsName()
    {
        float[] a = Initialized(Fcn.Spec(hidden: [32, 16], inputShape: [8]), 5, "fc2.weight");
        float[] b = Initialized(Fcn.Spec(hidden: [32, 16], inputShape: [8]), 5, "fc2.weight");
        float[] wider = Initialized(Fcn.Spec(hidden: [64, 16], inputShape: [8]), 5, "fc1.weight");
        float[] narrow = Initialized(Fcn.Spec(hidden: [32, 16], inputShape: [8]), 5, "fc1.weight");
        Assert.Equal(a, b);
        Assert.NotEqual(a, Initialized(Fcn.Spec(hidden: [32, 16], inputShape: [8]), 6, "fc2.weight"));
        Assert.Equal(narrow.Take(32), wider.Take(32)); // same stream, longer draw
    }

    [Fact]
    public void Initialize_ZeroesBiases_AndBoundsWeights()
    {
        var spec = Fcn.Spec(inputShape: [20], hidden: [30]);
        using var model = spec.Build<float>();
        using var arena = new ParameterArena();
        model.Register(arena);
        arena.Build();
        arena.Params.Fill(9f);
        model.Initialize(1);
        Assert.All(arena.Param(arena["fc1.bias"]).ToArray(), static b => Assert.Equal(0f, b));
        double bound = Math.Sqrt(6.0 / 20);
        Assert.All(arena.Param(arena["fc1.weight"]).ToArray(), w => Assert.InRange(w, -bound, bound));
    }

    [Fact]
    public void Constructor_MismatchedWidths_NamesBothLayers()
    {
        var e = Assert.Throws<ArgumentException>(() => new Sequential<float>([new Linear<float>("fc1", 4, 5), new ReLU<float>(6)]));
        Assert.Contains("Layer 1 'relu' takes 6 features but layer 0 'fc1' produces 5", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Constructor_DuplicateParameterNames_AreRejected()
    {
        var e = Assert.Throws<ArgumentException>(() => new Sequential<float>([new Linear<float>("fc", 4, 4), new Linear<float>("fc", 4, 2)]));
        Assert.Contains("'fc'", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Forward_WrongInputLength_NamesTheExpectedShape()
    {
        using var model = Built(Fcn.Spec(inputShape: [6], hidden: [4], classes: 3), out var arena);
        using (arena)
        {
            var e = Assert.Throws<ArgumentException>(() => model.Forward(new float[13], 2, training: false));
            Assert.Contains("13 values but a batch of 2 rows × 6 features needs 12", e.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Forward_BeforeArenaIsBuilt_SaysWhatToDo()
    {
        using var model = Fcn.Spec(inputShape: [6], hidden: [4], classes: 3).Build<float>();
        var e = Assert.Throws<InvalidOperationException>(() => model.Forward(new float[6], 1, false));
        Assert.Contains("Register the model", e.Message, StringComparison.Ordinal);
        using var arena = new ParameterArena();
        model.Register(arena);
        e = Assert.Throws<InvalidOperationException>(() => model.Forward(new float[6], 1, false));
        Assert.Contains("arena.Build()", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Backward_BeforeForward_OrWithWrongLength_IsRejected()
    {
        using var model = Built(Fcn.Spec(inputShape: [6], hidden: [4], classes: 3), out var arena);
        using (arena)
        {
            Assert.Throws<InvalidOperationException>(() => model.Backward(new float[3]));
            model.Forward(new float[12], 2, training: true);
            var e = Assert.Throws<ArgumentException>(() => model.Backward(new float[3]));
            Assert.Contains("2 rows × 3 features = 6", e.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void ForwardAndBackward_AfterTheFirstBatch_AllocateNothing_EvenForASmallerBatch()
    {
        using var model = Built(Fcn.Spec(inputShape: [3, 4, 4], hidden: [40, 40], classes: 10, dropout: 0.2), out var arena);
        using (arena)
        {
            float[] x = new float[16 * 48], d = new float[16 * 10];
            model.Forward(x, 16, true);
            model.Backward(d);
            Assert.Equal(0, Allocations.OnThisThread(() =>
            {
                model.Forward(x, 16, true);
                model.Backward(d);
                model.Forward(x.AsSpan(0, 5 * 48), 5, true);
                model.Backward(d.AsSpan(0, 50));
            }));
        }
    }

    [Fact]
    public void FloatAndDoubleModels_AgreeOnOutputsAndGradients()
    {
        var spec = Fcn.Spec(inputShape: [3, 8, 8], hidden: [64, 48, 32], classes: 10, dropout: 0.1, seed: 3);
        using var f = Built(spec, out var arena, threads: 2);
        using var d = spec.Build<double>();
        using var layout = new ParameterArena();
        d.Register(layout);
        layout.Build();
        var store = new ArrayParameters<double>(layout);
        d.Bind(store);
        store.CopyParamsFrom(arena);

        var rng = new Rng(4);
        float[] x = [.. Enumerable.Range(0, 8 * 192).Select(_ => (float)rng.NextGaussian())];
        int[] labels = [.. Enumerable.Range(0, 8).Select(_ => rng.NextInt(10))];
        f.Reseed(11);
        d.Reseed(11);
        var yf = f.Forward(x, 8, true).ToArray();
        var yd = d.Forward([.. x.Select(static v => (double)v)], 8, true).ToArray();
        Assert.True(MaxRelative(yf, yd) < 1e-5, $"outputs differ by {MaxRelative(yf, yd):E2}");

        float[] gf = new float[80];
        double[] gd = new double[80];
        var loss = new SoftmaxCrossEntropy();
        loss.Evaluate<float>(yf, labels, 10, gf);
        loss.Evaluate<double>(yd, labels, 10, gd);
        f.Backward(gf);
        d.Backward(gd);
        foreach (var slot in f.Parameters)
        {
            double err = MaxRelative(arena.Grad(slot).ToArray(), store.Grad(layout[slot.Name]).ToArray());
            Assert.True(err < 1e-5, $"{slot.Name}: float32 and float64 gradients differ by {err:E2} of the tensor's largest");
        }

        arena.Dispose();
    }

    [Fact]
    public void Training_WithAdamOnTheArena_LowersTheLoss()
    {
        // Two Gaussian blobs per class in 8 dimensions, 4 classes: an MLP separates them in a few dozen steps.
        const int batch = 64, features = 8, classes = 4;
        var rng = new Rng(21);
        float[][] centers = [.. Enumerable.Range(0, classes).Select(_ => Enumerable.Range(0, features).Select(_ => (float)(2 * rng.NextGaussian())).ToArray())];
        int[] labels = [.. Enumerable.Range(0, batch).Select(i => i % classes)];
        float[] x = [.. Enumerable.Range(0, batch * features).Select(i => centers[labels[i / features]][i % features] + (float)(0.5 * rng.NextGaussian()))];

        using var model = Built(Fcn.Spec(inputShape: [features], hidden: [32, 32], classes: classes), out var arena, threads: 2);
        using (arena)
        using (var optimizer = new FusedOpt.Optimizer(arena, new Adam(Lr: 1e-2f)))
        {
            var loss = new SoftmaxCrossEntropy();
            float[] dLogits = new float[batch * classes];
            double first = 0, last = 0;
            for (int step = 0; step < 60; step++)
            {
                arena.ZeroGrads();
                var logits = model.Forward(x, batch, training: true);
                last = loss.Evaluate(logits, labels, classes, dLogits.AsSpan());
                first = step == 0 ? last : first;
                model.Backward(dLogits);
                optimizer.Step();
            }

            Assert.True(last < 0.1 * first, $"loss went from {first:F4} to {last:F4}");
            Assert.Equal(batch, Metrics.CountCorrect(model.Forward(x, batch, training: false), labels, classes));
        }
    }

    [Fact]
    public void Backward_StopsAtTheFirstLayerWithParameters_UnlessTheInputGradientIsAsked()
    {
        var spy = new SpyLayer(4);
        using var model = new Sequential<float>([spy, new Linear<float>("fc", 4, 3)]);
        using var arena = new ParameterArena();
        model.Register(arena);
        arena.Build();
        model.Initialize(1);

        model.Forward(new float[8], 2, training: true);
        Assert.True(model.Backward(new float[6]).IsEmpty);
        Assert.Equal(0, spy.BackwardCalls);

        Assert.Equal(8, model.Backward(new float[6], inputGradient: true).Length);
        Assert.Equal(1, spy.BackwardCalls);
    }

    [Fact]
    public void Spec_RoundTrips_ThroughBuild()
    {
        var spec = Fcn.Spec(activation: ActivationKind.Tanh, dropout: 0.5, hidden: [10, 10], inputShape: [2, 3]);
        using var model = spec.Build<double>();
        Assert.Equal(spec, model.Spec);
        Assert.Contains("Tanh(10) → Dropout(10, p = 0.5)", spec.ToString(), StringComparison.Ordinal);
    }

    private static Sequential<float> Built(ModelSpec spec, out ParameterArena arena, int threads = 1)
    {
        var model = spec.Build<float>(threads);
        arena = new ParameterArena();
        model.Register(arena);
        arena.Build();
        model.Initialize(1);
        return model;
    }

    private static float[] Initialized(ModelSpec spec, ulong seed, string tensor)
    {
        using var model = Built(spec, out var arena);
        using (arena)
        {
            model.Initialize(seed);
            return arena.Param(arena[tensor]).ToArray();
        }
    }

    private static double MaxRelative(float[] actual, double[] expected)
    {
        double scale = expected.Max(static v => Math.Abs(v));
        return actual.Zip(expected, static (a, e) => Math.Abs(a - e)).Max() / (scale == 0 ? 1 : scale);
    }

    /// <summary>An identity layer that counts its backward calls.</summary>
    private sealed class SpyLayer(int features) : Layer<float>("spy", features, features)
    {
        public int BackwardCalls { get; private set; }

        public override LayerSpec Spec => throw new NotSupportedException();

        public override void Forward(MatMul<float> matMul, ReadOnlySpan<float> x, Span<float> y, int batch, bool training) => x.CopyTo(y);

        public override void Backward(MatMul<float> matMul, ReadOnlySpan<float> x, ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx, int batch, bool inputGradient)
        {
            BackwardCalls++;
            dy.CopyTo(dx);
        }
    }
}

using System;
using System.Linq;
using FusedOpt.Memory;
using FusedOpt.Models;
using FusedOpt.Models.Layers;
using Xunit;

namespace FusedOpt.Tests.Layers;

/// <summary>Each layer's forward and backward on values small enough to check by hand.</summary>
public sealed class LayerTests
{
    [Fact]
    public void Linear_ForwardAndBackward_MatchHandComputedValues()
    {
        // W = [[1, 2, 3], [4, 5, 6]], b = [0.5, -1]; X = [[1, 0, -1], [2, 1, 0]].
        using var model = new Sequential<double>([new Linear<double>("fc", 3, 2)]);
        using var arena = new ParameterArena();
        model.Register(arena);
        arena.Build();
        var store = new ArrayParameters<double>(arena);
        model.Bind(store);
        var fc = (Linear<double>)model.Layers[0];
        new double[] { 1, 2, 3, 4, 5, 6 }.CopyTo(store.Param(fc.Weight));
        new double[] { 0.5, -1 }.CopyTo(store.Param(fc.Bias));

        var y = model.Forward([1, 0, -1, 2, 1, 0], 2, training: true).ToArray();
        Assert.Equal([1 - 3 + 0.5, 4 - 6 - 1, 2 + 2 + 0.5, 8 + 5 - 1], y);

        var dx = model.Backward([1, 0, 0, 2], inputGradient: true).ToArray();
        Assert.Equal([1, 2, 3, 8, 10, 12], dx);                                   // dY·W
        Assert.Equal([1 + 0, 0 + 0, -1 + 0, 0 + 4, 0 + 2, 0 + 0], store.Grad(fc.Weight).ToArray()); // dYᵀ·X
        Assert.Equal([1, 2], store.Grad(fc.Bias).ToArray());                     // Σ rows of dY

        // A second backward accumulates.
        model.Backward([1, 0, 0, 2]);
        Assert.Equal([2, 4], store.Grad(fc.Bias).ToArray());
    }

    [Fact]
    public void Activations_ForwardAndDerivatives()
    {
        double[] x = [-2, -0.5, 0, 0.5, 2];
        double[] dy = [1, 1, 1, 1, 1];
        double[] y = new double[5], dx = new double[5];
        using var mm = new MatMul<double>();

        new ReLU<double>(5).Forward(mm, x, y, 1, true);
        Assert.Equal([0, 0, 0, 0.5, 2], y);
        new ReLU<double>(5).Backward(mm, x, y, dy, dx, 1, true);
        Assert.Equal([0, 0, 0, 1, 1], dx);

        new Sigmoid<double>(5).Forward(mm, x, y, 1, true);
        Assert.Equal(x.Select(static v => 1 / (1 + Math.Exp(-v))), y, (a, b) => Math.Abs(a - b) < 1e-15);
        new Sigmoid<double>(5).Backward(mm, x, y, dy, dx, 1, true);
        Assert.Equal(y.Select(static s => s * (1 - s)), dx, (a, b) => Math.Abs(a - b) < 1e-15);

        new Tanh<double>(5).Forward(mm, x, y, 1, true);
        Assert.Equal(x.Select(Math.Tanh), y, (a, b) => Math.Abs(a - b) < 1e-15);
        new Tanh<double>(5).Backward(mm, x, y, dy, dx, 1, true);
        Assert.Equal(y.Select(static t => 1 - (t * t)), dx, (a, b) => Math.Abs(a - b) < 1e-15);
    }

    [Fact]
    public void Dropout_Training_DropsAboutPAndScalesKeptUnits()
    {
        const int n = 20_000;
        var layer = new Dropout<float>(n, 0.3, seed: 7);
        float[] x = Enumerable.Repeat(1f, n).ToArray(), y = new float[n], dx = new float[n];
        using var mm = new MatMul<float>();
        layer.Forward(mm, x, y, 1, training: true);

        float keep = (float)(1 / 0.7);
        Assert.All(y, v => Assert.True(v == 0 || v == keep, $"unexpected value {v}"));
        double dropped = y.Count(static v => v == 0) / (double)n;
        Assert.InRange(dropped, 0.3 - 0.0196, 0.3 + 0.0196); // ±6 sd of Binomial(20000, 0.3) / 20000

        // Backward: the same mask, the same scale.
        layer.Backward(mm, x, y, x, dx, 1, inputGradient: true);
        Assert.Equal(y, dx);
    }

    [Fact]
    public void Dropout_Evaluation_IsTheIdentity()
    {
        var layer = new Dropout<float>(4, 0.5);
        float[] x = [1, 2, 3, 4], y = new float[4], dx = new float[4];
        using var mm = new MatMul<float>();
        layer.Forward(mm, x, y, 1, training: false);
        Assert.Equal(x, y);
        layer.Backward(mm, x, y, [5, 6, 7, 8], dx, 1, inputGradient: true);
        Assert.Equal([5f, 6f, 7f, 8f], dx);
    }

    [Fact]
    public void Dropout_Reseed_RepeatsTheMask_AndFloatAndDoubleDrawTheSameMask()
    {
        var f = new Dropout<float>(64, 0.5, seed: 1);
        var d = new Dropout<double>(64, 0.5, seed: 1);
        float[] x = Enumerable.Repeat(1f, 64).ToArray(), y1 = new float[64], y2 = new float[64];
        double[] xd = Enumerable.Repeat(1.0, 64).ToArray(), yd = new double[64];
        using var mm = new MatMul<float>();
        using var mmd = new MatMul<double>();
        f.Forward(mm, x, y1, 1, true);
        f.Forward(mm, x, y2, 1, true);
        Assert.NotEqual(y1, y2); // a new mask per forward
        f.Reseed(1);
        f.Forward(mm, x, y2, 1, true);
        Assert.Equal(y1, y2);
        d.Forward(mmd, xd, yd, 1, true);
        Assert.Equal(y1.Select(static v => v == 0), yd.Select(static v => v == 0));
    }

    [Fact]
    public void Dropout_ProbabilityOutOfRange_IsRejected()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new Dropout<float>(4, 1.0));
        Assert.Contains("p must be in [0, 1), got 1", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Flatten_CopiesBothWays_AndMultipliesTheShape()
    {
        var layer = new Flatten<float>([3, 2, 2]);
        Assert.Equal(12, layer.OutputFeatures);
        float[] x = [.. Enumerable.Range(0, 24).Select(static i => (float)i)], y = new float[24], dx = new float[24];
        using var mm = new MatMul<float>();
        layer.Forward(mm, x, y, 2, true);
        Assert.Equal(x, y);
        layer.Backward(mm, x, y, y, dx, 2, true);
        Assert.Equal(x, dx);
        Assert.Throws<ArgumentException>(() => new Flatten<float>([3, 0]));
    }
}

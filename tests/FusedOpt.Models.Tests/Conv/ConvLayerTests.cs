using System;
using System.Linq;
using FusedOpt.Memory;
using FusedOpt.Models;
using FusedOpt.Models.Layers;
using Xunit;

namespace FusedOpt.Tests.Conv;

/// <summary>
/// The convolutional layers (channels-last, im2col + GEMM) against loops written from the definitions in PyTorch's
/// NCHW layout: y[n, o, i, j] = b[o] + Σ_c,ky,kx W[o, c, ky, kx]·x[n, c, i·s − p + ky, j·s − p + kx] and its adjoints.
/// </summary>
public sealed class ConvLayerTests
{
    public static TheoryData<int, int, int, int, int, int, int, int> ConvCases => new()
    {
        // batch, cin, h, w, cout, k, stride, padding
        { 2, 3, 7, 5, 4, 3, 1, 1 },
        { 3, 2, 9, 6, 5, 3, 2, 1 },
        { 1, 4, 5, 5, 3, 2, 1, 0 },
        { 2, 5, 6, 7, 6, 5, 2, 2 },
        { 2, 16, 4, 4, 8, 1, 1, 0 },
    };

    [Theory]
    [MemberData(nameof(ConvCases))]
    public void Conv2d_ForwardAndBackward_MatchDirectLoops_Float64(int batch, int cin, int h, int w, int cout, int k, int stride, int padding) =>
        CheckConv<double>(batch, cin, h, w, cout, k, stride, padding, 1e-12);

    [Theory]
    [MemberData(nameof(ConvCases))]
    public void Conv2d_ForwardAndBackward_MatchDirectLoops_Float32(int batch, int cin, int h, int w, int cout, int k, int stride, int padding) =>
        CheckConv<float>(batch, cin, h, w, cout, k, stride, padding, 2e-5);

    public static TheoryData<int, int, int, int, int, int, int, int> NarrowCases => new()
    {
        // batch, cin, h, w, cout, k, stride, padding: K = k·k·cin ≤ 32, cout a multiple of the vector width
        { 2, 3, 17, 16, 16, 3, 1, 1 }, // VGG's conv1 shape (K = 27: six blocks of four and a tail of three), 544 pixels: three pixel blocks
        { 2, 3, 9, 8, 8, 3, 2, 1 },    // stride 2
        { 3, 2, 5, 6, 16, 2, 1, 0 },   // K = 8: blocks of four only
        { 1, 3, 4, 4, 16, 1, 1, 0 },   // K = 3: the tail only
        { 2, 8, 5, 5, 8, 2, 1, 0 },    // K = 32, the largest taken
    };

    [Theory]
    [MemberData(nameof(NarrowCases))]
    public void Conv2d_NarrowWeightGradient_MatchesDirectLoops_Float64(int batch, int cin, int h, int w, int cout, int k, int stride, int padding)
    {
        Assert.True(new Conv2d<double>("c", new ImageShape(cin, h, w), cout, k, stride, padding).UsesNarrowWeightGradient);
        CheckConv<double>(batch, cin, h, w, cout, k, stride, padding, 1e-12);
    }

    [Theory]
    [MemberData(nameof(NarrowCases))]
    public void Conv2d_NarrowWeightGradient_MatchesDirectLoops_Float32(int batch, int cin, int h, int w, int cout, int k, int stride, int padding)
    {
        Assert.True(new Conv2d<float>("c", new ImageShape(cin, h, w), cout, k, stride, padding).UsesNarrowWeightGradient);
        CheckConv<float>(batch, cin, h, w, cout, k, stride, padding, 2e-5);
    }

    [Fact]
    public void Conv2d_NarrowWeightGradient_OnlyForNarrowRowsAndVectorMultipleChannels()
    {
        Assert.False(new Conv2d<float>("c", new ImageShape(4, 8, 8), 16).UsesNarrowWeightGradient); // K = 36
        Assert.False(new Conv2d<float>("c", new ImageShape(3, 8, 8), 4).UsesNarrowWeightGradient);  // Cout 4 < 8 lanes
    }

    public static TheoryData<int, int, int, int, int> WinogradCases => new()
    {
        // batch, cin, h, w, cout (3×3, stride 1, padding 1)
        { 2, 8, 7, 5, 16 },
        { 3, 16, 2, 2, 8 },
        { 1, 8, 4, 6, 8 },
        { 2, 16, 1, 3, 16 },
    };

    [Theory]
    [MemberData(nameof(WinogradCases))]
    public void Conv2d_Winograd_MatchesDirectLoops_Float64(int batch, int cin, int h, int w, int cout) =>
        CheckConv<double>(batch, cin, h, w, cout, 3, 1, 1, 1e-12, ConvAlgorithm.Winograd);

    [Theory]
    [MemberData(nameof(WinogradCases))]
    public void Conv2d_Winograd_MatchesDirectLoops_Float32(int batch, int cin, int h, int w, int cout) =>
        CheckConv<float>(batch, cin, h, w, cout, 3, 1, 1, 2e-5, ConvAlgorithm.Winograd);

    [Fact]
    public void Conv2d_Winograd_WhereItDoesNotApply_FailsNamingTheShape()
    {
        var e = Assert.Throws<ArgumentException>(() => new Conv2d<float>("c", new ImageShape(8, 6, 6), 8, kernel: 3, stride: 2, algorithm: ConvAlgorithm.Winograd));
        Assert.Contains("s 2", e.Message, StringComparison.Ordinal);
        Assert.False(new Conv2d<float>("c", new ImageShape(3, 6, 6), 8).UsesWinograd);
        Assert.True(new Conv2d<float>("c", new ImageShape(16, 6, 6), 32).UsesWinograd);
    }

    [Fact]
    public void BatchNorm2d_Training_NormalizesWithBiasedVarianceAndUpdatesRunningStatsUnbiased()
    {
        var shape = new ImageShape(3, 2, 3);
        int batch = 2, count = batch * shape.Pixels;
        var (bn, store, arena) = Single(new BatchNorm2d<double>("bn", shape, momentum: 0.1, epsilon: 1e-5));
        using var _ = arena;
        double[] gamma = [1.5, -0.5, 2], beta = [0.1, 0.2, -0.3];
        gamma.CopyTo(store.Param(bn.Gamma));
        beta.CopyTo(store.Param(bn.Beta));
        double[] x = Random(batch * shape.Size, 3, scale: 2, offset: 1);
        double[] y = new double[x.Length];
        using var mm = new MatMul<double>();
        bn.Forward(mm, x, y, batch, training: true);

        for (int c = 0; c < 3; c++)
        {
            double[] values = [.. Enumerable.Range(0, count).Select(r => x[(r * 3) + c])];
            double mean = values.Average(), biased = values.Sum(v => (v - mean) * (v - mean)) / count;
            for (int r = 0; r < count; r++)
            {
                Assert.Equal((gamma[c] * (values[r] - mean) / Math.Sqrt(biased + 1e-5)) + beta[c], y[(r * 3) + c], 12);
            }

            Assert.Equal(0.1 * mean, bn.RunningMean[c], 14);
            Assert.Equal(0.9 + (0.1 * biased * count / (count - 1)), bn.RunningVar[c], 14);
        }

        // Evaluation normalizes with the running statistics.
        bn.Forward(mm, x, y, batch, training: false);
        for (int i = 0; i < x.Length; i++)
        {
            int c = i % 3;
            Assert.Equal((gamma[c] * (x[i] - bn.RunningMean[c]) / Math.Sqrt(bn.RunningVar[c] + 1e-5)) + beta[c], y[i], 12);
        }

        Assert.Equal(["bn.running_mean", "bn.running_var"], bn.Buffers.Select(static b => b.Name));
    }

    [Fact]
    public void BatchNorm2d_FusedReLU_EqualsBatchNormThenReLU_ForwardAndBackward()
    {
        var shape = new ImageShape(4, 3, 3);
        int batch = 3;
        var (plain, s1, a1) = Single(new BatchNorm2d<double>("bn", shape));
        var (fused, s2, a2) = Single(new BatchNorm2d<double>("bn", shape, relu: true));
        using var _1 = a1;
        using var _2 = a2;
        double[] gamma = Random(4, 5, 1, 0.5), beta = Random(4, 6, 0.5, 0);
        gamma.CopyTo(s1.Param(plain.Gamma));
        gamma.CopyTo(s2.Param(fused.Gamma));
        beta.CopyTo(s1.Param(plain.Beta));
        beta.CopyTo(s2.Param(fused.Beta));
        double[] x = Random(batch * shape.Size, 7, 1, 0), dy = Random(x.Length, 8, 1, 0);
        using var mm = new MatMul<double>();
        var relu = new ReLU<double>(shape.Size);
        double[] t = new double[x.Length], y1 = new double[x.Length], y2 = new double[x.Length];
        plain.Forward(mm, x, t, batch, true);
        relu.Forward(mm, t, y1, batch, true);
        fused.Forward(mm, x, y2, batch, true);
        Assert.Equal(y1, y2, (a, b) => Math.Abs(a - b) < 1e-13);

        double[] dt = new double[x.Length], dx1 = new double[x.Length], dx2 = new double[x.Length];
        relu.Backward(mm, t, y1, dy, dt, batch, true);
        plain.Backward(mm, x, t, dt, dx1, batch, true);
        fused.Backward(mm, x, y2, dy, dx2, batch, true);
        Assert.Equal(dx1, dx2, (a, b) => Math.Abs(a - b) < 1e-13);
        Assert.Equal(s1.Grad(plain.Gamma).ToArray(), s2.Grad(fused.Gamma).ToArray(), (a, b) => Math.Abs(a - b) < 1e-13);
        Assert.Equal(s1.Grad(plain.Beta).ToArray(), s2.Grad(fused.Beta).ToArray(), (a, b) => Math.Abs(a - b) < 1e-13);
    }

    [Theory]
    [InlineData(2, 3, 5, 7, 2, 2)]
    [InlineData(1, 2, 6, 6, 3, 1)]
    [InlineData(2, 1, 4, 4, 2, 2)]
    [InlineData(2, 8, 4, 6, 2, 2)]
    [InlineData(1, 9, 5, 4, 2, 2)]
    public void MaxPool2d_ForwardAndBackward_MatchWindowLoops(int batch, int c, int h, int w, int k, int s)
    {
        var input = new ImageShape(c, h, w);
        var pool = new MaxPool2d<double>("pool", input, k, s);
        int ho = ((h - k) / s) + 1, wo = ((w - k) / s) + 1;
        Assert.Equal(new ImageShape(c, ho, wo), pool.Output);
        double[] x = Random(batch * input.Size, 11, 1, 0), y = new double[batch * pool.Output.Size];
        using var mm = new MatMul<double>();
        pool.Forward(mm, x, y, batch, true);
        double[] dy = Random(y.Length, 12, 1, 0), dx = new double[x.Length], expectedDx = new double[x.Length];
        Array.Fill(dx, double.NaN); // backward overwrites dL/dx entirely, stale values included
        pool.Backward(mm, x, y, dy, dx, batch, true);

        // Channels-last index of (n, ch, i, j).
        int In(int n, int ch, int i, int j) => (n * input.Size) + (((i * w) + j) * c) + ch;
        for (int n = 0; n < batch; n++)
        {
            for (int ch = 0; ch < c; ch++)
            {
                for (int i = 0; i < ho; i++)
                {
                    for (int j = 0; j < wo; j++)
                    {
                        int best = In(n, ch, i * s, j * s);
                        for (int a = 0; a < k; a++)
                        {
                            for (int b = 0; b < k; b++)
                            {
                                best = x[In(n, ch, (i * s) + a, (j * s) + b)] > x[best] ? In(n, ch, (i * s) + a, (j * s) + b) : best;
                            }
                        }

                        int o = (n * pool.Output.Size) + (((i * wo) + j) * c) + ch;
                        Assert.Equal(x[best], y[o]);
                        expectedDx[best] += dy[o];
                    }
                }
            }
        }

        Assert.Equal(expectedDx, dx, (a, b) => Math.Abs(a - b) < 1e-15);
    }

    [Fact]
    public void MaxPool2d_Tie_RoutesGradientToFirstValueInWindow()
    {
        var pool = new MaxPool2d<double>("pool", new ImageShape(1, 2, 2));
        double[] x = [1, 3, 3, 2], y = new double[1], dx = new double[4];
        using var mm = new MatMul<double>();
        pool.Forward(mm, x, y, 1, true);
        pool.Backward(mm, x, y, [5], dx, 1, true);
        Assert.Equal([0, 5, 0, 0], dx);
    }

    [Fact]
    public void ImageLayoutChange_RoundTrips_AndPutsChannelsLast()
    {
        var shape = new ImageShape(2, 2, 3);
        double[] x = [.. Enumerable.Range(0, 2 * shape.Size).Select(static i => (double)i)];
        double[] nhwc = new double[x.Length], back = new double[x.Length];
        using var mm = new MatMul<double>();
        new ImageLayoutChange<double>(shape, ImageLayout.ChannelsLast).Forward(mm, x, nhwc, 2, true);
        Assert.Equal([0, 6, 1, 7, 2, 8, 3, 9, 4, 10, 5, 11], nhwc[..12]);
        new ImageLayoutChange<double>(shape, ImageLayout.ChannelsFirst).Forward(mm, nhwc, back, 2, true);
        Assert.Equal(x, back);
        new ImageLayoutChange<double>(shape, ImageLayout.ChannelsLast).Backward(mm, x, nhwc, nhwc, back, 2, true);
        Assert.Equal(x, back);
    }

    [Fact]
    public void Conv2d_BadArguments_FailWithMessagesNamingTheValues()
    {
        var e = Assert.Throws<ArgumentException>(() => new Conv2d<float>("c", new ImageShape(1, 2, 2), 3, kernel: 5, padding: 0));
        Assert.Contains("5×5", e.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentOutOfRangeException>(() => new Conv2d<float>("c", new ImageShape(1, 4, 4), 3, stride: 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new BatchNorm2d<float>("bn", new ImageShape(1, 4, 4), momentum: 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new MaxPool2d<float>("p", new ImageShape(1, 1, 4), kernel: 2));
    }

    private static void CheckConv<T>(int batch, int cin, int h, int w, int cout, int k, int stride, int padding, double tolerance, ConvAlgorithm algorithm = ConvAlgorithm.Im2Col)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        var input = new ImageShape(cin, h, w);
        var conv = new Conv2d<T>("conv", input, cout, k, stride, padding, algorithm: algorithm);
        Assert.Equal(algorithm, conv.Implementation);
        int ho = ((h + (2 * padding) - k) / stride) + 1, wo = ((w + (2 * padding) - k) / stride) + 1;
        Assert.Equal(new ImageShape(cout, ho, wo), conv.Output);
        using var arena = new ParameterArena();
        conv.Register(arena, static _ => 0);
        arena.Build();
        ParameterStore<T> store = typeof(T) == typeof(float) ? (ParameterStore<T>)(object)new ArenaParameters(arena) : new ArrayParameters<T>(arena);
        conv.Bind(store);
        double[] weight = Random(cout * cin * k * k, 1, 0.5, 0), bias = Random(cout, 2, 0.5, 0);
        double[] xNchw = Random(batch * input.Size, 3, 1, 0), dyNchw = Random(batch * conv.Output.Size, 4, 1, 0);
        Fill(store.Param(conv.Weight), weight);
        Fill(store.Param(conv.Bias!), bias);

        // Direct loops, NCHW.
        double[] yRef = new double[dyNchw.Length], dxRef = new double[xNchw.Length], dwRef = new double[weight.Length], dbRef = new double[cout];
        for (int n = 0; n < batch; n++)
        {
            for (int o = 0; o < cout; o++)
            {
                for (int i = 0; i < ho; i++)
                {
                    for (int j = 0; j < wo; j++)
                    {
                        int yi = (((n * cout) + o) * ho * wo) + (i * wo) + j;
                        double sum = bias[o];
                        dbRef[o] += dyNchw[yi];
                        for (int c = 0; c < cin; c++)
                        {
                            for (int ky = 0; ky < k; ky++)
                            {
                                for (int kx = 0; kx < k; kx++)
                                {
                                    int iy = (i * stride) - padding + ky, ix = (j * stride) - padding + kx;
                                    if (iy < 0 || iy >= h || ix < 0 || ix >= w)
                                    {
                                        continue;
                                    }

                                    int xi = (((n * cin) + c) * h * w) + (iy * w) + ix, wi = (((o * cin) + c) * k * k) + (ky * k) + kx;
                                    sum += weight[wi] * xNchw[xi];
                                    dxRef[xi] += weight[wi] * dyNchw[yi];
                                    dwRef[wi] += xNchw[xi] * dyNchw[yi];
                                }
                            }
                        }

                        yRef[yi] = sum;
                    }
                }
            }
        }

        using var mm = new MatMul<T>(threads: 2);
        T[] x = Cast<T>(ToNhwc(xNchw, batch, input)), dy = Cast<T>(ToNhwc(dyNchw, batch, conv.Output));
        T[] y = new T[dy.Length], dx = new T[x.Length];
        conv.Forward(mm, x, y, batch, training: true);
        conv.Backward(mm, x, y, dy, dx, batch, inputGradient: true);

        AssertClose(ToNhwc(yRef, batch, conv.Output), y, tolerance, "y");
        AssertClose(ToNhwc(dxRef, batch, input), dx, tolerance, "dx");
        AssertClose(dwRef, store.Grad(conv.Weight).ToArray(), tolerance, "dW");
        AssertClose(dbRef, store.Grad(conv.Bias!).ToArray(), tolerance, "db");
    }

    internal static (TLayer Layer, ArrayParameters<double> Store, ParameterArena Arena) Single<TLayer>(TLayer layer)
        where TLayer : Layer<double>
    {
        var arena = new ParameterArena();
        layer.Register(arena, static _ => 0);
        arena.Build();
        var store = new ArrayParameters<double>(arena);
        layer.Bind(store);
        layer.Initialize(1);
        return (layer, store, arena);
    }

    internal static double[] Random(int n, ulong seed, double scale, double offset)
    {
        var rng = new Rng(seed);
        return [.. Enumerable.Range(0, n).Select(_ => (double)(float)((rng.NextGaussian() * scale) + offset))];
    }

    private static double[] ToNhwc(double[] nchw, int batch, ImageShape s)
    {
        double[] result = new double[nchw.Length];
        for (int n = 0; n < batch; n++)
        {
            for (int c = 0; c < s.Channels; c++)
            {
                for (int p = 0; p < s.Pixels; p++)
                {
                    result[(n * s.Size) + (p * s.Channels) + c] = nchw[(n * s.Size) + (c * s.Pixels) + p];
                }
            }
        }

        return result;
    }

    private static T[] Cast<T>(double[] values)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T> => [.. values.Select(T.CreateTruncating)];

    private static void Fill<T>(Span<T> target, double[] values)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        for (int i = 0; i < values.Length; i++)
        {
            target[i] = T.CreateTruncating(values[i]);
        }
    }

    private static void AssertClose<T>(double[] expected, T[] actual, double tolerance, string what)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        Assert.Equal(expected.Length, actual.Length);
        double scale = Math.Max(1, expected.Max(Math.Abs));
        for (int i = 0; i < expected.Length; i++)
        {
            double error = Math.Abs(double.CreateTruncating(actual[i]) - expected[i]);
            Assert.True(error <= tolerance * scale, $"{what}[{i}]: expected {expected[i]}, got {actual[i]} (error {error:e2})");
        }
    }
}

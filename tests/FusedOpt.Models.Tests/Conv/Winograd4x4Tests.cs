using System;
using System.Linq;
using System.Numerics;
using FusedOpt.Memory;
using FusedOpt.Models;
using FusedOpt.Models.Layers;
using FusedOpt.Threading;
using Xunit;

namespace FusedOpt.Tests.Conv;

/// <summary>
/// Winograd F(4×4, 3×3) (<see cref="ConvAlgorithm.Winograd4x4"/>) against a float64 direct convolution written out
/// here on channels-last data: y[n, i, j, o] = b[o] + Σ_c,ky,kx W[o, c, ky, kx]·x[n, i − 1 + ky, j − 1 + kx, c] and
/// its adjoint dx[n, iy, ix, c] = Σ_o,ky,kx W[o, c, ky, kx]·dy[n, iy + 1 − ky, ix + 1 − kx, o] (zero outside the image).
/// The weight gradient is checked against dW[o, c, ky, kx] = Σ dy[n, i, j, o]·x[n, i − 1 + ky, j − 1 + kx, c] too: with
/// F(4×4) it is Winograd as well (the adjoint in the weights), from the forward's transformed input tiles.
/// Sizes cover whole 4×4 tiles, partial tiles in either direction, images smaller than one tile, and 1-pixel rows.
/// </summary>
public sealed class Winograd4x4Tests
{
    /// <summary>
    /// Float32 bound per channel summed over, relative to max |exact value| of each tensor: y sums over Cin, dx over
    /// Cout, and the bound is <c>Float32ErrorPerRootChannel · √C</c>. Why: F(4×4) multiplies each input tile by Bᵀ
    /// and B (entries up to 5) and the products by Aᵀ and A (entries up to 8), and its kernel transform divides by 6
    /// and 24, so the transformed values are much larger than the outputs they cancel down to and each float32
    /// rounding of them (u = 6·10⁻⁸) costs more than in a direct sum. The first-order worst case over aligned signs
    /// is u·‖Aᵀ‖₂²·‖Bᵀ‖₂²·‖G‖₂² ≈ u·(11.8²·9.1²·1.06²) ≈ 8·10⁻⁴ per unit of Σ|w·x| (F(2×2): u·20 ≈ 10⁻⁶); roundings of
    /// random sign add in quadrature instead, over the C terms of the GEMM sums, so the error grows like √C.
    /// Measured max error / max |exact| on these cases and on 1×C×8×8 → 64 with C = 64, 256, 512: at most
    /// 1.3·10⁻⁶·√C (3.7·10⁻⁶ at C = 8, 1.4·10⁻⁵ at C = 256), 10–30× F(2×2)'s and im2col's on the same data
    /// (1–5·10⁻⁷). 4·10⁻⁶·√C leaves a ×3 margin; a wrong constant in a transform fails the float64 test at 10⁻¹².
    /// </summary>
    private const double Float32ErrorPerRootChannel = 4e-6;

    /// <summary>
    /// Float32 bound on the weight gradient, relative to max |exact dW|: dW = Gᵀ[Σ_tiles (A dY Aᵀ) ⊙ (Bᵀ d B)]G goes
    /// through the same kind of transforms (A's entries up to 8, Gᵀ's divisions by 6 and 24), then sums over tiles, where
    /// the exact dW and the random-sign rounding errors both grow like √tiles, so the relative error stays near
    /// F(4×4)'s other passes. Measured on these cases: at most 4.1·10⁻⁶ (64 tiles summed; im2col + GEMM: 2–4·10⁻⁷);
    /// 2·10⁻⁵ leaves a ×5 margin. The VGG PyTorch case checks it at VGG's shapes (tolerance 10⁻³ relative).
    /// </summary>
    private const double Float32WeightGradientTolerance = 2e-5;

    public static TheoryData<int, int, int, int, int> Cases => new()
    {
        // batch, cin, h, w, cout
        { 2, 8, 8, 8, 16 },    // whole tiles
        { 2, 16, 9, 7, 8 },    // partial tiles in both directions (odd)
        { 1, 8, 6, 10, 8 },    // partial tiles (even, not multiples of 4)
        { 3, 16, 2, 2, 16 },   // smaller than one tile (VGG's 2×2 layers)
        { 2, 32, 4, 4, 8 },    // one whole tile (VGG's 4×4 layers), more input channels
        { 2, 8, 1, 5, 16 },    // one row
        { 1, 8, 13, 12, 8 },   // several tiles, partial last row of tiles
        { 1, 256, 8, 8, 16 },  // VGG's conv3/conv4 channel scale
        { 4, 64, 16, 16, 32 }, // VGG's conv2 image size: 64 tiles summed into dW
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Winograd4x4_Float64_MatchesDirectConvolution(int batch, int cin, int h, int w, int cout)
    {
        var errors = Run<double>(batch, cin, h, w, cout, threads: 2);
        Assert.True(errors.Y <= 1e-12 && errors.Dx <= 1e-12 && errors.Dw <= 1e-12, errors.ToString());
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Winograd4x4_Float32_MatchesDirectConvolution_WithinStatedBound(int batch, int cin, int h, int w, int cout)
    {
        var errors = Run<float>(batch, cin, h, w, cout, threads: 2);
        double yBound = Float32ErrorPerRootChannel * Math.Sqrt(cin), dxBound = Float32ErrorPerRootChannel * Math.Sqrt(cout);
        Assert.True(errors.Y <= yBound && errors.Dx <= dxBound, $"{errors}; bounds y {yBound:e2}, dx {dxBound:e2}");
        Assert.True(errors.Dw <= Float32WeightGradientTolerance, errors.ToString());
    }

    [Fact]
    public void Winograd4x4_Float32_SameBitsWithOrWithoutTheTransformPool()
    {
        var alone = Run<float>(2, 16, 9, 7, 8, threads: 1);
        var pooled = Run<float>(2, 16, 9, 7, 8, threads: 2);
        Assert.Equal(alone.Outputs, pooled.Outputs);
    }

    [Theory]
    [InlineData(ConvAlgorithm.Winograd4x4)]
    [InlineData(ConvAlgorithm.Winograd)]
    public void WinogradWeightGradient_WithoutItsForward_FallsBackToColumnsWithTheSameResult(ConvAlgorithm algorithm)
    {
        // The weight gradient reads the transformed input tiles of the last forward; a second backward after one
        // forward (those tiles are spent by backward-data) must build im2col columns instead and agree.
        var conv = new Conv2d<double>("conv", new ImageShape(8, 7, 6), 8, algorithm: algorithm);
        using var arena = new ParameterArena();
        conv.Register(arena, static _ => 0);
        arena.Build();
        var store = new ArrayParameters<double>(arena);
        conv.Bind(store);
        conv.Initialize(3);
        using var mm = new MatMul<double>(1);
        double[] x = ConvLayerTests.Random(2 * 7 * 6 * 8, 21, 1, 0), dy = ConvLayerTests.Random(2 * 7 * 6 * 8, 22, 1, 0);
        double[] y = new double[dy.Length], dx = new double[x.Length];
        conv.Forward(mm, x, y, 2, training: true);
        conv.Backward(mm, x, y, dy, dx, 2, inputGradient: true);
        double[] winograd = store.Grad(conv.Weight).ToArray();
        store.Grad(conv.Weight).Clear();
        conv.Backward(mm, x, y, dy, dx, 2, inputGradient: true);
        double[] columns = store.Grad(conv.Weight).ToArray();
        double scale = winograd.Max(Math.Abs);
        Assert.All(winograd.Zip(columns), p => Assert.True(Math.Abs(p.First - p.Second) <= 1e-12 * scale, $"{p.First} against {p.Second}"));
    }

    [Fact]
    public void Winograd4x4_WhereItDoesNotApply_FailsNamingTheShape()
    {
        var e = Assert.Throws<ArgumentException>(() => new Conv2d<float>("c", new ImageShape(8, 6, 6), 8, kernel: 3, stride: 2, algorithm: ConvAlgorithm.Winograd4x4));
        Assert.Contains("F(4×4, 3×3)", e.Message, StringComparison.Ordinal);
        Assert.Contains("s 2", e.Message, StringComparison.Ordinal);
        e = Assert.Throws<ArgumentException>(() => new Conv2d<float>("c", new ImageShape(3, 8, 8), 8, algorithm: ConvAlgorithm.Winograd4x4));
        Assert.Contains("3 → 8", e.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => new Conv2d<float>("c", new ImageShape(8, 8, 8), 8, kernel: 5, padding: 2, algorithm: ConvAlgorithm.Winograd4x4));
        Assert.Throws<ArgumentOutOfRangeException>(() => new Conv2d<float>("c", new ImageShape(8, 8, 8), 8, algorithm: (ConvAlgorithm)99));
    }

    [Theory]
    [InlineData(16, 16, 16, ConvAlgorithm.Winograd4x4)]
    [InlineData(16, 4, 4, ConvAlgorithm.Winograd4x4)]
    [InlineData(16, 5, 4, ConvAlgorithm.Winograd4x4)]
    [InlineData(16, 3, 8, ConvAlgorithm.Winograd)]
    [InlineData(16, 2, 2, ConvAlgorithm.Winograd)]
    [InlineData(16, 1, 8, ConvAlgorithm.Im2Col)]
    [InlineData(3, 16, 16, ConvAlgorithm.Im2Col)]
    public void Auto_PicksByImageSize_AsMeasured(int cin, int h, int w, ConvAlgorithm expected)
    {
        Assert.Equal(expected, new Conv2d<float>("c", new ImageShape(cin, h, w), 16).Implementation);
        Assert.Equal(ConvAlgorithm.Auto, new Conv2d<float>("c", new ImageShape(cin, h, w), 16).Algorithm);
        Assert.Equal(ConvAlgorithm.Im2Col, new Conv2d<float>("c", new ImageShape(cin, h, w), 16, stride: 2).Implementation);
    }

    [Fact]
    public void ConvAlgorithm_ExistingValuesKeepTheirNumbers()
    {
        Assert.Equal(0, (int)ConvAlgorithm.Auto);
        Assert.Equal(1, (int)ConvAlgorithm.Im2Col);
        Assert.Equal(2, (int)ConvAlgorithm.Winograd);
        Assert.Equal(3, (int)ConvAlgorithm.Winograd4x4);
    }

    private sealed record Errors(double Y, double Dx, double Dw, float[] Outputs)
    {
        public override string ToString() => $"max error / max |exact|: y {Y:e2}, dx {Dx:e2}, dW {Dw:e2}";
    }

    private static Errors Run<T>(int batch, int cin, int h, int w, int cout, int threads)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var conv = new Conv2d<T>("conv", new ImageShape(cin, h, w), cout, algorithm: ConvAlgorithm.Winograd4x4);
        Assert.Equal(ConvAlgorithm.Winograd4x4, conv.Implementation);
        using var arena = new ParameterArena();
        conv.Register(arena, static _ => 0);
        arena.Build();
        ParameterStore<T> store = typeof(T) == typeof(float) ? (ParameterStore<T>)(object)new ArenaParameters(arena) : new ArrayParameters<T>(arena);
        conv.Bind(store);
        using var pool = threads > 1 ? new WorkerPool(threads) : null;
        conv.Attach(pool);

        // Float32-representable values, so both precisions see the same data.
        double[] weight = ConvLayerTests.Random(cout * cin * 9, 11, 0.5, 0), bias = ConvLayerTests.Random(cout, 12, 0.5, 0.25);
        double[] x = ConvLayerTests.Random(batch * h * w * cin, 13, 1, 0.1), dy = ConvLayerTests.Random(batch * h * w * cout, 14, 1, 0);
        for (int i = 0; i < weight.Length; i++)
        {
            store.Param(conv.Weight)[i] = T.CreateTruncating(weight[i]);
        }

        for (int i = 0; i < cout; i++)
        {
            store.Param(conv.Bias!)[i] = T.CreateTruncating(bias[i]);
        }

        // The oracle: direct loops in float64, channels-last.
        double[] yRef = new double[dy.Length], dxRef = new double[x.Length], dwRef = new double[weight.Length];
        for (int n = 0; n < batch; n++)
        {
            for (int i = 0; i < h; i++)
            {
                for (int j = 0; j < w; j++)
                {
                    for (int o = 0; o < cout; o++)
                    {
                        int yi = (((((n * h) + i) * w) + j) * cout) + o;
                        double sum = bias[o];
                        for (int ky = 0; ky < 3; ky++)
                        {
                            int iy = i - 1 + ky;
                            if (iy < 0 || iy >= h)
                            {
                                continue;
                            }

                            for (int kx = 0; kx < 3; kx++)
                            {
                                int ix = j - 1 + kx;
                                if (ix < 0 || ix >= w)
                                {
                                    continue;
                                }

                                for (int c = 0; c < cin; c++)
                                {
                                    int xi = (((((n * h) + iy) * w) + ix) * cin) + c, wi = (((((o * cin) + c) * 3) + ky) * 3) + kx;
                                    sum += weight[wi] * x[xi];
                                    dxRef[xi] += weight[wi] * dy[yi];
                                    dwRef[wi] += x[xi] * dy[yi];
                                }
                            }
                        }

                        yRef[yi] = sum;
                    }
                }
            }
        }

        using var mm = new MatMul<T>(threads);
        T[] xt = [.. x.Select(T.CreateTruncating)], dyt = [.. dy.Select(T.CreateTruncating)];
        T[] y = new T[dy.Length], dx = new T[x.Length];
        conv.Forward(mm, xt, y, batch, training: true);
        conv.Backward(mm, xt, y, dyt, dx, batch, inputGradient: true);
        T[] dw = store.Grad(conv.Weight).ToArray();
        float[] outputs = [.. y.Concat(dx).Concat(dw).Select(float.CreateTruncating)];
        return new Errors(RelativeError(yRef, y), RelativeError(dxRef, dx), RelativeError(dwRef, dw), outputs);
    }

    private static double RelativeError<T>(double[] exact, T[] actual)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Assert.Equal(exact.Length, actual.Length);
        Assert.All(actual, static a => Assert.True(T.IsFinite(a)));
        double scale = exact.Max(Math.Abs), worst = 0;
        for (int i = 0; i < exact.Length; i++)
        {
            worst = Math.Max(worst, Math.Abs(double.CreateTruncating(actual[i]) - exact[i]));
        }

        return worst / scale;
    }
}

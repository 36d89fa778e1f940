using System;
using System.Linq;
using System.Numerics;
using System.Runtime.InteropServices;
using FusedOpt.Memory;
using FusedOpt.Models;
using FusedOpt.Models.Layers;
using FusedOpt.Threading;
using Xunit;

namespace FusedOpt.Tests.Conv;

/// <summary>
/// The weight gradient of narrow convolutions (K = k·k·Cin ≤ 32, <see cref="NarrowWeightGradient{T}"/>) on 1, 2 and 3
/// threads: the kernel splits the output-channel vectors over the pool and each part sums over all pixels in the same
/// order, so the bits must not depend on the thread count; and every thread count must equal
/// dW[o, c, ky, kx] = Σ_n,i,j dy[n, i, j, o]·x[n, i·s − p + ky, j·s − p + kx, c] (channels-last, zero outside the
/// image), written out here in float64. Cout is 5 vectors, so 2 and 3 parts get unequal shares (2 + 3 and 1 + 2 + 2
/// vectors), and the pixel counts span two or three 256-pixel blocks, the last one partial.
/// </summary>
public sealed class NarrowWeightGradientTests
{
    /// <summary>
    /// Float32 bound on max |error| / max |exact dW|: the same as the other float32 convolution tests (ConvLayerTests).
    /// Each dW entry sums P products (P = 360…720 here) in blocks of 256 in registers, then the block sums; the rounding
    /// errors of random sign grow like √P while the largest entry grows like √P too. Measured at most 5.0·10⁻⁷ on
    /// these cases; 2·10⁻⁵ leaves a ×40 margin, while a dropped pixel block or a misplaced channel fails it by orders.
    /// </summary>
    private const double Float32Tolerance = 2e-5;

    public static TheoryData<int, int, int, int, int, int, int> Cases => new()
    {
        // batch, cin, h, w, k, stride, padding
        { 3, 3, 16, 15, 3, 1, 1 }, // VGG's conv1 kind (K = 27: six groups of four columns and a tail of three), 720 pixels
        { 2, 8, 16, 12, 2, 1, 0 }, // K = 32, the largest taken; 2·15·11 = 330 pixels
        { 4, 3, 19, 17, 3, 2, 1 }, // stride 2: 4·10·9 = 360 pixels
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void NarrowWeightGradient_Float32_SameBitsOn1To3Threads_AndEqualsTheDirectSum(int batch, int cin, int h, int w, int k, int stride, int padding) =>
        Check<float>(batch, cin, h, w, k, stride, padding, Float32Tolerance);

    [Theory]
    [MemberData(nameof(Cases))]
    public void NarrowWeightGradient_Float64_SameBitsOn1To3Threads_AndEqualsTheDirectSum(int batch, int cin, int h, int w, int k, int stride, int padding) =>
        Check<double>(batch, cin, h, w, k, stride, padding, 1e-12);

    private static void Check<T>(int batch, int cin, int h, int w, int k, int stride, int padding, double tolerance)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int cout = 5 * Vector<T>.Count;
        var input = new ImageShape(cin, h, w);
        int ho = ((h + (2 * padding) - k) / stride) + 1, wo = ((w + (2 * padding) - k) / stride) + 1;
        double[] x = ConvLayerTests.Random(batch * h * w * cin, 61, 1, 0.1), dy = ConvLayerTests.Random(batch * ho * wo * cout, 62, 1, 0);
        double[] expected = DirectWeightGradient(x, dy, batch, cin, h, w, cout, k, stride, padding, ho, wo);

        T[] one = WeightGradient<T>(input, cout, k, stride, padding, x, dy, batch, threads: 1);
        T[] two = WeightGradient<T>(input, cout, k, stride, padding, x, dy, batch, threads: 2);
        T[] three = WeightGradient<T>(input, cout, k, stride, padding, x, dy, batch, threads: 3);
        Assert.True(MemoryMarshal.AsBytes(one.AsSpan()).SequenceEqual(MemoryMarshal.AsBytes(two.AsSpan())), "1 and 2 threads differ");
        Assert.True(MemoryMarshal.AsBytes(one.AsSpan()).SequenceEqual(MemoryMarshal.AsBytes(three.AsSpan())), "1 and 3 threads differ");

        double scale = expected.Max(Math.Abs), worst = 0;
        int worstAt = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            double error = Math.Abs(double.CreateTruncating(one[i]) - expected[i]);
            if (error > worst)
            {
                (worst, worstAt) = (error, i);
            }
        }

        Assert.True(worst <= tolerance * scale, $"dW[{worstAt}] = {one[worstAt]}, expected {expected[worstAt]}: max error / max |exact| {worst / scale:e2} > {tolerance:e1}");
    }

    /// <summary>The layer's weight gradient for one forward and backward, its pool <paramref name="threads"/> wide (none for 1).</summary>
    private static T[] WeightGradient<T>(ImageShape input, int cout, int k, int stride, int padding, double[] x, double[] dy, int batch, int threads)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var conv = new Conv2d<T>("conv", input, cout, k, stride, padding);
        Assert.True(conv.UsesNarrowWeightGradient);
        using var arena = new ParameterArena();
        conv.Register(arena, static _ => 0);
        arena.Build();
        var store = new ArrayParameters<T>(arena);
        conv.Bind(store);
        conv.Initialize(9);
        using var pool = threads > 1 ? new WorkerPool(threads) : null;
        conv.Attach(pool);
        using var mm = new MatMul<T>(1);
        T[] xt = [.. x.Select(T.CreateTruncating)], dyt = [.. dy.Select(T.CreateTruncating)];
        var y = new T[dy.Length];
        conv.Forward(mm, xt, y, batch, training: true);
        conv.Backward(mm, xt, y, dyt, [], batch, inputGradient: false);
        return store.Grad(conv.Weight).ToArray();
    }

    private static double[] DirectWeightGradient(double[] x, double[] dy, int batch, int cin, int h, int w, int cout, int k, int stride, int padding, int ho, int wo)
    {
        var dw = new double[cout * cin * k * k];
        for (int n = 0; n < batch; n++)
        {
            for (int c = 0; c < cin; c++)
            {
                for (int i = 0; i < ho; i++)
                {
                    for (int j = 0; j < wo; j++)
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

                                double value = x[(((((n * h) + iy) * w) + ix) * cin) + c];
                                for (int o = 0; o < cout; o++)
                                {
                                    dw[(((((o * cin) + c) * k) + ky) * k) + kx] += dy[(((((n * ho) + i) * wo) + j) * cout) + o] * value;
                                }
                            }
                        }
                    }
                }
            }
        }

        return dw;
    }
}

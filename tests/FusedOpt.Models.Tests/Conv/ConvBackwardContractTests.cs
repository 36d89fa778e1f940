using System;
using System.Linq;
using FusedOpt.Memory;
using FusedOpt.Models;
using FusedOpt.Models.Layers;
using Xunit;

namespace FusedOpt.Tests.Conv;

/// <summary>
/// What a convolution's backward may assume about the forward before it: it reads the columns (im2col) or the
/// transformed input tiles (Winograd) the last forward left, so it must see the latest forward's input, must not mistake
/// the columns backward-data overwrote for the forward's, and must refuse a batch the last forward did not have. Each
/// weight gradient is held to dW[o, c, ky, kx] = Σ_n,i,j dy[n, i, j, o]·x[n, i − 1 + ky, j − 1 + kx, c] (3×3, stride 1,
/// padding 1, channels-last, zero outside the image), written out here in float64.
/// </summary>
public sealed class ConvBackwardContractTests
{
    private const int Cin = 8, Cout = 8, Height = 7, Width = 6;

    [Theory]
    [InlineData(ConvAlgorithm.Im2Col)]
    [InlineData(ConvAlgorithm.Winograd)]
    [InlineData(ConvAlgorithm.Winograd4x4)]
    public void Backward_TwiceAfterOneForward_BothWeightGradientsEqualTheDirectSum(ConvAlgorithm algorithm)
    {
        using var layer = new Layer(algorithm);
        double[] x = ConvLayerTests.Random(2 * Height * Width * Cin, 31, 1, 0), dy = ConvLayerTests.Random(2 * Height * Width * Cout, 32, 1, 0);
        double[] expected = DirectWeightGradient(x, dy, 2);
        layer.Forward(x, 2);

        // The first backward's backward-data overwrites what the forward left (im2col: the columns become dcol).
        AssertClose(expected, layer.Backward(x, dy, 2), "first backward");
        AssertClose(expected, layer.Backward(x, dy, 2), "second backward");
    }

    [Theory]
    [InlineData(ConvAlgorithm.Im2Col)]
    [InlineData(ConvAlgorithm.Winograd)]
    [InlineData(ConvAlgorithm.Winograd4x4)]
    public void Backward_AfterTwoForwards_UsesTheLatestForwardsInput(ConvAlgorithm algorithm)
    {
        using var layer = new Layer(algorithm);
        double[] first = ConvLayerTests.Random(3 * Height * Width * Cin, 41, 1, 0);
        double[] x = ConvLayerTests.Random(2 * Height * Width * Cin, 42, 1, 0), dy = ConvLayerTests.Random(2 * Height * Width * Cout, 43, 1, 0);
        layer.Forward(first, 3);
        layer.Forward(x, 2, training: false);

        AssertClose(DirectWeightGradient(x, dy, 2), layer.Backward(x, dy, 2), "after an evaluation forward of another batch");
    }

    [Theory]
    [InlineData(ConvAlgorithm.Im2Col)]
    [InlineData(ConvAlgorithm.Winograd)]
    [InlineData(ConvAlgorithm.Winograd4x4)]
    public void Backward_OfAnotherBatchThanTheForward_FailsNamingBoth(ConvAlgorithm algorithm)
    {
        using var layer = new Layer(algorithm);
        double[] x = ConvLayerTests.Random(3 * Height * Width * Cin, 51, 1, 0), dy = ConvLayerTests.Random(2 * Height * Width * Cout, 52, 1, 0);
        layer.Forward(x, 3);

        var e = Assert.Throws<InvalidOperationException>(() => layer.Backward(x.AsSpan(0, 2 * Height * Width * Cin).ToArray(), dy, 2));
        Assert.Contains("'conv'", e.Message, StringComparison.Ordinal);
        Assert.Contains("batch of 2", e.Message, StringComparison.Ordinal);
        Assert.Contains("forward of 3", e.Message, StringComparison.Ordinal);
    }

    private static double[] DirectWeightGradient(double[] x, double[] dy, int batch)
    {
        var dw = new double[Cout * Cin * 9];
        for (int n = 0; n < batch; n++)
        {
            for (int i = 0; i < Height; i++)
            {
                for (int j = 0; j < Width; j++)
                {
                    for (int ky = 0; ky < 3; ky++)
                    {
                        for (int kx = 0; kx < 3; kx++)
                        {
                            int iy = i - 1 + ky, ix = j - 1 + kx;
                            if (iy < 0 || iy >= Height || ix < 0 || ix >= Width)
                            {
                                continue;
                            }

                            for (int o = 0; o < Cout; o++)
                            {
                                double g = dy[(((((n * Height) + i) * Width) + j) * Cout) + o];
                                for (int c = 0; c < Cin; c++)
                                {
                                    dw[(((((o * Cin) + c) * 3) + ky) * 3) + kx] += g * x[(((((n * Height) + iy) * Width) + ix) * Cin) + c];
                                }
                            }
                        }
                    }
                }
            }
        }

        return dw;
    }

    private static void AssertClose(double[] expected, double[] actual, string what)
    {
        double scale = expected.Max(Math.Abs);
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.True(Math.Abs(expected[i] - actual[i]) <= 1e-12 * scale, $"{what}: dW[{i}] = {actual[i]}, expected {expected[i]}");
        }
    }

    /// <summary>One float64 convolution 8×7×6 → 8 with its arena; Backward returns the weight gradient of that call alone.</summary>
    private sealed class Layer : IDisposable
    {
        private readonly Conv2d<double> _conv;
        private readonly ParameterArena _arena = new();
        private readonly ArrayParameters<double> _store;
        private readonly MatMul<double> _matMul = new(1);

        public Layer(ConvAlgorithm algorithm)
        {
            _conv = new Conv2d<double>("conv", new ImageShape(Cin, Height, Width), Cout, algorithm: algorithm);
            Assert.Equal(algorithm, _conv.Implementation);
            _conv.Register(_arena, static _ => 0);
            _arena.Build();
            _store = new ArrayParameters<double>(_arena);
            _conv.Bind(_store);
            _conv.Initialize(5);
        }

        public void Forward(double[] x, int batch, bool training = true) =>
            _conv.Forward(_matMul, x, new double[batch * Height * Width * Cout], batch, training);

        public double[] Backward(double[] x, double[] dy, int batch)
        {
            _store.Grad(_conv.Weight).Clear();
            _conv.Backward(_matMul, x, new double[dy.Length], dy, new double[x.Length], batch, inputGradient: true);
            return _store.Grad(_conv.Weight).ToArray();
        }

        public void Dispose()
        {
            _matMul.Dispose();
            _arena.Dispose();
        }
    }
}

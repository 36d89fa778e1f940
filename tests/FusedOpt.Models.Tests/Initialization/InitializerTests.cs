using System;
using System.Linq;
using FusedOpt.Models;
using FusedOpt.Models.Initialization;
using Xunit;

namespace FusedOpt.Tests.Initialization;

/// <summary>The schemes of seed 003: bounds, variances, determinism and argument checks.</summary>
public sealed class InitializerTests
{
    [Theory]
    [InlineData(InitScheme.XavierUniform, 300, 100, 0.12247448713915890)] // √(6/400)
    [InlineData(InitScheme.XavierNormal, 300, 100, 0.070710678118654752)]  // √(2/400)
    [InlineData(InitScheme.HeUniform, 300, 100, 0.14142135623730950)]     // √(6/300)
    [InlineData(InitScheme.HeNormal, 300, 100, 0.081649658092772603)]     // √(2/300)
    public void Scale_MatchesSeedFormulas(InitScheme scheme, int fanIn, int fanOut, double expected) =>
        Assert.Equal(expected, Initializers.Scale(scheme, fanIn, fanOut), 15);

    [Theory]
    [InlineData(InitScheme.XavierUniform, 2.0 / 800)]
    [InlineData(InitScheme.XavierNormal, 2.0 / 800)]
    [InlineData(InitScheme.HeUniform, 2.0 / 500)]
    [InlineData(InitScheme.HeNormal, 2.0 / 500)]
    public void Fill_HasTheSchemesVarianceAndZeroMean(InitScheme scheme, double variance)
    {
        float[] w = new float[300 * 500];
        Initializers.Fill<float>(scheme, w, 500, 300, new Rng(1));
        double mean = w.Average(static x => (double)x);
        double var = w.Average(x => ((double)x - mean) * ((double)x - mean));
        Assert.InRange(mean, -0.01 * Math.Sqrt(variance), 0.01 * Math.Sqrt(variance) * 3);
        Assert.InRange(var / variance, 0.98, 1.02); // 150,000 draws: the sample variance is within ±1 % at 3 sd
    }

    [Theory]
    [InlineData(InitScheme.XavierUniform)]
    [InlineData(InitScheme.HeUniform)]
    public void Fill_Uniform_StaysWithinBound(InitScheme scheme)
    {
        double a = Initializers.Scale(scheme, 64, 32);
        double[] w = new double[64 * 32];
        Initializers.Fill<double>(scheme, w, 64, 32, new Rng(2));
        Assert.All(w, x => Assert.InRange(x, -a, a));
        Assert.True(w.Max() > 0.9 * a && w.Min() < -0.9 * a);
    }

    [Fact]
    public void Fill_SameSeed_GivesSameBits_AndFloatIsTheRoundedDouble()
    {
        float[] a = new float[50], b = new float[50];
        double[] d = new double[50];
        Initializers.Fill<float>(InitScheme.HeNormal, a, 10, 5, new Rng(9));
        Initializers.Fill<float>(InitScheme.HeNormal, b, 10, 5, new Rng(9));
        Initializers.Fill<double>(InitScheme.HeNormal, d, 10, 5, new Rng(9));
        Assert.Equal(a, b);
        Assert.Equal(d.Select(static x => (float)x), a);
    }

    [Fact]
    public void Fill_WrongLength_NamesTheShape()
    {
        var e = Assert.Throws<ArgumentException>(() => Initializers.Fill<float>(InitScheme.HeUniform, new float[10], 4, 3, new Rng(1)));
        Assert.Contains("10 weights given for fan_out × fan_in = 3 × 4 = 12", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Scale_NonPositiveFan_IsRejected()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => Initializers.Scale(InitScheme.XavierNormal, 0, 3));
        Assert.Contains("fan_in = 0", e.Message, StringComparison.Ordinal);
    }
}

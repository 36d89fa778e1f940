using System;
using System.Linq;
using FusedOpt.Models.Gadam;
using Xunit;

namespace FusedOpt.Tests.Gadam;

/// <summary>Eq. 45, 47, 49 and 50 of seed 004 §6.1 and the choices around them, on numbers checked by hand.</summary>
public sealed class GadamMathTests
{
    [Fact]
    public void Normalize_IsMinMax_ToZeroOne()
    {
        Assert.Equal([0, 1, 0.5], GadamMath.Normalize([2.0, 4.0, 3.0]));
    }

    [Fact]
    public void Normalize_EqualLosses_AreAllZero_AndNonFiniteLossesAreOne()
    {
        Assert.Equal([0, 0, 0], GadamMath.Normalize([1.5, 1.5, 1.5]));
        Assert.Equal([0, 1, 1, 0.5], GadamMath.Normalize([1.0, double.NaN, 3.0, 2.0]));
    }

    [Fact]
    public void Eq45_SelectionProbabilities_AreSoftmaxOfMinusNormalizedLoss()
    {
        // e^0 = 1, e^-1 = 0.367879, e^-0.5 = 0.606531; their sum 1.974410.
        var p = GadamMath.SelectionProbabilities([0, 1, 0.5]);

        Assert.Equal(0.506480, p[0], 6);
        Assert.Equal(0.186324, p[1], 6);
        Assert.Equal(0.307196, p[2], 6);
        Assert.Equal(1.0, p.Sum(), 12);
    }

    [Fact]
    public void Eq47_CrossoverProbability_FavoursTheLowerLoss()
    {
        Assert.Equal(0.731059, GadamMath.CrossoverProbability(0, 1), 6);   // 1 / (1 + e^-1)
        Assert.Equal(0.268941, GadamMath.CrossoverProbability(1, 0), 6);
        Assert.Equal(0.5, GadamMath.CrossoverProbability(0.3, 0.3));
    }

    [Fact]
    public void Eq49_MutationRate_IsBaseRateTimesOneMinusBothProbabilities_ClampedAtZero()
    {
        Assert.Equal(0.005, GadamMath.MutationRate(0.01, 0.2, 0.3), 15);
        Assert.Equal(0.0, GadamMath.MutationRate(0.01, 0.6, 0.6));
    }

    [Fact]
    public void Threshold24_IsFloorOfPTimesTwoToThe24()
    {
        Assert.Equal(0u, GadamMath.Threshold24(0));
        Assert.Equal(1u << 23, GadamMath.Threshold24(0.5));
        Assert.Equal(1u << 24, GadamMath.Threshold24(1));
        Assert.Equal(12265127u, GadamMath.Threshold24(0.7310585786300049)); // ⌊0.731059 · 16777216⌋
        Assert.Equal(1u, GadamMath.Threshold24(1e-7));                     // ⌊1.68⌋
        Assert.Throws<ArgumentOutOfRangeException>(() => GadamMath.Threshold24(double.NaN));
    }

    [Fact]
    public void Categorical_PicksTheFirstCumulativeAtOrAboveU()
    {
        double[] p = [0.25, 0.5, 0.25];

        Assert.Equal(0, GadamMath.Categorical(p, 0.25));
        Assert.Equal(1, GadamMath.Categorical(p, 0.2500001));
        Assert.Equal(1, GadamMath.Categorical(p, 0.75));
        Assert.Equal(2, GadamMath.Categorical(p, 0.76));
        Assert.Equal(2, GadamMath.Categorical(p, 1.0));
    }

    [Fact]
    public void DrawPair_ParentsFollowTheSelectionProbabilities()
    {
        double[] p = [0.5, 0.3, 0.2];
        var counts = new int[3];
        const int Pairs = 20000;
        for (int pair = 0; pair < Pairs; pair++)
        {
            var (i, j) = GadamMath.DrawPair(p, seed: 7, generation: 3, pair);
            counts[i]++;
            counts[j]++;
        }

        // 40,000 draws: the standard error of each frequency is below 0.0025.
        for (int k = 0; k < 3; k++)
        {
            Assert.InRange(counts[k] / (2.0 * Pairs), p[k] - 0.01, p[k] + 0.01);
        }

        Assert.Equal(GadamMath.DrawPair(p, 7, 3, 5), GadamMath.DrawPair(p, 7, 3, 5));
        Assert.NotEqual(
            Enumerable.Range(0, 16).Select(q => GadamMath.DrawPair(p, 7, 3, q)).ToArray(),
            Enumerable.Range(0, 16).Select(q => GadamMath.DrawPair(p, 7, 4, q)).ToArray());
    }

    [Fact]
    public void SelectTop_KeepsTheLowestLosses_TiesByIndex_NonFiniteLast()
    {
        Assert.Equal([1, 3, 4], GadamMath.SelectTop([3.0, 1.0, double.NaN, 1.0, 2.0], 3));
        Assert.Equal([0, 2], GadamMath.SelectTop([1.0, double.PositiveInfinity, 5.0], 2));
    }

    [Fact]
    public void Eq50_StopsWhenTheSummedLossesChangeByAtMostLambda()
    {
        Assert.True(GadamMath.HasConverged(10.0, 10.05, 0.1));
        Assert.True(GadamMath.HasConverged(10.05, 10.0, 0.1));
        Assert.False(GadamMath.HasConverged(10.0, 10.2, 0.1));
        Assert.False(GadamMath.HasConverged(10.0, 9.0, 0));
    }
}

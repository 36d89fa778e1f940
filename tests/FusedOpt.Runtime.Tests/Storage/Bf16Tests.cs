using System;
using System.Linq;
using FusedOpt.Kernels;
using FusedOpt.Storage;
using Xunit;

namespace FusedOpt.Tests.Storage;

/// <summary>
/// bfloat16 stores against an independent oracle (the two bf16 neighbours of x compared in float64, ties to the even
/// one), the IEEE special cases, every path against every other, and stochastic rounding's determinism and bias.
/// </summary>
public sealed class Bf16Tests
{
    private static readonly Isa[] Paths = [.. new[] { Isa.Scalar, Isa.Avx2, Isa.Avx512 }.Where(IsaSupport.IsSupported)];

    /// <summary>Round to nearest even by comparing the truncated bf16 and the next one up in float64.</summary>
    private static ushort OracleRne(float x)
    {
        uint b = BitConverter.SingleToUInt32Bits(x);
        ushort down = (ushort)(b >> 16);
        ushort up = (ushort)(down + 1);
        double dx = Math.Abs((double)x);
        double dDown = Math.Abs((double)Bf16.ToFloat(down));
        // The next bf16 up from the largest finite magnitude is ∞: compare with 2^128, the value it would stand for.
        double dUp = (up & 0x7FFF) == 0x7F80 ? Math.Pow(2, 128) : Math.Abs((double)Bf16.ToFloat(up));
        double toDown = dx - dDown, toUp = dUp - dx;
        if (toDown < toUp)
        {
            return down;
        }

        if (toUp < toDown)
        {
            return up;
        }

        return (down & 1) == 0 ? down : up;
    }

    private static float[] Samples(int n, int seed)
    {
        var rng = new Random(seed);
        var x = new float[n];
        for (int i = 0; i < n; i++)
        {
            // Random bit patterns over every finite exponent, plus values near bf16 ties.
            uint bits = (uint)rng.NextInt64(0, 1L << 32);
            if ((bits & 0x7F80_0000u) == 0x7F80_0000u)
            {
                bits &= 0xBFFF_FFFFu;
            }

            if (i % 4 == 0)
            {
                bits = (bits & 0xFFFF_0000u) | 0x8000u;   // exactly halfway
            }

            x[i] = BitConverter.UInt32BitsToSingle(bits);
        }

        return x;
    }

    [Fact]
    public void FromFloat_MatchesNearestEvenOracle_OnRandomPatternsAndTies()
    {
        foreach (float x in Samples(200_000, 1))
        {
            Assert.Equal(OracleRne(x), Bf16.FromFloat(x));
        }
    }

    [Theory]
    [InlineData(0x3F80_0000u, 0x3F80)]   // 1.0 exact
    [InlineData(0x3F80_8000u, 0x3F80)]   // tie, even below: stays
    [InlineData(0x3F81_8000u, 0x3F82)]   // tie, odd below: rounds up to even
    [InlineData(0x3F80_8001u, 0x3F81)]   // just above the tie
    [InlineData(0x3F80_7FFFu, 0x3F80)]   // just below the tie
    [InlineData(0xBF81_8000u, 0xBF82)]   // negative tie: magnitude to even
    [InlineData(0x7F80_0000u, 0x7F80)]   // +∞
    [InlineData(0xFF80_0000u, 0xFF80)]   // −∞
    [InlineData(0x7F7F_FFFFu, 0x7F80)]   // float.MaxValue: beyond the last bf16 by more than half an ulp → ∞
    [InlineData(0x7F7F_7FFFu, 0x7F7F)]   // below the midpoint: the largest finite bf16
    [InlineData(0x7F7F_8000u, 0x7F80)]   // the midpoint, odd below: ties to even = ∞ (IEEE overflow)
    [InlineData(0x0000_0001u, 0x0000)]   // smallest subnormal rounds to +0
    [InlineData(0x0000_8001u, 0x0001)]   // subnormals are kept, not flushed
    [InlineData(0x8000_0000u, 0x8000)]   // −0
    public void FromFloat_SpecialCases(uint bits, int expected) =>
        Assert.Equal((ushort)expected, Bf16.FromFloat(BitConverter.UInt32BitsToSingle(bits)));

    [Theory]
    [InlineData(0x7FC0_0000u)]
    [InlineData(0x7F80_0001u)]   // signalling NaN with its payload only in the dropped half
    [InlineData(0xFFFF_FFFFu)]
    public void FromFloat_NaN_StaysNaN(uint bits)
    {
        Assert.True(float.IsNaN(Bf16.ToFloat(Bf16.FromFloat(BitConverter.UInt32BitsToSingle(bits)))));
        Assert.True(float.IsNaN(Bf16.ToFloat(Bf16.FromFloatStochastic(BitConverter.UInt32BitsToSingle(bits), 0xFFFF))));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(8)]
    [InlineData(9)]
    [InlineData(15)]
    [InlineData(16)]
    [InlineData(17)]
    [InlineData(1000)]
    public void Narrow_AllPathsGiveTheScalarBits(int n)
    {
        var x = Samples(n, n + 10);
        if (n > 3)
        {
            x[1] = float.NaN;
            x[2] = float.PositiveInfinity;
            x[3] = float.MaxValue;
        }

        var expected = new ushort[n];
        Bf16.Narrow(x, expected, Isa.Scalar);
        foreach (var isa in Paths)
        {
            var actual = new ushort[n];
            Bf16.Narrow(x, actual, isa);
            Assert.Equal(expected, actual);
            var widened = new float[n];
            Bf16.Widen(actual, widened, isa);
            for (int i = 0; i < n; i++)
            {
                Assert.Equal((uint)expected[i] << 16, BitConverter.SingleToUInt32Bits(widened[i]));
            }
        }
    }

    [Fact]
    public void NarrowStochastic_SameBitsForEveryPathAndEverySplit()
    {
        const int n = 1000;
        const long first = 4096 + 5;   // not a multiple of 64: the vector paths start with a scalar head
        var x = Samples(n, 3);
        var key = Bf16.KeyFor(seed: 42, stream: 0);
        var expected = new ushort[n];
        for (int i = 0; i < n; i++)
        {
            expected[i] = Bf16.FromFloatStochastic(x[i], Bf16.RandomBits(key, 7, first + i));
        }

        foreach (var isa in Paths)
        {
            var whole = new ushort[n];
            Bf16.NarrowStochastic(x, whole, key, 7, first, isa);
            Assert.Equal(expected, whole);

            // As if three threads had cut the range at other places.
            var parts = new ushort[n];
            int[] cuts = [0, 37, 500, n];
            for (int c = 0; c + 1 < cuts.Length; c++)
            {
                Bf16.NarrowStochastic(x.AsSpan(cuts[c], cuts[c + 1] - cuts[c]), parts.AsSpan(cuts[c], cuts[c + 1] - cuts[c]), key, 7, first + cuts[c], isa);
            }

            Assert.Equal(expected, parts);
        }
    }

    [Fact]
    public void NarrowStochastic_OtherStepOrSeed_GivesOtherBits()
    {
        var x = Enumerable.Repeat(1.0f + (3f / 1024), 256).ToArray();   // between two bf16, 3/8 of the way up
        var a = new ushort[256];
        var b = new ushort[256];
        var c = new ushort[256];
        Bf16.NarrowStochastic(x, a, Bf16.KeyFor(1, 0), 1, 0);
        Bf16.NarrowStochastic(x, b, Bf16.KeyFor(1, 0), 2, 0);
        Bf16.NarrowStochastic(x, c, Bf16.KeyFor(2, 0), 1, 0);
        Assert.NotEqual(a, b);
        Assert.NotEqual(a, c);
    }

    [Theory]
    [InlineData(0.25)]
    [InlineData(0.5)]
    [InlineData(0.9)]
    public void NarrowStochastic_IsUnbiased_RoundsUpWithTheDroppedFraction(double fraction)
    {
        // x = 1 + fraction·2⁻⁷ lies between the bf16 values 1 and 1 + 2⁻⁷; over 2¹⁷ draws the share rounded up has a
        // standard deviation below 0.0014, so ±0.01 fails only on a real bias.
        const int n = 1 << 17;
        float x = (float)(1 + (fraction / 128));
        var source = Enumerable.Repeat(x, n).ToArray();
        var stored = new ushort[n];
        Bf16.NarrowStochastic(source, stored, Bf16.KeyFor(9, 1), 3, 0, IsaSupport.Best);
        Assert.All(stored, s => Assert.True(s is 0x3F80 or 0x3F81));
        double up = stored.Count(s => s == 0x3F81) / (double)n;
        Assert.InRange(up, fraction - 0.01, fraction + 0.01);
    }

    [Fact]
    public void NarrowStochastic_LeavesRepresentableValuesAndInfinitiesUnchanged()
    {
        float[] x = [1f, -2f, 0f, float.PositiveInfinity, float.NegativeInfinity, 3.5f, 0.15625f];
        var stored = new ushort[x.Length];
        Bf16.NarrowStochastic(x, stored, Bf16.KeyFor(5, 0), 1, 0);
        for (int i = 0; i < x.Length; i++)
        {
            Assert.Equal(x[i], Bf16.ToFloat(stored[i]));
        }
    }
}

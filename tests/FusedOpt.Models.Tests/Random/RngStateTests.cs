using System;
using System.Linq;
using FusedOpt.Models;
using FusedOpt.Models.Data;
using Xunit;

namespace FusedOpt.Tests.Random;

/// <summary>
/// <see cref="Rng"/> against the reference C code (prng.di.unimi.it: splitmix64.c, xoshiro256starstar.c, compiled
/// with gcc to produce the constants below), plus save/restore and the derived draws.
/// </summary>
public sealed class RngStateTests
{
    [Fact]
    public void SplitMix64_MatchesReference()
    {
        ulong x = 1234567;
        ulong[] expected = [6457827717110365317, 3203168211198807973, 9817491932198370423, 4593380528125082431, 16408922859458223821];

        ulong[] actual = [.. expected.Select(_ => Rng.SplitMix64(ref x))];

        Assert.Equal(expected, actual);
    }

    [Fact]
    public void Xoshiro256StarStar_FromState1234_MatchesReference()
    {
        var rng = new Rng(new RngState(1, 2, 3, 4));
        ulong[] expected =
        [
            11520, 0, 1509978240, 1215971899390074240, 1216172134540287360, 607988272756665600,
            16172922978634559625, 8476171486693032832, 10595114339597558777, 2904607092377533576,
        ];

        ulong[] actual = [.. expected.Select(_ => rng.NextUInt64())];

        Assert.Equal(expected, actual);
    }

    [Fact]
    public void Seed_FillsStateWithSplitMix64_AsTheReferenceSeeds()
    {
        var rng = new Rng(42);

        Assert.Equal(new RngState(13679457532755275413, 2949826092126892291, 5139283748462763858, 6349198060258255764), rng.State);
        Assert.Equal(1546998764402558742UL, rng.NextUInt64());
        Assert.Equal(6990951692964543102UL, rng.NextUInt64());
    }

    [Fact]
    public void Jump_MatchesReference()
    {
        var rng = new Rng(new RngState(1, 2, 3, 4));

        rng.Jump();

        Assert.Equal(new RngState(10122426448480695249, 8079205330032121950, 7289065458748526725, 9477464255293849680), rng.State);
        Assert.Equal(13534147089533256664UL, rng.NextUInt64());
    }

    [Fact]
    public void State_SavedAndRestored_ContinuesTheSequenceExactly()
    {
        var rng = new Rng(7);
        rng.NextUInt64();
        RngState saved = rng.State;
        ulong[] expected = [rng.NextUInt64(), rng.NextUInt64(), (ulong)rng.NextInt(1000)];

        var restored = new Rng(1) { State = saved };

        ulong[] actual = [restored.NextUInt64(), restored.NextUInt64(), (ulong)restored.NextInt(1000)];
        Assert.Equal(expected, actual);
    }

    [Fact]
    public void State_RoundTripsThroughBytes()
    {
        var state = new Rng(99).State;
        var bytes = new byte[RngState.ByteCount];

        state.WriteTo(bytes);

        Assert.Equal(state, RngState.ReadFrom(bytes));
        Assert.Equal(0xFFUL & state.S0, bytes[0]);
    }

    [Fact]
    public void State_AllZero_IsRefused()
    {
        var e = Assert.Throws<ArgumentException>(() => new Rng(default(RngState)));

        Assert.Contains("all-zero state", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void NextInt_StaysInRange_AndHitsEveryValue()
    {
        var rng = new Rng(3);
        var seen = new int[9];
        for (int i = 0; i < 9000; i++)
        {
            seen[rng.NextInt(9)]++;
        }

        Assert.All(seen, count => Assert.InRange(count, 850, 1150));
        Assert.Equal(0, new Rng(5).NextInt(1));
    }

    [Fact]
    public void NextInt_IsTheHighWordOfTheScaledDraw()
    {
        // Lemire: floor(x · n / 2³²) for a 32-bit x (no rejection is needed for n = 10 with this x).
        var reference = new Rng(11);
        uint x = reference.NextUInt32();

        Assert.Equal((int)(((ulong)x * 10) >> 32), new Rng(11).NextInt(10));
    }

    [Fact]
    public void NextInt_NonPositiveBound_IsRejected() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new Rng(1).NextInt(0));

    [Fact]
    public void NextDoubleAndNextSingle_AreInUnitInterval()
    {
        var rng = new Rng(5);
        for (int i = 0; i < 1000; i++)
        {
            Assert.InRange(rng.NextDouble(), 0.0, Math.BitDecrement(1.0));
            Assert.InRange(rng.NextSingle(), 0f, MathF.BitDecrement(1f));
        }
    }

    [Fact]
    public void Shuffle_GivesAPermutation_DeterminedByTheSeed()
    {
        int[] a = [.. Enumerable.Range(0, 100)];
        int[] b = [.. Enumerable.Range(0, 100)];

        new Rng(8).Shuffle<int>(a);
        new Rng(8).Shuffle<int>(b);

        Assert.Equal(Enumerable.Range(0, 100), a.Order());
        Assert.Equal(a, b);
        Assert.NotEqual(Enumerable.Range(0, 100), a);
    }
}

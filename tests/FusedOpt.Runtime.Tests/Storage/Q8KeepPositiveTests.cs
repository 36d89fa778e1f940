using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using FusedOpt.Kernels;
using FusedOpt.Memory;
using FusedOpt.Optimizers;
using FusedOpt.State;
using FusedOpt.Storage;
using Xunit;

namespace FusedOpt.Tests.Storage;

/// <summary>
/// q8's opt-in keep-positive rule (<see cref="OptimizerOptions.Q8KeepPositive"/>): with the unsigned map a positive
/// value is never coded 0 but 1, the smallest nonzero code. Plan: the rule is written out here — "the scalar search's
/// code (itself held to a brute-force nearest-code scan by <see cref="Q8Tests"/>), then 1 where y &gt; 0 and that code
/// is 0", and in the sub-threshold region directly from the map's bounds — and every encoder path is held to it bit for
/// bit, while without the option every path keeps today's codes. The generated Adam over q8 states with the option is
/// held to the hand-written <see cref="CompressedAdam"/>, which applies the rule as its own pass after bitsandbytes'
/// codes (not through the encoder's option). The option is refused without q8, and state files carry it unchanged.
/// </summary>
public sealed class Q8KeepPositiveTests(ITestOutputHelper output)
{
    private static readonly Isa[] Paths = [.. new[] { Isa.Scalar, Isa.Avx2, Isa.Avx512 }.Where(IsaSupport.IsSupported)];

    private static DynamicMap Map => DynamicMap.Unsigned;

    /// <summary>The rule written out: the scalar search's code, then 1 if y &gt; 0 and the code is 0.</summary>
    private static byte Expected(float y)
    {
        byte code = Q8.Encode(y, Map);
        return code == 0 && y > 0 ? (byte)1 : code;
    }

    public static IEnumerable<TheoryDataRow<Isa, int>> PathsAndThreads() =>
        TestData.SupportedIsas().SelectMany(static isa => new[] { new TheoryDataRow<Isa, int>(isa, 1), new TheoryDataRow<Isa, int>(isa, 3) });

    [Fact]
    public void EncodeBlock_KeepPositive_EveryPath_IsTheSearchsCodeRaisedToOneWherePositive_OnEveryStridedFloat()
    {
        // Every float32 bit pattern with a stride of 1021 (all signs, binades, NaN payloads and infinities), inverse scale 1.
        const long Stride = 1021;
        const int Chunk = 1 << 16;
        var x = new float[Chunk];
        var kept = new byte[Chunk];
        var plain = new byte[Chunk];
        foreach (var isa in Paths)
        {
            long bits = 0, raised = 0;
            while (bits < 1L << 32)
            {
                int n = 0;
                for (; n < Chunk && bits < 1L << 32; n++, bits += Stride)
                {
                    x[n] = BitConverter.UInt32BitsToSingle((uint)bits);
                }

                Q8.EncodeBlock(x.AsSpan(0, n), kept.AsSpan(0, n), 1f, Map, isa, keepPositive: true);
                Q8.EncodeBlock(x.AsSpan(0, n), plain.AsSpan(0, n), 1f, Map, isa);
                for (int i = 0; i < n; i++)
                {
                    byte search = Q8.Encode(x[i], Map);
                    if (kept[i] != Expected(x[i]) || plain[i] != search)
                    {
                        Assert.Fail($"{isa} y = {x[i]:R} (0x{BitConverter.SingleToUInt32Bits(x[i]):X8}): search {search}, rule {Expected(x[i])}; EncodeBlock {plain[i]}, with keepPositive {kept[i]}");
                    }

                    raised += kept[i] != plain[i] ? 1 : 0;
                }
            }

            // The positive floats at or below U₁/2 ≈ 1.6·10⁻⁷: about 0x3430_0000 of 2³² patterns, so ~855,000 here.
            output.WriteLine($"{isa}: {raised:N0} strided floats raised from code 0 to 1");
            Assert.InRange(raised, 800_000, 900_000);
        }
    }

    [Fact]
    public void EncodeBlock_KeepPositive_SubThresholdRegion_CodesOne_WhileZeroNegativeAndNaNKeepZero()
    {
        // The region the rule changes, written out from the map: 0 < y ≤ Bounds[1] = U₁/2 is code 0 by bitsandbytes'
        // quantizer and 1 with the rule; Bounds[1] < y ≤ Bounds[2] is code 1 either way.
        float b1 = Map.Bounds[1], b2 = Map.Bounds[2];
        Assert.Equal(0f, Map.Codes[0]);
        Assert.Equal(Map.Codes[1] / 2, b1, 1e-12);
        var values = new List<float>
        {
            float.Epsilon, MathF.Pow(2, -126), 1e-30f, b1, MathF.BitDecrement(b1), MathF.BitIncrement(b1), b2, MathF.BitDecrement(b2),
            0f, -0f, -float.Epsilon, -b1, -1f, float.NaN, -float.NaN, float.NegativeInfinity,
        };
        uint top = BitConverter.SingleToUInt32Bits(b2);
        for (uint bits = 1; bits <= top; bits += 251)
        {
            values.Add(BitConverter.UInt32BitsToSingle(bits));
        }

        var y = values.ToArray();
        var expectedKept = y.Select(v => v > 0 ? (byte)1 : (byte)0).ToArray();                            // every value here is ≤ Bounds[2]
        var expectedPlain = y.Select(v => v > b1 ? (byte)1 : (byte)0).ToArray();                          // NaN > b1 is false
        foreach (var isa in Paths)
        {
            var kept = new byte[y.Length];
            var plain = new byte[y.Length];
            Q8.EncodeBlock(y, kept, 1f, Map, isa, keepPositive: true);
            Q8.EncodeBlock(y, plain, 1f, Map, isa);
            Assert.Equal(expectedKept, kept);
            Assert.Equal(expectedPlain, plain);
        }

        Assert.Equal(expectedKept, y.Select(v => Q8.Encode(v, Map, keepPositive: true)).ToArray());
        Assert.True(expectedKept.Zip(expectedPlain).Count(static p => p.First != p.Second) > 1_000_000, "the region holds few values the rule changes");
    }

    [Theory]
    [InlineData(17)]
    [InlineData(256)]
    [InlineData(1037)]
    public void Quantize_KeepPositive_EveryPath_RaisesOnlyPositiveZeros_AbsmaxUnchanged_ZeroAndNonFiniteBlocksAsBefore(int n)
    {
        // v-like values: non-negative, spanning 12 decades below a block's largest, every 7th exactly 0; block 1 (when
        // there is one) all zero, block 2 holding a NaN.
        var rng = new Random(n);
        var x = new float[n];
        for (int i = 0; i < n; i++)
        {
            x[i] = i % 7 == 3 ? 0f : (float)Math.Pow(10, -12 * rng.NextDouble());
        }

        if (n > 2 * Q8.BlockSize)
        {
            x.AsSpan(Q8.BlockSize, Q8.BlockSize).Clear();
            x[(2 * Q8.BlockSize) + 5] = float.NaN;
        }

        var plainCodes = new byte[n];
        var absmax = new float[Q8.BlockCount(n)];
        Q8.Quantize(x, plainCodes, absmax, Map, Isa.Scalar);

        // Expected: bitsandbytes' codes, then the rule on y = x · (1/absmax).
        var expected = (byte[])plainCodes.Clone();
        int raised = 0;
        for (int i = 0; i < n; i++)
        {
            float y = x[i] * Q8.InverseScale(absmax[i / Q8.BlockSize]);
            if (expected[i] == 0 && y > 0)
            {
                expected[i] = 1;
                raised++;
            }
        }

        Assert.True(raised > 0, "no value was small enough for the rule to change its code");
        foreach (var isa in Paths)
        {
            var codes = new byte[n];
            var a = new float[absmax.Length];
            Q8.Quantize(x, codes, a, Map, isa, keepPositive: true);
            Assert.Equal(expected, codes);
            Assert.Equal(absmax.Select(BitConverter.SingleToUInt32Bits), a.Select(BitConverter.SingleToUInt32Bits));
            if (n > 2 * Q8.BlockSize)
            {
                Assert.All(codes.AsSpan(Q8.BlockSize, Q8.BlockSize).ToArray(), static c => Assert.Equal(0, c));
                Assert.True(float.IsNaN(a[2]));
                Assert.Equal(plainCodes.AsSpan(2 * Q8.BlockSize, Q8.BlockSize).ToArray(), codes.AsSpan(2 * Q8.BlockSize, Q8.BlockSize).ToArray());
            }
        }
    }

    [Fact]
    public void KeepPositive_WithTheSignedMap_IsRefused()
    {
        var x = new float[20];
        var codes = new byte[20];
        var absmax = new float[1];

        var encode = Assert.Throws<ArgumentException>(() => Q8.Encode(1e-9f, DynamicMap.Signed, keepPositive: true));
        var block = Assert.Throws<ArgumentException>(() => Q8.EncodeBlock(x, codes, 1f, DynamicMap.Signed, Isa.Scalar, keepPositive: true));
        var quantize = Assert.Throws<ArgumentException>(() => Q8.Quantize(x, codes, absmax, DynamicMap.Signed, Isa.Scalar, keepPositive: true));

        foreach (var e in new[] { encode, block, quantize })
        {
            Assert.StartsWith("keepPositive applies to the unsigned map (non-negative states such as Adam's v); the signed map's code 0 is its most negative value, not 0.", e.Message, StringComparison.Ordinal);
        }
    }

    [Theory]
    [MemberData(nameof(PathsAndThreads))]
    public void GeneratedAdamOverQ8KeepPositive_GivesTheHandWrittenCompressedAdamsBits(Isa isa, int threads)
    {
        // One tensor at offset 0 (the hand-written kernel's blocks are the tensor's): gradients spanning 8 decades, 10%
        // zero, so that many v fall at or below half the smallest code of their block and some then get g = 0.
        const int Length = (256 * 9) + 100;
        var (p0, grads) = TestData.Inputs(Length, 5, seed: 5);
        var (generatedP, generatedM, generatedV) = Generated(keepPositive: true);
        var (plainP, _, plainV) = Generated(keepPositive: false);
        using var handWritten = new CompressedAdam(Length, StateStorage.Q8, threads, isa) { Lr = 1e-2f, Q8KeepPositive = true };
        using var p = new AlignedBuffer(Length);
        using var g = new AlignedBuffer(Length);
        p0.CopyTo(p.Span);
        foreach (var grad in grads)
        {
            grad.CopyTo(g.Span);
            handWritten.Step(p, g);
        }

        var mExpected = new float[Length];
        var vExpected = new float[Length];
        handWritten.M.CopyTo(mExpected);
        handWritten.V.CopyTo(vExpected);
        TestData.AssertBitwiseEqual(p.Span, generatedP, $"{isa} ×{threads} parameters");
        TestData.AssertBitwiseEqual(mExpected, generatedM, $"{isa} ×{threads} m");
        TestData.AssertBitwiseEqual(vExpected, generatedV, $"{isa} ×{threads} v");

        // The rule mattered: bitsandbytes' quantizer leaves more v at 0, and the parameters move elsewhere.
        int zeroKept = generatedV.Count(static v => v == 0), zeroPlain = plainV.Count(static v => v == 0);
        output.WriteLine($"{IsaSupport.Name(isa)} ×{threads}: v stored as 0 after 5 steps: {zeroPlain} of {Length} by bitsandbytes' quantizer, {zeroKept} keeping positive values");
        Assert.True(zeroPlain > zeroKept + 100, $"{zeroPlain} zeros without the rule, {zeroKept} with it");
        Assert.False(plainP.AsSpan().SequenceEqual(generatedP), "the rule changed no parameter");

        (float[] P, float[] M, float[] V) Generated(bool keepPositive)
        {
            using var arena = new ParameterArena();
            var x = arena.Add("x", Length);
            arena.Build();
            p0.CopyTo(arena.Param(x));
            var options = new OptimizerOptions { Isa = isa, Threads = threads, StateStorage = StateStorage.Q8, Q8MinElements = 0, Q8KeepPositive = keepPositive };
            using var generated = new Optimizer(arena, new Adam(Lr: 1e-2f), options);
            foreach (var grad in grads)
            {
                grad.CopyTo(arena.Grad(x));
                generated.Step();
            }

            var m = new float[Length];
            var v = new float[Length];
            generated.CopyState("m", x, m);
            generated.CopyState("v", x, v);
            return (arena.Param(x).ToArray(), m, v);
        }
    }

    [Theory]
    [InlineData(StateStorage.Fp32)]
    [InlineData(StateStorage.Bf16)]
    public void Q8KeepPositive_WithoutQ8_IsRefused(StateStorage storage)
    {
        using var arena = new ParameterArena();
        arena.Add("w", 300);
        arena.Build();

        var e = Assert.Throws<ArgumentException>(() => new Optimizer(arena, new Adam(), new OptimizerOptions { StateStorage = storage, Q8KeepPositive = true }));
        var hand = Assert.Throws<InvalidOperationException>(() =>
        {
            using var adam = new CompressedAdam(300, storage, 1) { Q8KeepPositive = true };
            using var p = new AlignedBuffer(300);
            using var g = new AlignedBuffer(300);
            adam.Step(p, g);
        });

        Assert.StartsWith($"Q8KeepPositive applies to q8 states only; StateStorage is {StateStorages.Name(storage)}.", e.Message, StringComparison.Ordinal);
        Assert.Equal($"Q8KeepPositive applies to q8 states only; this step stores them as {StateStorages.Name(storage)}.", hand.Message);
        Assert.Throws<ArgumentException>(() => new PackedState(arena, StateFormat.Q8Signed, new Q8Layout(arena, 0), keepPositive: true));
        using var q8 = new Optimizer(arena, new Adam(), new OptimizerOptions { StateStorage = StateStorage.Q8, Q8KeepPositive = true });
        Assert.True(q8.Options.Q8KeepPositive);
        Assert.False(new OptimizerOptions().Q8KeepPositive);
    }

    [Fact]
    public void StateFile_KeepsTheCodes_AndAFloat32FileLoadedUnderTheRuleKeepsEveryPositiveV()
    {
        const int Length = 1000;
        var (p0, grads) = TestData.Inputs(Length, 4, seed: 17);
        var q8Options = new OptimizerOptions { StateStorage = StateStorage.Q8, Q8MinElements = 0, Q8KeepPositive = true };

        // The same option: the file holds ordinary codes; continuing from it gives the original's bits.
        using var arena = new ParameterArena();
        var w = arena.Add("w", Length);
        arena.Build();
        p0.CopyTo(arena.Param(w));
        using var original = new Optimizer(arena, new Adam(), q8Options);
        for (int s = 0; s < 2; s++)
        {
            grads[s].CopyTo(arena.Grad(w));
            original.Step();
        }

        var file = new MemoryStream();
        original.Save(file);
        using var arenaR = new ParameterArena();
        var wr = arenaR.Add("w", Length);
        arenaR.Build();
        using var restored = new Optimizer(arenaR, new Adam(), q8Options);
        restored.Load(file.ToArray(), "memory");
        for (int s = 2; s < 4; s++)
        {
            grads[s].CopyTo(arena.Grad(w));
            grads[s].CopyTo(arenaR.Grad(wr));
            original.Step();
            restored.Step();
        }

        TestData.AssertBitwiseEqual(arena.Param(w), arenaR.Param(wr), "parameters continued from the file");

        // A float32 file quantized on load: every positive v stays positive (bitsandbytes' quantizer zeroes some).
        using var arenaF = new ParameterArena();
        var wf = arenaF.Add("w", Length);
        arenaF.Build();
        using var fp32 = new Optimizer(arenaF, new Adam());
        grads[0].CopyTo(arenaF.Grad(wf));
        fp32.Step();
        var fp32File = new MemoryStream();
        fp32.Save(fp32File);
        float[] LoadedV(bool keepPositive)
        {
            using var a = new ParameterArena();
            var t = a.Add("w", Length);
            a.Build();
            using var q8 = new Optimizer(a, new Adam(), q8Options with { Q8KeepPositive = keepPositive });
            q8.Load(fp32File.ToArray(), "memory");
            var v = new float[Length];
            q8.CopyState("v", t, v);
            return v;
        }

        var fp32V = fp32.GetState("v", wf).ToArray();
        var kept = LoadedV(keepPositive: true);
        var plain = LoadedV(keepPositive: false);
        for (int i = 0; i < Length; i++)
        {
            Assert.True((kept[i] > 0) == (fp32V[i] > 0), $"v[{i}] = {fp32V[i]:R} loaded as {kept[i]:R}");
        }

        Assert.True(plain.Zip(fp32V).Count(static p => p.First == 0 && p.Second > 0) > 50, "bitsandbytes' quantizer zeroed few positive v: the check above would not see the rule");
    }
}

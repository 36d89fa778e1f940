using System;
using System.Linq;
using FusedOpt.Kernels;
using FusedOpt.Storage;
using Xunit;

namespace FusedOpt.Tests.Storage;

/// <summary>
/// Blockwise 8-bit quantization: codes against a brute-force nearest-code search, the round-trip error bound of each
/// block, every path against the scalar one bit for bit, zero blocks, short tail blocks and the non-finite policy.
/// </summary>
public sealed class Q8Tests
{
    private static readonly Isa[] Paths = [.. new[] { Isa.Scalar, Isa.Avx2, Isa.Avx512 }.Where(IsaSupport.IsSupported)];

    /// <summary>The oracle: scan all 256 codes in float64, nearest wins, a tie goes to the lower code.</summary>
    private static int Nearest(float y, DynamicMap map)
    {
        int best = 0;
        double bestDistance = double.PositiveInfinity;
        for (int k = 0; k < 256; k++)
        {
            double d = Math.Abs((double)y - map.Codes[k]);
            if (d < bestDistance)
            {
                best = k;
                bestDistance = d;
            }
        }

        return best;
    }

    /// <summary>Values spanning six decades below each block's largest, of both signs (or non-negative).</summary>
    private static float[] Data(int n, bool signed, int seed)
    {
        var rng = new Random(seed);
        var x = new float[n];
        for (int i = 0; i < n; i++)
        {
            double magnitude = Math.Pow(10, -6 * rng.NextDouble()) * (1 + (i / 256 % 5));
            x[i] = (float)(signed && rng.Next(2) == 0 ? -magnitude : magnitude);
        }

        return x;
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Encode_IsTheNearestCode(bool signed)
    {
        var map = signed ? DynamicMap.Signed : DynamicMap.Unsigned;
        var rng = new Random(11);
        for (int i = 0; i < 100_000; i++)
        {
            float y = (float)(Math.Pow(10, -7 * rng.NextDouble()) * (signed && (i & 1) == 0 ? -1 : 1));
            Assert.Equal(Nearest(y, map), Q8.Encode(y, map));
        }

        Assert.Equal(255, Q8.Encode(1f, map));
        Assert.Equal(255, Q8.Encode(1.5f, map));
        Assert.Equal(map.ZeroCode, Q8.Encode(0f, map));
        Assert.Equal(map.ZeroCode, Q8.Encode(-0f, map));
    }

    [Fact]
    public void Encode_Tie_GoesToTheLowerCode()
    {
        foreach (var map in new[] { DynamicMap.Signed, DynamicMap.Unsigned })
        {
            for (int k = 1; k < 256; k++)
            {
                float tie = map.Bounds[k];
                Assert.Equal(k - 1, Q8.Encode(tie, map));
                Assert.Equal(k, Q8.Encode(MathF.BitIncrement(tie), map));
            }
        }
    }

    [Fact]
    public void VectorEncodes_GiveTheSearchsCode_OnEveryBoundItsNeighboursAndSpecials()
    {
        if (!IsaSupport.IsSupported(Isa.Avx2))
        {
            return;
        }

        foreach (var map in new[] { DynamicMap.Signed, DynamicMap.Unsigned })
        {
            var t = Q8.TablesOf(map);
            var values = new System.Collections.Generic.List<float>
            {
                0f, -0f, 1f, -1f, 2f, -2f, float.NaN, float.PositiveInfinity, float.NegativeInfinity, float.Epsilon,
                -float.Epsilon, 1e-30f, -1e-30f, MathF.Pow(2, -24), MathF.Pow(2, -25), 0.5f, MathF.BitDecrement(1f),
            };
            for (int k = 1; k < 256; k++)
            {
                foreach (float b in new[] { map.Bounds[k], map.Codes[k], map.Codes[k - 1] })
                {
                    values.AddRange([b, MathF.BitIncrement(b), MathF.BitDecrement(b), -b, MathF.BitIncrement(-b), MathF.BitDecrement(-b)]);
                }
            }

            var rng = new Random(21);
            for (int i = 0; i < 20_000; i++)
            {
                values.Add(BitConverter.UInt32BitsToSingle((uint)rng.NextInt64(0, 1L << 32)));
                values.Add((float)((rng.NextDouble() * 2) - 1));
            }

            for (int i = 0; i + 8 <= values.Count; i += 8)
            {
                var y = System.Runtime.Intrinsics.Vector256.Create(values.GetRange(i, 8).ToArray());
                var arithmetic256 = Q8.Encode256(y, t);
                var bucket = Q8.Encode256Bucket(y, t);
                var search = Q8.Encode256Search(y, t);
                for (int j = 0; j < 8; j++)
                {
                    int expected = Q8.Encode(y[j], map);
                    Assert.True(expected == arithmetic256[j], $"{(map.IsSigned ? "signed" : "unsigned")} y = {y[j]:R} (0x{BitConverter.SingleToUInt32Bits(y[j]):X8}): search {expected}, Encode256 {arithmetic256[j]}");
                    Assert.True(expected == bucket[j], $"{(map.IsSigned ? "signed" : "unsigned")} y = {y[j]:R} (0x{BitConverter.SingleToUInt32Bits(y[j]):X8}): search {expected}, bucket {bucket[j]}");
                    Assert.Equal(expected, search[j]);
                }

                if (IsaSupport.IsSupported(Isa.Avx512) && i + 16 <= values.Count)
                {
                    var y16 = System.Runtime.Intrinsics.Vector512.Create(values.GetRange(i, 16).ToArray());
                    var arithmetic = Q8.Encode512(y16, t);
                    var permuted = Q8.Encode512Search(y16, t);
                    var buckets = Q8.Encode512Bucket(y16, t);
                    for (int j = 0; j < 16; j++)
                    {
                        int expected = Q8.Encode(y16[j], map);
                        Assert.True(expected == arithmetic[j], $"{(map.IsSigned ? "signed" : "unsigned")} y = {y16[j]:R} (0x{BitConverter.SingleToUInt32Bits(y16[j]):X8}): search {expected}, Encode512 {arithmetic[j]}");
                        Assert.Equal(expected, permuted[j]);
                        Assert.Equal(expected, buckets[j]);
                    }
                }
            }
        }
    }

    /// <summary>
    /// Every float32 bit pattern with a stride of 1021 (4.2 million per map: all signs, binades, NaN payloads and
    /// infinities; with FUSEDOPT_Q8_EXHAUSTIVE=1 every one of the 2³² patterns, about a minute per map) through the
    /// vector paths of <see cref="Q8.EncodeBlock"/> (inverse scale 1), against the scalar search.
    /// </summary>
    [Fact]
    public void EncodeBlock_VectorPaths_GiveTheSearchsCode_OnEveryStridedFloat()
    {
        long stride = Environment.GetEnvironmentVariable("FUSEDOPT_Q8_EXHAUSTIVE") == "1" ? 1 : 1021;
        const int Chunk = 1 << 16;
        var x = new float[Chunk];
        var codes = new byte[Chunk];
        foreach (var isa in Paths.Where(p => p != Isa.Scalar))
        {
            foreach (var map in new[] { DynamicMap.Signed, DynamicMap.Unsigned })
            {
                long bits = 0;
                while (bits < 1L << 32)
                {
                    int n = 0;
                    for (; n < Chunk && bits < 1L << 32; n++, bits += stride)
                    {
                        x[n] = BitConverter.UInt32BitsToSingle((uint)bits);
                    }

                    Q8.EncodeBlock(x.AsSpan(0, n), codes.AsSpan(0, n), 1f, map, isa);
                    for (int i = 0; i < n; i++)
                    {
                        if (codes[i] != Q8.Encode(x[i], map))
                        {
                            Assert.Fail($"{isa} {(map.IsSigned ? "signed" : "unsigned")} y = {x[i]:R} (0x{BitConverter.SingleToUInt32Bits(x[i]):X8}): search {Q8.Encode(x[i], map)}, EncodeBlock {codes[i]}");
                        }
                    }
                }
            }
        }
    }

    [Fact]
    public void EncodeBlock_VectorPaths_GiveTheSearchsCode_OnBoundsTiesAndScaledBlocks()
    {
        foreach (var map in new[] { DynamicMap.Signed, DynamicMap.Unsigned })
        {
            var values = new System.Collections.Generic.List<float> { 0f, -0f, 1f, -1f, 1.0000001f, float.NaN, -float.NaN, float.PositiveInfinity, float.NegativeInfinity, float.Epsilon, -float.Epsilon };
            for (int k = 1; k < 256; k++)
            {
                foreach (float b in new[] { map.Bounds[k], map.Codes[k], map.Codes[k - 1] })
                {
                    values.AddRange([b, MathF.BitIncrement(b), MathF.BitDecrement(b), -b, MathF.BitIncrement(-b), MathF.BitDecrement(-b)]);
                }
            }

            // Ties and neighbours as the block path sees them (inverse scale 1), then whole blocks scaled by their absmax.
            var x = values.ToArray();
            var expected = x.Select(v => Q8.Encode(v, map)).ToArray();
            var data = Data(4096, map.IsSigned, 9);
            var absmax = new float[Q8.BlockCount(data.Length)];
            var scalar = new byte[data.Length];
            Q8.Quantize(data, scalar, absmax, map, Isa.Scalar);
            foreach (var isa in Paths)
            {
                var codes = new byte[x.Length];
                Q8.EncodeBlock(x, codes, 1f, map, isa);
                Assert.Equal(expected, codes);
                var blockCodes = new byte[data.Length];
                var blockAbsmax = new float[absmax.Length];
                Q8.Quantize(data, blockCodes, blockAbsmax, map, isa);
                Assert.Equal(scalar, blockCodes);
            }
        }
    }

    [Fact]
    public void BucketArithmetic_PutsEachPositiveBoundInItsOwnBucket_AndNeverDecreases()
    {
        foreach (var map in new[] { DynamicMap.Signed, DynamicMap.Unsigned })
        {
            var t = Q8.TablesOf(map);
            int first = map.IsSigned ? 128 : 1;
            for (int k = first; k < 256; k++)
            {
                Assert.Equal(k - first, t.BucketOf(map.Bounds[k]));
            }

            // The premise of one comparison per element: the bucket is nondecreasing in |y| (every 97th float from 0 to 2).
            int previous = 0;
            for (uint bits = 0; bits <= 0x4000_0000u; bits += 97)
            {
                int bucket = t.BucketOf(BitConverter.UInt32BitsToSingle(bits));
                Assert.True(bucket >= previous, $"bucket {bucket} after {previous} at 0x{bits:X8}");
                previous = bucket;
            }

            Assert.Equal(255 - first, previous);
        }
    }

    [Fact]
    public void Encode_SignedMinusOne_IsTheMostNegativeCode()
    {
        // The signed map ends at −0.99296875, not −1 (bitsandbytes' map is not symmetric).
        Assert.Equal(0, Q8.Encode(-1f, DynamicMap.Signed));
        Assert.Equal(DynamicMap.Signed.Codes[0], Q8.Decode(0, 1f, DynamicMap.Signed));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void RoundTrip_ErrorIsAtMostHalfTheCodeGapTimesAbsmax(bool signed)
    {
        var map = signed ? DynamicMap.Signed : DynamicMap.Unsigned;
        var x = Data(5000, signed, 3);
        var codes = new byte[x.Length];
        var absmax = new float[Q8.BlockCount(x.Length)];
        Q8.Quantize(x, codes, absmax, map);
        var back = new float[x.Length];
        Q8.Dequantize(codes, absmax, back, map);
        double worst = 0;
        for (int i = 0; i < x.Length; i++)
        {
            float a = absmax[i / 256];
            double y = x[i] / (double)a;
            int hi = Enumerable.Range(0, 256).First(k => map.Codes[k] >= y || k == 255);
            int lo = Math.Max(0, hi - 1);
            // Half the gap, plus float32 rounding of the scaled value and of the product (a few ulp of absmax). Below the
            // most negative code (y near −1 in the signed map, which ends at −0.99296875) the error is the distance to it.
            double halfGap = y < map.Codes[0] ? map.Codes[0] - y : (map.Codes[hi] - (double)map.Codes[lo]) / 2;
            double bound = (halfGap * a) + (4e-7 * a);
            double error = Math.Abs(back[i] - (double)x[i]);
            worst = Math.Max(worst, error / bound);
            Assert.True(error <= bound, $"x[{i}] = {x[i]:R}, absmax {a:R}: dequantized {back[i]:R}, error {error:E3} > bound {bound:E3}");
        }

        Assert.True(worst > 0.3, $"The bound is never approached (worst {worst:F3}): the test would not see a wrong code.");
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(15)]
    [InlineData(16)]
    [InlineData(17)]
    [InlineData(255)]
    [InlineData(256)]
    [InlineData(257)]
    [InlineData(1000)]
    public void EveryPath_GivesTheScalarCodesAbsmaxAndValues(int n)
    {
        foreach (var map in new[] { DynamicMap.Signed, DynamicMap.Unsigned })
        {
            var x = Data(n, map.IsSigned, n);
            var codes = new byte[n];
            var absmax = new float[Q8.BlockCount(n)];
            Q8.Quantize(x, codes, absmax, map, Isa.Scalar);
            var back = new float[n];
            Q8.Dequantize(codes, absmax, back, map, Isa.Scalar);
            foreach (var isa in Paths)
            {
                var c = new byte[n];
                var a = new float[absmax.Length];
                Q8.Quantize(x, c, a, map, isa);
                Assert.Equal(codes, c);
                Assert.Equal(absmax, a);
                var b = new float[n];
                Q8.Dequantize(c, a, b, map, isa);
                Assert.Equal(back.Select(BitConverter.SingleToUInt32Bits), b.Select(BitConverter.SingleToUInt32Bits));
            }
        }
    }

    [Fact]
    public void TailBlock_HasItsOwnAbsmax()
    {
        var x = new float[256 + 10];
        x.AsSpan(0, 256).Fill(100f);
        x.AsSpan(256).Fill(0.5f);
        var codes = new byte[x.Length];
        var absmax = new float[2];
        Q8.Quantize(x, codes, absmax, DynamicMap.Unsigned);
        Assert.Equal([100f, 0.5f], absmax);
        Assert.All(codes, c => Assert.Equal(255, c));
    }

    [Fact]
    public void ZeroBlock_StoresTheZeroCodeAndAbsmaxZero()
    {
        foreach (var map in new[] { DynamicMap.Signed, DynamicMap.Unsigned })
        {
            foreach (var isa in Paths)
            {
                var x = new float[300];
                var codes = new byte[300];
                var absmax = new float[2];
                Q8.Quantize(x, codes, absmax, map, isa);
                Assert.Equal([0f, 0f], absmax);
                Assert.All(codes, c => Assert.Equal(map.ZeroCode, c));
                var back = Enumerable.Repeat(1f, 300).ToArray();
                Q8.Dequantize(codes, absmax, back, map, isa);
                Assert.All(back, v => Assert.Equal(0f, v));
            }
        }
    }

    [Theory]
    [InlineData(float.NaN)]
    [InlineData(float.PositiveInfinity)]
    [InlineData(float.NegativeInfinity)]
    public void NonFiniteElement_MakesItsWholeBlockNaN_AndNoOther(float bad)
    {
        foreach (var isa in Paths)
        {
            var x = Data(512, signed: true, 5);
            x[300] = bad;
            var codes = new byte[512];
            var absmax = new float[2];
            Q8.Quantize(x, codes, absmax, DynamicMap.Signed, isa);
            Assert.True(float.IsNaN(absmax[1]));
            Assert.True(float.IsFinite(absmax[0]));
            var back = new float[512];
            Q8.Dequantize(codes, absmax, back, DynamicMap.Signed, isa);
            Assert.All(back[256..], v => Assert.True(float.IsNaN(v)));
            Assert.All(back[..256], v => Assert.True(float.IsFinite(v)));
        }
    }

    [Fact]
    public void VectorDecodes_PermuteAndGather_GiveEveryCode()
    {
        if (!IsaSupport.IsSupported(Isa.Avx512))
        {
            return;
        }

        foreach (var map in new[] { DynamicMap.Signed, DynamicMap.Unsigned })
        {
            var t = Q8.TablesOf(map);
            for (int k = 0; k < 256; k += 16)
            {
                var q = System.Runtime.Intrinsics.Vector512.Create(k) + System.Runtime.Intrinsics.Vector512.Create(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
                var permuted = Q8.Decode512(q, t);
                var gathered = Q8.Decode512Gather(q, t);
                for (int j = 0; j < 16; j++)
                {
                    Assert.Equal(map.Codes[k + j], permuted[j]);
                    Assert.Equal(map.Codes[k + j], gathered[j]);
                }
            }
        }
    }
}

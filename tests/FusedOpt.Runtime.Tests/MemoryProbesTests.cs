using System;
using System.Collections.Generic;
using FusedOpt.Benchmarks;
using FusedOpt.Kernels;
using FusedOpt.Memory;
using Xunit;

namespace FusedOpt.Tests;

/// <summary>
/// The memory probes at every register width, 1 and 2 threads, on lengths around the widths: the same-traffic probe
/// reads every element of every read buffer and writes every element of every written buffer back unchanged
/// (x ← x + 0·Σreads, held to that formula: finite reads leave the bits, a NaN read turns exactly its element NaN),
/// the triad writes a ← b + 0·c, and nothing past the probed length is touched.
/// </summary>
public sealed class MemoryProbesTests
{
    private const int Guard = 17;

    public static IEnumerable<TheoryDataRow<Isa, int, int>> WidthsLengthsThreads()
    {
        foreach (var width in new[] { Isa.Avx512, Isa.Avx2, Isa.Scalar })
        {
            foreach (int length in new[] { 0, 1, 7, 8, 9, 15, 16, 17, 53, 1000 })
            {
                foreach (int threads in new[] { 1, 2 })
                {
                    yield return new(width, length, threads);
                }
            }
        }
    }

    [Theory]
    [MemberData(nameof(WidthsLengthsThreads))]
    public void SameTraffic_FiniteReads_LeaveEveryBufferBitwiseUnchanged(Isa width, int length, int threads)
    {
        SkipUnlessSupported(width);
        using var probes = new MemoryProbes(length, threads, width);
        using var g = Filled(length, seed: 1);
        using var v = Filled(length, seed: 2);
        using var p = Filled(length, seed: 3);
        using var m = Filled(length, seed: 4);
        float[] gBefore = g.Span.ToArray(), vBefore = v.Span.ToArray(), pBefore = p.Span.ToArray(), mBefore = m.Span.ToArray();

        probes.SameTraffic([g, v], [p, m]);

        AssertBitwise(gBefore, g, "g");
        AssertBitwise(vBefore, v, "v");
        AssertBitwise(pBefore, p, "p");
        AssertBitwise(mBefore, m, "m");
    }

    [Theory]
    [MemberData(nameof(WidthsLengthsThreads))]
    public void SameTraffic_NaNInARead_ReachesExactlyItsElementOfEveryWrittenBuffer(Isa width, int length, int threads)
    {
        SkipUnlessSupported(width);
        using var probes = new MemoryProbes(length, threads, width);
        using var g = Filled(length, seed: 1);
        using var v = Filled(length, seed: 2);
        using var p = Filled(length, seed: 3);
        using var m = Filled(length, seed: 4);
        float[] pBefore = p.Span.ToArray(), mBefore = m.Span.ToArray();

        // Every element of the second read buffer is NaN (so every written element must be read and written);
        // the first has a NaN only at its last probed element (a tail element at every width).
        v.Span[..length].Fill(float.NaN);
        probes.SameTraffic([g, v], [p, m]);

        for (int i = 0; i < length + Guard; i++)
        {
            bool probed = i < length;
            Assert.True(probed == float.IsNaN(p.Span[i]), $"p[{i}] = {p.Span[i]} (length {length}, {IsaSupport.Name(width)}, {threads} thread(s))");
            Assert.True(probed == float.IsNaN(m.Span[i]), $"m[{i}] = {m.Span[i]} (length {length}, {IsaSupport.Name(width)}, {threads} thread(s))");
            if (!probed)
            {
                Assert.Equal(BitConverter.SingleToInt32Bits(pBefore[i]), BitConverter.SingleToInt32Bits(p.Span[i]));
                Assert.Equal(BitConverter.SingleToInt32Bits(mBefore[i]), BitConverter.SingleToInt32Bits(m.Span[i]));
            }
        }

        // Only the first buffer's NaN: exactly that element.
        if (length > 0)
        {
            using var g2 = Filled(length, seed: 5);
            using var v2 = Filled(length, seed: 6);
            using var p2 = Filled(length, seed: 7);
            float[] p2Before = p2.Span.ToArray();
            g2.Span[length - 1] = float.NaN;
            probes.SameTraffic([g2, v2], [p2]);
            for (int i = 0; i < length + Guard; i++)
            {
                if (i == length - 1)
                {
                    Assert.True(float.IsNaN(p2.Span[i]), $"p[{i}] = {p2.Span[i]}, expected NaN from g[{i}]");
                }
                else
                {
                    Assert.Equal(BitConverter.SingleToInt32Bits(p2Before[i]), BitConverter.SingleToInt32Bits(p2.Span[i]));
                }
            }
        }
    }

    [Theory]
    [MemberData(nameof(WidthsLengthsThreads))]
    public void Triad_WritesBPlusZeroTimesC_OnTheProbedLengthOnly(Isa width, int length, int threads)
    {
        SkipUnlessSupported(width);
        using var probes = new MemoryProbes(length, threads, width);
        using var a = Filled(length, seed: 1);
        using var b = Filled(length, seed: 2);
        using var c = Filled(length, seed: 3);
        float[] aBefore = a.Span.ToArray();
        if (length > 0)
        {
            c.Span[length - 1] = float.PositiveInfinity; // 0·∞ = NaN: the last element must take it
        }

        probes.Triad(a, b, c);

        for (int i = 0; i < length + Guard; i++)
        {
            float expected = i >= length ? aBefore[i] : b.Span[i] + (0f * c.Span[i]);
            Assert.True(
                BitConverter.SingleToInt32Bits(expected) == BitConverter.SingleToInt32Bits(a.Span[i]),
                $"a[{i}]: expected {expected}, got {a.Span[i]} (length {length}, {IsaSupport.Name(width)}, {threads} thread(s))");
        }

        if (length > 0)
        {
            Assert.True(float.IsNaN(a.Span[length - 1]));
        }
    }

    [Fact]
    public void Probes_AtAWidthThisMachineCannotRun_AreRefusedNamingIt()
    {
        if (IsaSupport.Best == Isa.Avx512)
        {
            Assert.Skip("This machine runs every width.");
        }

        var ex = Assert.Throws<PlatformNotSupportedException>(() => new MemoryProbes(16, 1, Isa.Avx512));
        Assert.Contains("avx512", ex.Message, StringComparison.Ordinal);
    }

    public static IEnumerable<TheoryDataRow<Isa, int, int>> WidthsBlockLengthsThreads()
    {
        foreach (var width in new[] { Isa.Avx512, Isa.Avx2, Isa.Scalar })
        {
            foreach (int length in new[] { 0, 1, 63, 255, 256, 257, 1000, (16 * 256) + 3, (33 * 256) + 100 })
            {
                foreach (int threads in new[] { 1, 2, 3 })
                {
                    yield return new(width, length, threads);
                }
            }
        }
    }

    [Theory]
    [MemberData(nameof(WidthsBlockLengthsThreads))]
    public void SameTrafficBytes_WritesEveryByteOfEveryRegionExactlyOnce_AndNothingElse(Isa width, int length, int threads)
    {
        SkipUnlessSupported(width);
        using var probes = new MemoryProbes(length, threads, width);
        // The regions of an Adam step with q8 states beside fp32 and bf16 ones: 4n, 2n, n and 4·⌈n/256⌉ bytes.
        long[] sizes = [4L * length, 4L * length, 2L * length, length, 4 * ((length + 255) / 256)];
        var memory = new byte[sizes.Length][];
        var before = new byte[sizes.Length][];
        var handles = new System.Runtime.InteropServices.GCHandle[sizes.Length];
        try
        {
            var regions = new List<(nint Pointer, long Bytes)>();
            var random = new Random(length);
            for (int r = 0; r < sizes.Length; r++)
            {
                memory[r] = new byte[sizes[r] + Guard];
                random.NextBytes(memory[r]);
                before[r] = (byte[])memory[r].Clone();
                handles[r] = System.Runtime.InteropServices.GCHandle.Alloc(memory[r], System.Runtime.InteropServices.GCHandleType.Pinned);
                regions.Add((handles[r].AddrOfPinnedObject(), sizes[r]));
            }

            // Every written byte is XORed with the mask: written once it is flipped, written twice it would be back.
            probes.RewriteMask = 0xFF;
            probes.SameTraffic(regions.GetRange(0, 1), regions.GetRange(1, sizes.Length - 1));

            for (int r = 0; r < sizes.Length; r++)
            {
                for (int i = 0; i < memory[r].Length; i++)
                {
                    bool written = r > 0 && i < sizes[r];
                    byte expected = written ? (byte)~before[r][i] : before[r][i];
                    Assert.True(expected == memory[r][i], $"region {r} ({sizes[r]} bytes), byte {i}: {memory[r][i]}, expected {expected} (length {length}, {IsaSupport.Name(width)}, {threads} thread(s))");
                }
            }

            Assert.Equal((4.0 * length) + (2 * ((4.0 * length) + (2.0 * length) + length + sizes[4])), MemoryProbes.BytesPerParameter(regions.GetRange(0, 1), regions.GetRange(1, sizes.Length - 1), Math.Max(length, 1)) * Math.Max(length, 1), 6);
        }
        finally
        {
            foreach (var handle in handles)
            {
                if (handle.IsAllocated)
                {
                    handle.Free();
                }
            }
        }
    }

    private static void SkipUnlessSupported(Isa width)
    {
        if (!IsaSupport.IsSupported(width))
        {
            Assert.Skip($"This machine cannot run {IsaSupport.Name(width)}.");
        }
    }

    /// <summary>A buffer of length + <see cref="Guard"/> distinct finite values (the guard shows what the probe must not touch).</summary>
    private static AlignedBuffer Filled(int length, int seed)
    {
        var buffer = new AlignedBuffer(length + Guard);
        var random = new Random(seed);
        for (int i = 0; i < buffer.Length; i++)
        {
            buffer.Span[i] = (float)(random.NextDouble() * 4 - 2);
        }

        return buffer;
    }

    private static void AssertBitwise(float[] expected, AlignedBuffer actual, string name)
    {
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.True(
                BitConverter.SingleToInt32Bits(expected[i]) == BitConverter.SingleToInt32Bits(actual.Span[i]),
                $"{name}[{i}]: expected {expected[i]}, got {actual.Span[i]}");
        }
    }
}

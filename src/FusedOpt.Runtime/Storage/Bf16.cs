using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using FusedOpt.Kernels;
using FusedOpt.Randomness;

namespace FusedOpt.Storage;

/// <summary>
/// bfloat16 state storage: the top 16 bits of a float32 (sign, the 8-bit exponent, 7 fraction bits). Widening is exact
/// (bits ≪ 16). Narrowing rounds to nearest, ties to even, as IEEE 754 does: NaN stays NaN (made quiet, so that a payload
/// only in the dropped half cannot turn it into ±∞), ±∞ stays ±∞, and a finite value beyond the largest bfloat16
/// (3.3895e38) by at least half an ulp rounds to ±∞. Subnormals are kept, not flushed.
/// </summary>
/// <remarks>
/// <para>The scalar, Vector256 and Vector512 forms use the same integer operations, so they give the same bits.</para>
/// <para><b>Stochastic rounding</b> (<see cref="FromFloatStochastic"/>) adds a uniform 16-bit integer r to the float32's
/// bits before truncating: the magnitude rounds up with probability (dropped half) / 2¹⁶, so the stored value is unbiased.
/// r comes from Philox4x32-10 keyed by a <see cref="Storage.StochasticKey"/> and counted by (step, element index), so it is the
/// same for any thread count, partition or vector width. Element i takes the 16-bit half <c>h</c> of word <c>w</c> of the
/// Philox block with counter (8·⌊i/64⌋ + lane, step): with r = i mod 64, v = r / 16, p = r mod 16, lane = p / 2,
/// w = (p mod 2) + 2·(v mod 2), h = v / 2. That order is the one the Vector512 path produces with one 8-lane Philox call
/// per 64 elements (<see cref="RandomBits"/> computes it per element).</para>
/// </remarks>
public static class Bf16
{
    /// <summary>Elements a stochastic-rounding vector iteration covers: one 8-lane Philox call gives 64 × 16 random bits.</summary>
    public const int StochasticGroup = 64;

    /// <summary>The float32 a bfloat16 stands for (exact).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float ToFloat(ushort bits) => BitConverter.Int32BitsToSingle(bits << 16);

    /// <summary>The bfloat16 nearest to <paramref name="x"/>, ties to even; NaN stays a (quiet) NaN, overflow goes to ±∞.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort FromFloat(float x)
    {
        uint b = BitConverter.SingleToUInt32Bits(x);
        if ((b & 0x7FFF_FFFFu) > 0x7F80_0000u)
        {
            return (ushort)((b >> 16) | 0x0040u);
        }

        return (ushort)((b + 0x7FFFu + ((b >> 16) & 1u)) >> 16);
    }

    /// <summary>
    /// Stochastic rounding of <paramref name="x"/> with the random bits <paramref name="random16"/> (only the low 16 are
    /// used): the magnitude rounds up with probability (dropped half) / 2¹⁶. NaN stays a quiet NaN and ±∞ stays ±∞; a
    /// finite value within one bfloat16 ulp of the largest finite one may round to ±∞.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort FromFloatStochastic(float x, uint random16)
    {
        uint b = BitConverter.SingleToUInt32Bits(x);
        if ((b & 0x7FFF_FFFFu) > 0x7F80_0000u)
        {
            return (ushort)((b >> 16) | 0x0040u);
        }

        return (ushort)((b + (random16 & 0xFFFFu)) >> 16);
    }

    /// <summary>The Philox key of stochastic rounding for state <paramref name="stream"/> (m = 0, v = 1, …) under a run's seed.</summary>
    public static StochasticKey KeyFor(ulong seed, uint stream)
    {
        // SplitMix64 of seed ⊕ stream·φ: different states of one run, and different seeds, get unrelated keys.
        ulong z = seed ^ (((ulong)stream + 1) * 0x9E3779B97F4A7C15UL);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        z ^= z >> 31;
        return new StochasticKey((uint)z, (uint)(z >> 32));
    }

    /// <summary>The 16 random bits stochastic rounding adds to element <paramref name="index"/> at <paramref name="step"/> (see remarks).</summary>
    public static uint RandomBits(StochasticKey key, long step, long index)
    {
        long group = index >> 6;
        int r = (int)(index & 63);
        int v = r >> 4, p = r & 15;
        int lane = p >> 1, word = (p & 1) + (2 * (v & 1)), half = v >> 1;
        ulong block = ((ulong)group * 8) + (ulong)lane;
        var x = Philox.Block(((uint)block, (uint)(block >> 32), (uint)step, (uint)((ulong)step >> 32)), (key.K0, key.K1));
        uint w = word switch { 0 => x.X0, 1 => x.X1, 2 => x.X2, _ => x.X3 };
        return (w >> (16 * half)) & 0xFFFFu;
    }

    /// <summary>destination[i] ← the float32 of source[i], for the path <paramref name="isa"/>.</summary>
    public static void Widen(ReadOnlySpan<ushort> source, Span<float> destination, Isa isa = Isa.Scalar)
    {
        CheckLengths(source.Length, destination.Length);
        ref ushort s = ref MemoryMarshal.GetReference(source);
        ref float d = ref MemoryMarshal.GetReference(destination);
        nint n = source.Length, i = 0;
        if (isa == Isa.Avx512)
        {
            for (; i <= n - 16; i += 16)
            {
                Load512(ref Unsafe.Add(ref s, i)).StoreUnsafe(ref d, (nuint)i);
            }
        }
        else if (isa == Isa.Avx2)
        {
            for (; i <= n - 8; i += 8)
            {
                Load256(ref Unsafe.Add(ref s, i)).StoreUnsafe(ref d, (nuint)i);
            }
        }

        for (; i < n; i++)
        {
            Unsafe.Add(ref d, i) = ToFloat(Unsafe.Add(ref s, i));
        }
    }

    /// <summary>destination[i] ← source[i] rounded to nearest even (<see cref="FromFloat"/>), for the path <paramref name="isa"/>.</summary>
    public static void Narrow(ReadOnlySpan<float> source, Span<ushort> destination, Isa isa = Isa.Scalar)
    {
        CheckLengths(source.Length, destination.Length);
        ref float s = ref MemoryMarshal.GetReference(source);
        ref ushort d = ref MemoryMarshal.GetReference(destination);
        nint n = source.Length, i = 0;
        if (isa == Isa.Avx512)
        {
            for (; i <= n - 16; i += 16)
            {
                Store512(Vector512.LoadUnsafe(ref s, (nuint)i), ref Unsafe.Add(ref d, i));
            }
        }
        else if (isa == Isa.Avx2)
        {
            for (; i <= n - 8; i += 8)
            {
                Store256(Vector256.LoadUnsafe(ref s, (nuint)i), ref Unsafe.Add(ref d, i));
            }
        }

        for (; i < n; i++)
        {
            Unsafe.Add(ref d, i) = FromFloat(Unsafe.Add(ref s, i));
        }
    }

    /// <summary>
    /// destination[i] ← source[i] stochastically rounded (<see cref="FromFloatStochastic"/>) with the bits of element
    /// <paramref name="firstIndex"/> + i at <paramref name="step"/>: the same bits for any <paramref name="isa"/> and any
    /// split of a range into calls.
    /// </summary>
    public static void NarrowStochastic(ReadOnlySpan<float> source, Span<ushort> destination, StochasticKey key, long step, long firstIndex, Isa isa = Isa.Scalar)
    {
        CheckLengths(source.Length, destination.Length);
        ArgumentOutOfRangeException.ThrowIfNegative(firstIndex);
        ref float s = ref MemoryMarshal.GetReference(source);
        ref ushort d = ref MemoryMarshal.GetReference(destination);
        nint n = source.Length, i = 0;
        if (isa != Isa.Scalar)
        {
            // Scalar up to the first whole group of 64 (the vector paths draw a group's bits with one Philox call).
            for (; i < n && ((firstIndex + i) & (StochasticGroup - 1)) != 0; i++)
            {
                Unsafe.Add(ref d, i) = FromFloatStochastic(Unsafe.Add(ref s, i), RandomBits(key, step, firstIndex + i));
            }

            var keys = Philox.Schedule((key.K0, key.K1));
            Span<Vector256<uint>> r = stackalloc Vector256<uint>[8];
            for (; i <= n - StochasticGroup; i += StochasticGroup)
            {
                long group = (firstIndex + i) >> 6;
                if (isa == Isa.Avx512)
                {
                    RandomBits512(keys, step, group, out var r0, out var r1, out var r2, out var r3);
                    StoreStochastic512(Vector512.LoadUnsafe(ref s, (nuint)i), r0, ref Unsafe.Add(ref d, i));
                    StoreStochastic512(Vector512.LoadUnsafe(ref s, (nuint)(i + 16)), r1, ref Unsafe.Add(ref d, i + 16));
                    StoreStochastic512(Vector512.LoadUnsafe(ref s, (nuint)(i + 32)), r2, ref Unsafe.Add(ref d, i + 32));
                    StoreStochastic512(Vector512.LoadUnsafe(ref s, (nuint)(i + 48)), r3, ref Unsafe.Add(ref d, i + 48));
                }
                else
                {
                    RandomBits256(keys, step, group, r);
                    for (int k = 0; k < 8; k++)
                    {
                        StoreStochastic256(Vector256.LoadUnsafe(ref s, (nuint)(i + (8 * k))), r[k], ref Unsafe.Add(ref d, i + (8 * k)));
                    }
                }
            }
        }

        for (; i < n; i++)
        {
            Unsafe.Add(ref d, i) = FromFloatStochastic(Unsafe.Add(ref s, i), RandomBits(key, step, firstIndex + i));
        }
    }

    /// <summary>16 bfloat16 at <paramref name="source"/> widened to float32 (AVX-512F).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Load512(ref ushort source) =>
        (Avx512F.ConvertToVector512UInt32(Vector256.LoadUnsafe(ref source)) << 16).AsSingle();

    /// <summary>8 bfloat16 at <paramref name="source"/> widened to float32 (AVX2).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Load256(ref ushort source) =>
        (Avx2.ConvertToVector256Int32(Vector128.LoadUnsafe(ref source)) << 16).AsSingle();

    /// <summary>16 float32 rounded to nearest even and stored as bfloat16 at <paramref name="destination"/> (AVX-512F).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store512(Vector512<float> x, ref ushort destination)
    {
        // The same bits as Round512 with one shift shared and the NaN test a float compare (x ≠ x).
        var bits = x.AsUInt32();
        var high = bits >> 16;
        var nearest = (bits + (high & Vector512.Create(1u)) + Vector512.Create(0x7FFFu)) >> 16;
        var word = Vector512.ConditionalSelect(Vector512.Equals(x, x).AsUInt32(), nearest, high | Vector512.Create(0x0040u));
        Avx512F.ConvertToVector256UInt16(word).StoreUnsafe(ref destination);
    }

    /// <summary>8 float32 rounded to nearest even and stored as bfloat16 at <paramref name="destination"/> (AVX2).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store256(Vector256<float> x, ref ushort destination)
    {
        var r = Round256(x.AsUInt32(), ((x.AsUInt32() >> 16) & Vector256.Create(1u)) + Vector256.Create(0x7FFFu));
        Vector128.Narrow(r.GetLower(), r.GetUpper()).StoreUnsafe(ref destination);
    }

    /// <summary>16 float32 stochastically rounded with the random bits <paramref name="random16"/> (low 16 of each lane), stored as bfloat16.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void StoreStochastic512(Vector512<float> x, Vector512<uint> random16, ref ushort destination) =>
        Avx512F.ConvertToVector256UInt16(Round512(x.AsUInt32(), random16 & Vector512.Create(0xFFFFu))).StoreUnsafe(ref destination);

    /// <summary>8 float32 stochastically rounded with the random bits <paramref name="random16"/> (low 16 of each lane), stored as bfloat16.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void StoreStochastic256(Vector256<float> x, Vector256<uint> random16, ref ushort destination)
    {
        var r = Round256(x.AsUInt32(), random16 & Vector256.Create(0xFFFFu));
        Vector128.Narrow(r.GetLower(), r.GetUpper()).StoreUnsafe(ref destination);
    }

    /// <summary>
    /// The random bits of the 64 elements of group <paramref name="group"/> (elements 64·group … 64·group + 63) at
    /// <paramref name="step"/>, as four vectors of 16 (low 16 bits of each lane), in element order.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void RandomBits512(in Philox.RoundKeys keys, long step, long group, out Vector512<uint> r0, out Vector512<uint> r1, out Vector512<uint> r2, out Vector512<uint> r3)
    {
        ulong block = (ulong)group * 8;
        var c0 = Vector512.Create((ulong)(uint)block) + Vector512.Create(0UL, 1, 2, 3, 4, 5, 6, 7);
        var c1 = Vector512.Create((ulong)(uint)(block >> 32));
        var c2 = Vector512.Create((ulong)(uint)step);
        var c3 = Vector512.Create((ulong)(uint)((ulong)step >> 32));
        Philox.Block512(ref c0, ref c1, ref c2, ref c3, keys);
        var a = (c0 | (c1 << 32)).AsUInt32();   // lane-major words 0, 1 of blocks 0…7
        var b = (c2 | (c3 << 32)).AsUInt32();   // words 2, 3
        r0 = a;
        r1 = b;
        r2 = a >> 16;
        r3 = b >> 16;
    }

    /// <summary>The same bits as <see cref="RandomBits512"/> with two 4-lane Philox calls, as eight vectors of 8 in element order.</summary>
    public static void RandomBits256(in Philox.RoundKeys keys, long step, long group, Span<Vector256<uint>> r)
    {
        ulong block = (ulong)group * 8;
        var c2s = Vector256.Create((ulong)(uint)step);
        var c3s = Vector256.Create((ulong)(uint)((ulong)step >> 32));
        for (int call = 0; call < 2; call++)
        {
            var c0 = Vector256.Create((ulong)(uint)block) + Vector256.Create(0UL, 1, 2, 3) + Vector256.Create((ulong)(4 * call));
            var c1 = Vector256.Create((ulong)(uint)(block >> 32));
            var c2 = c2s;
            var c3 = c3s;
            Philox.Block256(ref c0, ref c1, ref c2, ref c3, keys);
            var a = (c0 | (c1 << 32)).AsUInt32();
            var b = (c2 | (c3 << 32)).AsUInt32();
            r[call] = a;            // elements 8·call … : words 0, 1, low halves
            r[2 + call] = b;        // words 2, 3, low halves
            r[4 + call] = a >> 16;  // words 0, 1, high halves
            r[6 + call] = b >> 16;  // words 2, 3, high halves
        }
    }

    /// <summary>(bits + add) ≫ 16, or the quiet NaN of the top half where bits are a NaN.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<uint> Round512(Vector512<uint> bits, Vector512<uint> add)
    {
        var isNaN = Vector512.GreaterThan(bits & Vector512.Create(0x7FFF_FFFFu), Vector512.Create(0x7F80_0000u));
        return Vector512.ConditionalSelect(isNaN, (bits >> 16) | Vector512.Create(0x0040u), (bits + add) >> 16);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<uint> Round256(Vector256<uint> bits, Vector256<uint> add)
    {
        var isNaN = Vector256.GreaterThan(bits & Vector256.Create(0x7FFF_FFFFu), Vector256.Create(0x7F80_0000u));
        return Vector256.ConditionalSelect(isNaN, (bits >> 16) | Vector256.Create(0x0040u), (bits + add) >> 16);
    }

    private static void CheckLengths(int source, int destination)
    {
        if (source != destination)
        {
            throw new ArgumentException($"The source holds {source} elements but the destination {destination}; they must be equal.");
        }
    }
}

/// <summary>A Philox key for stochastic rounding, from <see cref="Bf16.KeyFor(ulong, uint)"/>.</summary>
/// <param name="K0">Key word 0.</param>
/// <param name="K1">Key word 1.</param>
public readonly record struct StochasticKey(uint K0, uint K1);

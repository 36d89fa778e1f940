using System;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace FusedOpt.Randomness;

/// <summary>
/// Philox4x32-10, the counter-based generator of Salmon, Moraes, Dror and Shaw ("Parallel random numbers: as easy as
/// 1, 2, 3", SC 2011; Random123): a keyed bijection of a 128-bit counter. The random numbers for an element are a
/// pure function of (key, counter), so a draw never depends on which thread, process or order computes it — what
/// Gadam's crossover and mutation need to give the same bits standalone, in parallel and across MPI ranks, and what
/// the stochastic-rounding bf16 store (<c>FusedOpt.Storage.Bf16</c>) needs to be the same for any thread count or width.
/// </summary>
/// <remarks>
/// <para>One round, with multipliers M₀ = 0xD2511F53 and M₁ = 0xCD9E8D57 and hi/lo the halves of a 64-bit product:
/// (c₀, c₁, c₂, c₃) ← (hi(M₁c₂) ⊕ c₁ ⊕ k₀, lo(M₁c₂), hi(M₀c₀) ⊕ c₃ ⊕ k₁, lo(M₀c₀)); between rounds the key is bumped by
/// the Weyl constants (k₀ += 0x9E3779B9, k₁ += 0xBB67AE85). Ten rounds. Checked against Random123's known-answer
/// vectors (kat_vectors) in the tests.</para>
/// <para>The vector forms hold one 32-bit word per 64-bit lane so that <c>vpmuludq</c> (32×32→64 on the even
/// halves) gives hi and lo in one multiply; they produce exactly the scalar bits.</para>
/// </remarks>
public static class Philox
{
    /// <summary>First round multiplier.</summary>
    public const uint M0 = 0xD2511F53;

    /// <summary>Second round multiplier.</summary>
    public const uint M1 = 0xCD9E8D57;

    /// <summary>Weyl increment of key word 0.</summary>
    public const uint W0 = 0x9E3779B9;

    /// <summary>Weyl increment of key word 1.</summary>
    public const uint W1 = 0xBB67AE85;

    /// <summary>Rounds.</summary>
    public const int Rounds = 10;

    /// <summary>The four output words for <paramref name="counter"/> under <paramref name="key"/>.</summary>
    public static (uint X0, uint X1, uint X2, uint X3) Block((uint C0, uint C1, uint C2, uint C3) counter, (uint K0, uint K1) key)
    {
        var (c0, c1, c2, c3) = counter;
        var (k0, k1) = key;
        for (int r = 0; r < Rounds; r++)
        {
            if (r > 0)
            {
                k0 += W0;
                k1 += W1;
            }

            ulong p0 = (ulong)M0 * c0;
            ulong p1 = (ulong)M1 * c2;
            (c0, c1, c2, c3) = ((uint)(p1 >> 32) ^ c1 ^ k0, (uint)p1, (uint)(p0 >> 32) ^ c3 ^ k1, (uint)p0);
        }

        return (c0, c1, c2, c3);
    }

    /// <summary>The key schedule: key word pairs of rounds 0…9, as 64-bit lanes ready to broadcast.</summary>
    public static RoundKeys Schedule((uint K0, uint K1) key)
    {
        var keys = new RoundKeys();
        uint k0 = key.K0, k1 = key.K1;
        for (int r = 0; r < Rounds; r++)
        {
            keys[2 * r] = k0;
            keys[(2 * r) + 1] = k1;
            k0 += W0;
            k1 += W1;
        }

        return keys;
    }

    /// <summary>
    /// Eight blocks at once: lane j of the counters is (c0[j], c1[j], c2, c3), each word zero-extended in a 64-bit lane;
    /// outputs likewise. Needs AVX-512F.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Block512(ref Vector512<ulong> c0, ref Vector512<ulong> c1, ref Vector512<ulong> c2, ref Vector512<ulong> c3, in RoundKeys keys)
    {
        var m0 = Vector512.Create((uint)M0);
        var m1 = Vector512.Create((uint)M1);
        var low = Vector512.Create(0xFFFF_FFFFUL);
        for (int r = 0; r < Rounds; r++)
        {
            Vector512<ulong> p0 = Avx512F.Multiply(c0.AsUInt32(), m0);
            Vector512<ulong> p1 = Avx512F.Multiply(c2.AsUInt32(), m1);
            var n0 = (p1 >> 32) ^ c1 ^ Vector512.Create((ulong)keys[2 * r]);
            var n2 = (p0 >> 32) ^ c3 ^ Vector512.Create((ulong)keys[(2 * r) + 1]);
            c1 = p1 & low;
            c3 = p0 & low;
            c0 = n0;
            c2 = n2;
        }
    }

    /// <summary>Four blocks at once, as <see cref="Block512"/>. Needs AVX2.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Block256(ref Vector256<ulong> c0, ref Vector256<ulong> c1, ref Vector256<ulong> c2, ref Vector256<ulong> c3, in RoundKeys keys)
    {
        var m0 = Vector256.Create((uint)M0);
        var m1 = Vector256.Create((uint)M1);
        var low = Vector256.Create(0xFFFF_FFFFUL);
        for (int r = 0; r < Rounds; r++)
        {
            Vector256<ulong> p0 = Avx2.Multiply(c0.AsUInt32(), m0);
            Vector256<ulong> p1 = Avx2.Multiply(c2.AsUInt32(), m1);
            var n0 = (p1 >> 32) ^ c1 ^ Vector256.Create((ulong)keys[2 * r]);
            var n2 = (p0 >> 32) ^ c3 ^ Vector256.Create((ulong)keys[(2 * r) + 1]);
            c1 = p1 & low;
            c3 = p0 & low;
            c0 = n0;
            c2 = n2;
        }
    }

    /// <summary>The 20 round-key words of <see cref="Schedule"/>.</summary>
    [InlineArray(2 * Rounds)]
    public struct RoundKeys
    {
        private uint _element;
    }
}

using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using FusedOpt.Kernels;

namespace FusedOpt.Storage;

/// <summary>
/// Blockwise dynamic 8-bit state storage, as bitsandbytes' 8-bit optimizers keep their states: the elements are cut into
/// blocks of <see cref="BlockSize"/> (the last may be shorter), each block stores one float32 absmax = max |x| and one
/// byte per element, the code q of <see cref="DynamicMap"/> nearest to x / absmax. Dequantizing gives Codes[q] × absmax.
/// </summary>
/// <remarks>
/// <para><b>Quantize.</b> y = x · (1 / absmax) (a reciprocal then a multiply, as bitsandbytes' kernels do), then
/// q = the number of the map's <see cref="DynamicMap.Bounds"/> strictly below y: the nearest code, a tie going to the
/// lower code. bitsandbytes finds the code by a binary search with a midpoint test; the scalar path here is a
/// branch-free search, eight compare-and-add steps (idx += s where y &gt; Bounds[idx + s], s = 128, 64, …, 1).</para>
/// <para>The vector paths compute the count instead of searching for it (<see cref="Encode512"/>, <see cref="Encode256"/>).
/// Within decade i (values up to 10^(i−6)) the map's n_i codes are evenly spaced, so t = a·n_i/(0.9·10^(i−6)) + f_i + ½ − n_i/9
/// (a = |y|, f_i the positive codes below the decade) puts positive code m at m + 1 and the bound between codes j − 1
/// and j at j + ½. The decade is the number of thresholds 10^(i−7) (i = 1 … 6) at or below a, where the switch from one
/// decade's t to the next keeps t continuous to within ½; on AVX-512 a 32-entry table over a's binade gives the
/// thresholds below the binade (in the entry's low 3 bits) and the one inside it (one comparison), on AVX2 six
/// comparisons. The bucket k = ⌊t⌋ (a clamped to [2⁻³¹, 1]) never decreases as a grows and every positive bound P[j]
/// lands in bucket j (checked when the tables are built), so every bound below the bucket is below a, every bound above
/// it is above a, and the count is k + (a &gt; P[k]): one lookup (four or eight two-table permutes and selects on
/// AVX-512, one gather on AVX2) and one comparison. Signed map: 127 + k + (a &gt; P[k]) for y &gt; 0 and
/// 127 − min(k + (a ≥ P[k]), 127) for y &lt; 0 (its negative bounds mirror the positive ones). Every float32 bit
/// pattern gives the scalar search's code (checked once exhaustively, and by the tests on a stride).
/// <see cref="Encode512Bucket"/> (a 49 KB bucket table on the top 16 bits of |y|) and <see cref="Encode256Search"/> are
/// alternatives kept for measurement.</para>
/// <para><b>Dequantize.</b> Codes[q] × absmax: a 256-entry table lookup (eight two-table permutes and seven selects on
/// AVX-512, or a gather), then one multiply.</para>
/// <para><b>absmax.</b> The maximum of |x| computed on the bit patterns (exact, order-free, so every path agrees). An all-zero
/// block has absmax 0 and stores the zero code everywhere. <b>Non-finite policy:</b> a block holding a NaN or ±∞ stores
/// absmax = NaN, so every element of it dequantizes to NaN — a non-finite state is never silently replaced by a finite
/// value. (The optimizer's skip-on-non-finite keeps such values out of states in the first place.)</para>
/// <para><b>Keep positive</b> (opt-in, unsigned map only: the <c>keepPositive</c> argument of <see cref="Encode"/>,
/// <see cref="EncodeBlock"/> and <see cref="Quantize"/>; <see cref="OptimizerOptions.Q8KeepPositive"/>). bitsandbytes'
/// quantizer codes a scaled value at or below half the smallest nonzero code (U₁/2 = 1.6·10⁻⁷) as 0, value 0. With the
/// rule, after the nearest code is found, a code of 0 becomes 1 (the smallest nonzero code, U₁·absmax) where y &gt; 0:
/// a positive value is never stored as 0. Nothing else changes: zero, negative and NaN y keep code 0, so an all-zero
/// block still stores zeros and a non-finite block (inverse scale 0: y is 0 or NaN) keeps its NaN absmax. The codes are
/// ordinary codes (no format change). The rule is a type argument of the element loops, chosen once per block, so the
/// default loops are unchanged; with it, one compare and one max more per vector. (A positive x so far below its
/// block's absmax that y = x·(1/absmax) underflows to 0 — a ratio under 1.4·10⁻⁴⁵ — still gets code 0.)</para>
/// </remarks>
public static unsafe class Q8
{
    /// <summary>Elements per block, each block with its own absmax (bitsandbytes' blocksize for 8-bit optimizer states).</summary>
    public const int BlockSize = 256;

    private static readonly Tables SignedTables = new(DynamicMap.Signed);
    private static readonly Tables UnsignedTables = new(DynamicMap.Unsigned);

    /// <summary>Blocks holding <paramref name="elements"/> elements: ⌈n / 256⌉.</summary>
    public static long BlockCount(long elements) => (elements + BlockSize - 1) / BlockSize;

    /// <summary>The factor a block is scaled by before coding: 1 / absmax, or 0 for an all-zero or non-finite block.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float InverseScale(float absmax) => absmax > 0f && absmax < float.PositiveInfinity ? 1f / absmax : 0f;

    /// <summary>
    /// The code of the scaled value <paramref name="y"/> (see remarks): the number of bounds strictly below it; with
    /// <paramref name="keepPositive"/> (unsigned map only) 1 instead of 0 where y &gt; 0.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="keepPositive"/> with the signed map.</exception>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static byte Encode(float y, DynamicMap map, bool keepPositive = false)
    {
        if (keepPositive)
        {
            RequireUnsigned(map);
            return EncodeScalar<KeepPositiveRule>(y, UnsignedTables.Bounds);
        }

        return EncodeScalar<BitsandbytesRule>(y, TablesOf(map).Bounds);
    }

    /// <summary><see cref="Encode"/> with the rule as a type argument: the branch-free search, then the rule's zero code.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static byte EncodeScalar<TRule>(float y, float* bounds)
        where TRule : struct, IZeroRule
    {
        int idx = 0;
        for (int s = 128; s > 0; s >>= 1)
        {
            if (y > bounds[idx + s])
            {
                idx += s;
            }
        }

        if (TRule.KeepPositive && idx == 0 && y > 0f)
        {
            idx = 1;
        }

        return (byte)idx;
    }

    /// <summary>The value code <paramref name="q"/> of a block with <paramref name="absmax"/> stands for.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Decode(byte q, float absmax, DynamicMap map) => TablesOf(map).Codes[q] * absmax;

    /// <summary>max |x| over <paramref name="block"/>, or NaN if it holds a NaN or ±∞ (0 when empty).</summary>
    public static float AbsMax(ReadOnlySpan<float> block, Isa isa = Isa.Scalar)
    {
        ref uint x = ref Unsafe.As<float, uint>(ref MemoryMarshal.GetReference(block));
        nint n = block.Length, i = 0;
        uint max = 0;
        if (isa == Isa.Avx512)
        {
            var acc = Vector512<uint>.Zero;
            for (; i <= n - 16; i += 16)
            {
                acc = Vector512.Max(acc, Vector512.LoadUnsafe(ref x, (nuint)i) & Vector512.Create(0x7FFF_FFFFu));
            }

            max = MaxOf(Vector256.Max(acc.GetLower(), acc.GetUpper()));
        }
        else if (isa == Isa.Avx2)
        {
            var acc = Vector256<uint>.Zero;
            for (; i <= n - 8; i += 8)
            {
                acc = Vector256.Max(acc, Vector256.LoadUnsafe(ref x, (nuint)i) & Vector256.Create(0x7FFF_FFFFu));
            }

            max = MaxOf(acc);
        }

        for (; i < n; i++)
        {
            max = Math.Max(max, Unsafe.Add(ref x, i) & 0x7FFF_FFFFu);
        }

        return AbsMaxFromBits(max);
    }

    /// <summary>The absmax stored for a block whose largest |x| has the bit pattern <paramref name="bits"/>: NaN if not finite.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float AbsMaxFromBits(uint bits) => bits >= 0x7F80_0000u ? float.NaN : BitConverter.UInt32BitsToSingle(bits);

    /// <summary>
    /// Quantizes <paramref name="source"/> block by block (blocks start at element 0; the last may be short): one absmax per
    /// block into <paramref name="absmax"/> and one code per element into <paramref name="codes"/>. With
    /// <paramref name="keepPositive"/> (unsigned map only) a positive value is never coded 0 (see remarks).
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="keepPositive"/> with the signed map, or mismatched lengths.</exception>
    public static void Quantize(ReadOnlySpan<float> source, Span<byte> codes, Span<float> absmax, DynamicMap map, Isa isa = Isa.Scalar, bool keepPositive = false)
    {
        ArgumentNullException.ThrowIfNull(map);
        CheckShapes(source.Length, codes.Length, absmax.Length);
        if (keepPositive)
        {
            RequireUnsigned(map);
        }

        for (int b = 0; b < absmax.Length; b++)
        {
            int start = b * BlockSize, length = Math.Min(BlockSize, source.Length - start);
            var block = source.Slice(start, length);
            float a = AbsMax(block, isa);
            absmax[b] = a;
            EncodeBlock(block, codes.Slice(start, length), InverseScale(a), map, isa, keepPositive);
        }
    }

    /// <summary>Dequantizes <paramref name="codes"/> with their blocks' <paramref name="absmax"/> into <paramref name="destination"/>.</summary>
    public static void Dequantize(ReadOnlySpan<byte> codes, ReadOnlySpan<float> absmax, Span<float> destination, DynamicMap map, Isa isa = Isa.Scalar)
    {
        ArgumentNullException.ThrowIfNull(map);
        CheckShapes(destination.Length, codes.Length, absmax.Length);
        for (int b = 0; b < absmax.Length; b++)
        {
            int start = b * BlockSize, length = Math.Min(BlockSize, destination.Length - start);
            DecodeBlock(codes.Slice(start, length), absmax[b], destination.Slice(start, length), map, isa);
        }
    }

    /// <summary>
    /// codes[i] ← Encode(source[i] · <paramref name="inverseScale"/>, <paramref name="map"/>, <paramref name="keepPositive"/>).
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="keepPositive"/> with the signed map.</exception>
    public static void EncodeBlock(ReadOnlySpan<float> source, Span<byte> codes, float inverseScale, DynamicMap map, Isa isa = Isa.Scalar, bool keepPositive = false)
    {
        if (keepPositive)
        {
            RequireUnsigned(map);
            EncodeBlockWith<KeepPositiveRule>(source, codes, inverseScale, map, isa);
        }
        else
        {
            EncodeBlockWith<BitsandbytesRule>(source, codes, inverseScale, map, isa);
        }
    }

    /// <summary><see cref="EncodeBlock(ReadOnlySpan{float}, Span{byte}, float, DynamicMap, Isa, bool)"/> with the zero rule as a type argument.</summary>
    private static void EncodeBlockWith<TRule>(ReadOnlySpan<float> source, Span<byte> codes, float inverseScale, DynamicMap map, Isa isa)
        where TRule : struct, IZeroRule
    {
        var t = TablesOf(map);
        ref float s = ref MemoryMarshal.GetReference(source);
        ref byte c = ref MemoryMarshal.GetReference(codes);
        nint n = source.Length, i = 0;
        if (isa == Isa.Avx512)
        {
            i = t.IsSigned ? EncodeSigned512(ref s, ref c, n, inverseScale, t) : EncodeUnsigned512<TRule>(ref s, ref c, n, inverseScale, t);
        }
        else if (isa == Isa.Avx2)
        {
            var inv = Vector256.Create(inverseScale);
            for (; i <= n - 8; i += 8)
            {
                var y = Vector256.LoadUnsafe(ref s, (nuint)i) * inv;
                var q = Encode256(y, t);
                if (TRule.KeepPositive)
                {
                    // A compare is −1 where true: max(q, 1) where y > 0, q elsewhere.
                    q = Vector256.Max(q, Vector256.GreaterThan(y, Vector256<float>.Zero).AsInt32() & Vector256<int>.One);
                }

                StoreCodes256(q, ref Unsafe.Add(ref c, i));
            }
        }

        float* bounds = t.Bounds;
        for (; i < n; i++)
        {
            Unsafe.Add(ref c, i) = EncodeScalar<TRule>(Unsafe.Add(ref s, i) * inverseScale, bounds);
        }
    }

    /// <summary>Refuses the keep-positive rule with the signed map, whose code 0 is its most negative value, not 0.</summary>
    private static void RequireUnsigned(DynamicMap map)
    {
        ArgumentNullException.ThrowIfNull(map);
        if (map.IsSigned)
        {
            throw new ArgumentException("keepPositive applies to the unsigned map (non-negative states such as Adam's v); the signed map's code 0 is its most negative value, not 0.", nameof(map));
        }
    }

    /// <summary>What happens to a code of 0: the rule as a type, so that the JIT folds it out of the element loops.</summary>
    private interface IZeroRule
    {
        /// <summary>True: a positive y coded 0 is coded 1 instead (unsigned map).</summary>
        static abstract bool KeepPositive { get; }
    }

    /// <summary>bitsandbytes' quantizer: the nearest code, whatever it is (the default).</summary>
    private struct BitsandbytesRule : IZeroRule
    {
        public static bool KeepPositive => false;
    }

    /// <summary>A positive value is never coded 0 (unsigned map).</summary>
    private struct KeepPositiveRule : IZeroRule
    {
        public static bool KeepPositive => true;
    }

    /// <summary>destination[i] ← Codes[codes[i]] × <paramref name="absmax"/>.</summary>
    public static void DecodeBlock(ReadOnlySpan<byte> codes, float absmax, Span<float> destination, DynamicMap map, Isa isa = Isa.Scalar)
    {
        var t = TablesOf(map);
        ref byte c = ref MemoryMarshal.GetReference(codes);
        ref float d = ref MemoryMarshal.GetReference(destination);
        nint n = codes.Length, i = 0;
        if (isa == Isa.Avx512)
        {
            var a = Vector512.Create(absmax);
            for (; i <= n - 16; i += 16)
            {
                (Decode512(LoadCodes512(ref Unsafe.Add(ref c, i)), t) * a).StoreUnsafe(ref d, (nuint)i);
            }
        }
        else if (isa == Isa.Avx2)
        {
            var a = Vector256.Create(absmax);
            for (; i <= n - 8; i += 8)
            {
                (Decode256(LoadCodes256(ref Unsafe.Add(ref c, i)), t) * a).StoreUnsafe(ref d, (nuint)i);
            }
        }

        for (; i < n; i++)
        {
            Unsafe.Add(ref d, i) = t.Codes[Unsafe.Add(ref c, i)] * absmax;
        }
    }

    /// <summary>The lookup tables of <paramref name="map"/> for the vector primitives.</summary>
    public static Tables TablesOf(DynamicMap map) => map.IsSigned ? SignedTables : UnsignedTables;

    /// <summary>16 codes at <paramref name="source"/>, zero-extended to int32 lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<int> LoadCodes512(ref byte source) => Avx512F.ConvertToVector512Int32(Vector128.LoadUnsafe(ref source));

    /// <summary>8 codes at <paramref name="source"/>, zero-extended to int32 lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> LoadCodes256(ref byte source) =>
        Avx2.ConvertToVector256Int32(Vector128.CreateScalar(Unsafe.ReadUnaligned<ulong>(ref source)).AsByte());

    /// <summary>Stores 16 codes (int32 lanes 0…255) as bytes at <paramref name="destination"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void StoreCodes512(Vector512<int> q, ref byte destination) => Avx512F.ConvertToVector128Byte(q).StoreUnsafe(ref destination);

    /// <summary>Stores 8 codes (int32 lanes 0…255) as bytes at <paramref name="destination"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void StoreCodes256(Vector256<int> q, ref byte destination)
    {
        var words = Vector128.Narrow(q.GetLower(), q.GetUpper());
        Unsafe.WriteUnaligned(ref destination, Vector128.Narrow(words, words).AsUInt64().ToScalar());
    }

    /// <summary>
    /// The codes of 16 scaled values by the bucket table (<see cref="Tables.BucketStart"/>, <see cref="Tables.BucketBound"/>;
    /// two gathers per half), kept to measure against <see cref="Encode512"/>: about twice its time, with 49 KB of
    /// tables per map where it needs 1.3 KB.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<int> Encode512Bucket(Vector512<float> y, Tables t) =>
        Vector512.Create(Encode256Bucket(y.GetLower(), t), Encode256Bucket(y.GetUpper(), t));

    /// <summary>
    /// The codes of 16 scaled values (AVX-512F): the bucket of |y| computed arithmetically, then one comparison with the
    /// one bound in it (see the class remarks; the same codes as <see cref="Encode"/> for every float, tested).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<int> Encode512(Vector512<float> y, Tables t)
    {
        var th0 = Vector512.Load(t.Thresholds);
        var th1 = Vector512.Load(t.Thresholds + 16);
        var scale = Vector512.Load(t.DecadeScale);
        var offset = Vector512.Load(t.DecadeOffset);
        float* p = t.PositiveBounds;
        if (t.IsSigned)
        {
            return EncodeSigned512(y, th0, th1, scale, offset, Vector512.Load(p), Vector512.Load(p + 16), Vector512.Load(p + 32),
                Vector512.Load(p + 48), Vector512.Load(p + 64), Vector512.Load(p + 80), Vector512.Load(p + 96), Vector512.Load(p + 112));
        }

        return EncodeUnsigned512(y, th0, th1, scale, offset, Vector512.Load(p), Vector512.Load(p + 16), Vector512.Load(p + 32),
            Vector512.Load(p + 48), Vector512.Load(p + 64), Vector512.Load(p + 80), Vector512.Load(p + 96), Vector512.Load(p + 112),
            Vector512.Load(p + 128), Vector512.Load(p + 144), Vector512.Load(p + 160), Vector512.Load(p + 176), Vector512.Load(p + 192),
            Vector512.Load(p + 208), Vector512.Load(p + 224), Vector512.Load(p + 240));
    }

    /// <summary>Codes of source[i] · <paramref name="inverseScale"/> for whole vectors of 16, signed map, tables held in registers; returns the elements done.</summary>
    private static nint EncodeSigned512(ref float s, ref byte c, nint n, float inverseScale, Tables t)
    {
        var th0 = Vector512.Load(t.Thresholds);
        var th1 = Vector512.Load(t.Thresholds + 16);
        var scale = Vector512.Load(t.DecadeScale);
        var offset = Vector512.Load(t.DecadeOffset);
        float* p = t.PositiveBounds;
        Vector512<float> p0 = Vector512.Load(p), p1 = Vector512.Load(p + 16), p2 = Vector512.Load(p + 32), p3 = Vector512.Load(p + 48);
        Vector512<float> p4 = Vector512.Load(p + 64), p5 = Vector512.Load(p + 80), p6 = Vector512.Load(p + 96), p7 = Vector512.Load(p + 112);
        var inv = Vector512.Create(inverseScale);
        nint i = 0;
        for (; i <= n - 16; i += 16)
        {
            var y = Vector512.LoadUnsafe(ref s, (nuint)i) * inv;
            StoreCodes512(EncodeSigned512(y, th0, th1, scale, offset, p0, p1, p2, p3, p4, p5, p6, p7), ref Unsafe.Add(ref c, i));
        }

        return i;
    }

    /// <summary>
    /// Codes of source[i] · <paramref name="inverseScale"/> for whole vectors of 16, unsigned map, tables held in registers,
    /// then <typeparamref name="TRule"/>'s zero code; returns the elements done.
    /// </summary>
    private static nint EncodeUnsigned512<TRule>(ref float s, ref byte c, nint n, float inverseScale, Tables t)
        where TRule : struct, IZeroRule
    {
        var th0 = Vector512.Load(t.Thresholds);
        var th1 = Vector512.Load(t.Thresholds + 16);
        var scale = Vector512.Load(t.DecadeScale);
        var offset = Vector512.Load(t.DecadeOffset);
        float* p = t.PositiveBounds;
        Vector512<float> p0 = Vector512.Load(p), p1 = Vector512.Load(p + 16), p2 = Vector512.Load(p + 32), p3 = Vector512.Load(p + 48);
        Vector512<float> p4 = Vector512.Load(p + 64), p5 = Vector512.Load(p + 80), p6 = Vector512.Load(p + 96), p7 = Vector512.Load(p + 112);
        Vector512<float> p8 = Vector512.Load(p + 128), p9 = Vector512.Load(p + 144), p10 = Vector512.Load(p + 160), p11 = Vector512.Load(p + 176);
        Vector512<float> p12 = Vector512.Load(p + 192), p13 = Vector512.Load(p + 208), p14 = Vector512.Load(p + 224), p15 = Vector512.Load(p + 240);
        var inv = Vector512.Create(inverseScale);
        nint i = 0;
        for (; i <= n - 16; i += 16)
        {
            var y = Vector512.LoadUnsafe(ref s, (nuint)i) * inv;
            var q = EncodeUnsigned512(y, th0, th1, scale, offset, p0, p1, p2, p3, p4, p5, p6, p7, p8, p9, p10, p11, p12, p13, p14, p15);
            if (TRule.KeepPositive)
            {
                // A compare is −1 where true: max(q, 1) where y > 0, q elsewhere.
                q = Vector512.Max(q, Vector512.GreaterThan(y, Vector512<float>.Zero).AsInt32() & Vector512<int>.One);
            }

            StoreCodes512(q, ref Unsafe.Add(ref c, i));
        }

        return i;
    }

    /// <summary>
    /// The bucket k of a = |y| clamped to [2⁻³¹, 1] (<paramref name="a"/>): its decade d (the binade's threshold table
    /// gives the number of thresholds below the binade in its low 3 bits and the one threshold inside it), then k = ⌊a·Scale[d] + Offset[d]⌋ (one rounding).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> Bucket512(Vector512<float> a, Vector512<float> th0, Vector512<float> th1, Vector512<float> scale, Vector512<float> offset)
    {
        var threshold = Avx512F.PermuteVar16x32x2(th0, a.AsInt32() >>> 23, th1);
        var below = threshold.AsInt32() & Vector512.Create(7);
        var decade = Vector512.ConditionalSelect(Vector512.GreaterThanOrEqual(a, threshold).AsInt32(), below + Vector512.Create(1), below);
        var bucket = Vector512.FusedMultiplyAdd(a, Avx512F.PermuteVar16x32(scale, decade), Avx512F.PermuteVar16x32(offset, decade));
        return Avx512F.ConvertToVector512Int32WithTruncation(bucket);
    }

    /// <summary>Entry k (0 … 127) of the 128-entry table p0 … p7.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Table128(Vector512<int> k, Vector512<float> p0, Vector512<float> p1, Vector512<float> p2, Vector512<float> p3,
        Vector512<float> p4, Vector512<float> p5, Vector512<float> p6, Vector512<float> p7) =>
        Select(k, 64,
            Select(k, 32, Avx512F.PermuteVar16x32x2(p0, k, p1), Avx512F.PermuteVar16x32x2(p2, k, p3)),
            Select(k, 32, Avx512F.PermuteVar16x32x2(p4, k, p5), Avx512F.PermuteVar16x32x2(p6, k, p7)));

    /// <summary>
    /// Signed map: with k the bucket of |y| and P = PositiveBounds[k], y &gt; 0 gives 127 + k + (|y| &gt; P) and y &lt; 0
    /// gives 127 − min(k + (|y| ≥ P), 127); both as 127 + (k or ~k) + (y &gt; ±P), the sign taken from "not y ≥ 0", which
    /// also sends NaN (whose a is clamped to 1, bucket 127) to max(127 + ~127, 0) = 0.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> EncodeSigned512(Vector512<float> y, Vector512<float> th0, Vector512<float> th1, Vector512<float> scale, Vector512<float> offset,
        Vector512<float> p0, Vector512<float> p1, Vector512<float> p2, Vector512<float> p3, Vector512<float> p4, Vector512<float> p5, Vector512<float> p6, Vector512<float> p7)
    {
        // x86 min/max return the second operand when one is NaN: min(NaN, 1) = 1.
        var a = Avx512F.Max(Avx512F.Min(Vector512.Abs(y), Vector512.Create(1f)), Vector512.Create(Tables.SmallestScaled));
        var k = Bucket512(a, th0, th1, scale, offset);
        var bound = Table128(k, p0, p1, p2, p3, p4, p5, p6, p7);
        var negative = Avx512F.CompareNotGreaterThanOrEqual(y, Vector512<float>.Zero).AsInt32();    // y < 0 or NaN
        var signedBound = bound ^ (negative.AsSingle() & Vector512.Create(-0f));
        var code = Vector512.Create(127) + (k ^ negative);
        code = Vector512.ConditionalSelect(Vector512.GreaterThan(y, signedBound).AsInt32(), code + Vector512.Create(1), code);
        return Vector512.Max(code, Vector512<int>.Zero);
    }

    /// <summary>Unsigned map: k + (y &gt; PositiveBounds[k]) with k the bucket of y clamped to [2⁻³¹, 1] (y ≤ 0 and NaN clamp to 2⁻³¹: code 0).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> EncodeUnsigned512(Vector512<float> y, Vector512<float> th0, Vector512<float> th1, Vector512<float> scale, Vector512<float> offset,
        Vector512<float> p0, Vector512<float> p1, Vector512<float> p2, Vector512<float> p3, Vector512<float> p4, Vector512<float> p5, Vector512<float> p6, Vector512<float> p7,
        Vector512<float> p8, Vector512<float> p9, Vector512<float> p10, Vector512<float> p11, Vector512<float> p12, Vector512<float> p13, Vector512<float> p14, Vector512<float> p15)
    {
        // x86 max returns the second operand when one is NaN: max(NaN, 2⁻³¹) = 2⁻³¹.
        var a = Avx512F.Min(Avx512F.Max(y, Vector512.Create(Tables.SmallestScaled)), Vector512.Create(1f));
        var k = Bucket512(a, th0, th1, scale, offset);
        var bound = Select(k, 128, Table128(k, p0, p1, p2, p3, p4, p5, p6, p7), Table128(k, p8, p9, p10, p11, p12, p13, p14, p15));
        return Vector512.ConditionalSelect(Vector512.GreaterThan(y, bound).AsInt32(), k + Vector512.Create(1), k);
    }

    /// <summary>
    /// The codes of 16 scaled values by the branch-free binary search with permuted bound tables (AVX-512F): the quantizer
    /// before <see cref="Encode512"/>'s bucket arithmetic, about three times slower, kept to measure against it.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<int> Encode512Search(Vector512<float> y, Tables t)
    {
        float* l = t.Levels;
        var idx = Vector512.GreaterThan(y, Vector512.Create(t.Bounds[128])).AsInt32() & Vector512.Create(128);
        idx += Vector512.GreaterThan(y, Avx512F.PermuteVar16x32(Vector512.Load(l), idx >> 7)).AsInt32() & Vector512.Create(64);
        idx += Vector512.GreaterThan(y, Avx512F.PermuteVar16x32(Vector512.Load(l + 16), idx >> 6)).AsInt32() & Vector512.Create(32);
        idx += Vector512.GreaterThan(y, Avx512F.PermuteVar16x32(Vector512.Load(l + 32), idx >> 5)).AsInt32() & Vector512.Create(16);
        idx += Vector512.GreaterThan(y, Avx512F.PermuteVar16x32(Vector512.Load(l + 48), idx >> 4)).AsInt32() & Vector512.Create(8);
        idx += Vector512.GreaterThan(y, Table32(l + 64, idx >> 3)).AsInt32() & Vector512.Create(4);
        var node = idx >> 2;
        var c6 = Select(node, 32, Table32(l + 96, node), Table32(l + 128, node));
        idx += Vector512.GreaterThan(y, c6).AsInt32() & Vector512.Create(2);
        node = idx >> 1;
        var low = Select(node, 32, Table32(l + 160, node), Table32(l + 192, node));
        var high = Select(node, 32, Table32(l + 224, node), Table32(l + 256, node));
        idx += Vector512.GreaterThan(y, Select(node, 64, low, high)).AsInt32() & Vector512.Create(1);
        return idx;
    }

    /// <summary>The code values of 16 codes (AVX-512F permutes over the 256-entry map; not yet × absmax).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Decode512(Vector512<int> q, Tables t)
    {
        float* c = t.Codes;
        var b0 = Select(q, 32, Table32(c, q), Table32(c + 32, q));
        var b1 = Select(q, 32, Table32(c + 64, q), Table32(c + 96, q));
        var b2 = Select(q, 32, Table32(c + 128, q), Table32(c + 160, q));
        var b3 = Select(q, 32, Table32(c + 192, q), Table32(c + 224, q));
        return Select(q, 128, Select(q, 64, b0, b1), Select(q, 64, b2, b3));
    }

    /// <summary>The code values of 16 codes with two AVX2 gathers (the alternative to <see cref="Decode512"/>, measured against it).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Decode512Gather(Vector512<int> q, Tables t) =>
        Vector512.Create(Avx2.GatherVector256(t.Codes, q.GetLower(), 4), Avx2.GatherVector256(t.Codes, q.GetUpper(), 4));

    /// <summary>
    /// The codes of 8 scaled values (AVX2) by <see cref="Encode512"/>'s bucket arithmetic: the decade from six comparisons
    /// with the decade thresholds, the bucket's bound by one gather from the 1 KB bound table.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> Encode256(Vector256<float> y, Tables t)
    {
        float* th = t.DecadeThresholds;
        var scale = Vector256.Load(t.DecadeScale);
        var offset = Vector256.Load(t.DecadeOffset);
        if (t.IsSigned)
        {
            var a = Avx.Max(Avx.Min(Vector256.Abs(y), Vector256.Create(1f)), Vector256.Create(Tables.SmallestScaled));
            var k = Bucket256(a, th, scale, offset);
            var bound = Avx2.GatherVector256(t.PositiveBounds, k, 4);
            var negative = Avx.CompareNotGreaterThanOrEqual(y, Vector256<float>.Zero).AsInt32();    // y < 0 or NaN
            var signedBound = bound ^ (negative.AsSingle() & Vector256.Create(-0f));
            var code = Vector256.Create(127) + (k ^ negative) - Vector256.GreaterThan(y, signedBound).AsInt32();
            return Vector256.Max(code, Vector256<int>.Zero);
        }

        var u = Avx.Min(Avx.Max(y, Vector256.Create(Tables.SmallestScaled)), Vector256.Create(1f));
        var ku = Bucket256(u, th, scale, offset);
        return ku - Vector256.GreaterThan(y, Avx2.GatherVector256(t.PositiveBounds, ku, 4)).AsInt32();
    }

    /// <summary>
    /// The codes of 8 scaled values by a bucket table (AVX2), the path before <see cref="Encode256"/>'s bucket arithmetic,
    /// kept to measure against it: with a = |y| and its bucket k (the top 16 bits of a, clamped to the range
    /// where bounds lie), lt = Start[k] + (a &gt; Bound[k]) counts the positive bounds below a and le = Start[k] +
    /// (a ≥ Bound[k]) those at or below it. Unsigned map: y &gt; 0 ? lt : 0. Signed map (the bounds below 0 mirror those
    /// above it, but for the one between 0.99297 and 1): y &gt; 0 ? 127 + lt : y &lt; 0 ? 127 − min(le, 127) : 127, and 0 for NaN.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<int> Encode256Bucket(Vector256<float> y, Tables t)
    {
        var a = (y.AsUInt32() & Vector256.Create(0x7FFF_FFFFu)).AsSingle();
        var key = Vector256.Min(Vector256.Max((a.AsInt32() >> 15) - Vector256.Create(Tables.FirstKey - 1), Vector256<int>.Zero), Vector256.Create(Tables.BucketCount - 1));
        var start = Avx2.GatherVector256(t.BucketStart, key, 4);
        var bound = Avx2.GatherVector256(t.BucketBound, key, 4);
        var lt = start - Vector256.GreaterThan(a, bound).AsInt32();            // a compare is −1 where true
        var positive = Vector256.GreaterThan(y, Vector256<float>.Zero).AsInt32();
        if (!t.IsSigned)
        {
            return lt & positive;
        }

        var le = Vector256.Min(start - Vector256.GreaterThanOrEqual(a, bound).AsInt32(), Vector256.Create(127));
        var negative = Vector256.LessThan(y, Vector256<float>.Zero).AsInt32();
        var zeroOrNaN = Vector256.ConditionalSelect(Vector256.Equals(y, y).AsInt32(), Vector256.Create(127), Vector256<int>.Zero);
        return Vector256.ConditionalSelect(positive, Vector256.Create(127) + lt, Vector256.ConditionalSelect(negative, Vector256.Create(127) - le, zeroOrNaN));
    }

    /// <summary><see cref="Bucket512"/> on AVX2: the decade as the count of the six thresholds at or below a.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Bucket256(Vector256<float> a, float* thresholds, Vector256<float> scale, Vector256<float> offset)
    {
        var d0 = Vector256.GreaterThanOrEqual(a, Vector256.Create(thresholds[0])).AsInt32() + Vector256.GreaterThanOrEqual(a, Vector256.Create(thresholds[1])).AsInt32();
        var d1 = Vector256.GreaterThanOrEqual(a, Vector256.Create(thresholds[2])).AsInt32() + Vector256.GreaterThanOrEqual(a, Vector256.Create(thresholds[3])).AsInt32();
        var d2 = Vector256.GreaterThanOrEqual(a, Vector256.Create(thresholds[4])).AsInt32() + Vector256.GreaterThanOrEqual(a, Vector256.Create(thresholds[5])).AsInt32();
        var decade = Vector256<int>.Zero - (d0 + d1 + d2);
        var bucket = Vector256.FusedMultiplyAdd(a, Avx2.PermuteVar8x32(scale, decade), Avx2.PermuteVar8x32(offset, decade));
        return Avx.ConvertToVector256Int32WithTruncation(bucket);
    }

    /// <summary>The codes of 8 scaled values by the branch-free binary search with gathered bounds (AVX2), kept to measure against <see cref="Encode256"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> Encode256Search(Vector256<float> y, Tables t)
    {
        float* b = t.Bounds;
        var idx = Vector256<int>.Zero;
        for (int s = 128; s > 0; s >>= 1)
        {
            var candidate = Avx2.GatherVector256(b, idx + Vector256.Create(s), 4);
            idx += Vector256.GreaterThan(y, candidate).AsInt32() & Vector256.Create(s);
        }

        return idx;
    }

    /// <summary>The code values of 8 codes (one AVX2 gather; not yet × absmax).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Decode256(Vector256<int> q, Tables t) => Avx2.GatherVector256(t.Codes, q, 4);

    /// <summary>Entry index (low 5 bits) of the 32-entry table at <paramref name="table"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Table32(float* table, Vector512<int> index) =>
        Avx512F.PermuteVar16x32x2(Vector512.Load(table), index, Vector512.Load(table + 16));

    /// <summary>Where <paramref name="index"/> has <paramref name="bit"/> set, <paramref name="ifSet"/>, else <paramref name="ifClear"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Select(Vector512<int> index, int bit, Vector512<float> ifClear, Vector512<float> ifSet) =>
        Vector512.ConditionalSelect(Avx512F.CompareNotEqual(index & Vector512.Create(bit), Vector512<int>.Zero).AsSingle(), ifSet, ifClear);

    private static uint MaxOf(Vector256<uint> v)
    {
        var m = Vector128.Max(v.GetLower(), v.GetUpper());
        uint r = 0;
        for (int k = 0; k < 4; k++)
        {
            r = Math.Max(r, m.GetElement(k));
        }

        return r;
    }

    private static void CheckShapes(int elements, int codes, int blocks)
    {
        if (codes != elements)
        {
            throw new ArgumentException($"{elements} elements need {elements} codes, got {codes}.");
        }

        if (blocks != BlockCount(elements))
        {
            throw new ArgumentException($"{elements} elements in blocks of {BlockSize} need {BlockCount(elements)} absmax values, got {blocks}.");
        }
    }

    /// <summary>
    /// A map's tables in pinned, 64-byte-aligned memory for the vector primitives: the 256 codes, the 256 bounds, and the
    /// search-level tables (level L, L = 1 … 7, holds Bounds[node · 2^(8−L) + 2^(7−L)] for its 2^L nodes; levels 1–4
    /// padded to 16 entries).
    /// </summary>
    public sealed class Tables
    {
        private readonly float[] _memory;

        internal Tables(DynamicMap map)
        {
            // 256 codes, 256 bounds, levels 1–4 (4 × 16), 5 (32), 6 (64), 7 (128) and 32 unused, the bucket arithmetic's tables
            // (32 + 16 + 16 + 256 + 16), plus 16 floats of alignment slack.
            _memory = GC.AllocateArray<float>(256 + 256 + 64 + 32 + 64 + 128 + 32 + 336 + 16, pinned: true);
            float* baseAddress = (float*)Marshal.UnsafeAddrOfPinnedArrayElement(_memory, 0);
            float* aligned = (float*)(((nuint)baseAddress + 63) & ~(nuint)63);
            Codes = aligned;
            Bounds = aligned + 256;
            Levels = aligned + 512;
            for (int k = 0; k < 256; k++)
            {
                Codes[k] = map.Codes[k];
                Bounds[k] = map.Bounds[k];
            }

            IsSigned = map.IsSigned;
            Thresholds = aligned + 832;
            DecadeScale = aligned + 864;
            DecadeOffset = aligned + 880;
            PositiveBounds = aligned + 896;
            DecadeThresholds = aligned + 1152;
            BuildBucketArithmetic(map);
            BuildBuckets(map);
            int[] offsets = [0, 0, 16, 32, 48, 64, 96, 160];
            for (int level = 1; level <= 7; level++)
            {
                int stride = 128 >> level;
                for (int node = 0; node < (1 << level); node++)
                {
                    Levels[offsets[level] + node] = Bounds[(node * 2 * stride) + stride];
                }
            }
        }

        /// <summary>The 256 code values.</summary>
        public float* Codes { get; }

        /// <summary>The 256 decision bounds (<see cref="DynamicMap.Bounds"/>).</summary>
        public float* Bounds { get; }

        /// <summary>The search-level tables (see the class summary).</summary>
        public float* Levels { get; }

        /// <summary>True for the signed map's tables.</summary>
        public bool IsSigned { get; }

        /// <summary>
        /// The smallest |y| the bucket arithmetic looks at, 2⁻³¹ (far below the smallest positive bound, about 1.6·10⁻⁷):
        /// smaller values are clamped to it, larger ones to 1.
        /// </summary>
        internal const float SmallestScaled = 4.656612873077392578125e-10f;

        /// <summary>
        /// The decade thresholds per binade, for the bucket arithmetic (<see cref="Encode512"/>): entry e mod 32 for the
        /// binade of exponent e = 96 … 127 ([2^(e−127), 2^(e−126))) holds the threshold 10^(i−7) of decade i if one lies in the
        /// binade, else 2^(e−126) (above every value of the binade), with its low 3 bits replaced by the number of
        /// thresholds below the binade. So decade = low bits + (a ≥ entry).
        /// </summary>
        internal float* Thresholds { get; }

        /// <summary>The six entries of <see cref="Thresholds"/> that hold a decade threshold, in order (for the AVX2 path), then +∞ twice.</summary>
        internal float* DecadeThresholds { get; }

        /// <summary>Per decade i = 0 … 6, the slope of t = a·Scale + Offset: n_i / (0.9·10^(i−6)), n_i the decade's codes.</summary>
        internal float* DecadeScale { get; }

        /// <summary>Per decade i, the offset of t: f_i + ½ − n_i/9, f_i the positive codes below the decade.</summary>
        internal float* DecadeOffset { get; }

        /// <summary>The positive bounds P[j] (signed map: Bounds[128 + j], j &lt; 128; unsigned: Bounds[1 + j], j &lt; 255), +∞ after.</summary>
        internal float* PositiveBounds { get; }

        /// <summary>
        /// Builds the bucket arithmetic's tables and checks its premise: every positive bound P[j] lands in bucket j, so
        /// (the bucket being nondecreasing in a) every bound below a bucket is below its values and every bound above it
        /// above them.
        /// </summary>
        private void BuildBucketArithmetic(DynamicMap map)
        {
            int first = map.IsSigned ? 128 : 1, count = DynamicMap.Size - first;
            for (int j = 0; j < 256; j++)
            {
                PositiveBounds[j] = j < count ? map.Bounds[first + j] : float.PositiveInfinity;
            }

            int below = 0;
            for (int i = 0; i < 7; i++)
            {
                int n = map.IsSigned ? 1 << i : 2 << i;
                double decade = (float)Math.Pow(10, i - 6);
                DecadeScale[i] = (float)(n / (0.9 * decade));
                DecadeOffset[i] = (float)(below + 0.5 - (n / 9.0));
                below += n;
            }

            for (int e = 96; e < 128; e++)
            {
                float lo = BitConverter.UInt32BitsToSingle((uint)e << 23), hi = BitConverter.UInt32BitsToSingle((uint)(e + 1) << 23);
                uint entry = BitConverter.SingleToUInt32Bits(hi), thresholdsBelow = 0;
                for (int i = 1; i < 7; i++)
                {
                    float threshold = (float)Math.Pow(10, i - 7);
                    if (threshold <= lo)
                    {
                        thresholdsBelow++;
                    }
                    else if (threshold < hi)
                    {
                        entry = BitConverter.SingleToUInt32Bits(threshold) & ~7u;
                    }
                }

                Thresholds[e & 31] = BitConverter.UInt32BitsToSingle(entry | thresholdsBelow);
            }

            for (int i = 1; i < 7; i++)
            {
                DecadeThresholds[i - 1] = Thresholds[(BitConverter.SingleToUInt32Bits((float)Math.Pow(10, i - 7)) >> 23) & 31];
            }

            DecadeThresholds[6] = DecadeThresholds[7] = float.PositiveInfinity;
            for (int j = 0; j < count; j++)
            {
                int bucket = BucketOf(PositiveBounds[j]);
                if (bucket != j)
                {
                    throw new InvalidOperationException($"The q8 bucket arithmetic puts bound {j} ({PositiveBounds[j]:R}) in bucket {bucket}; it needs bucket {j}.");
                }
            }
        }

        /// <summary>The bucket of |<paramref name="y"/>| (finite), computed as <see cref="Encode512"/> does.</summary>
        internal int BucketOf(float y)
        {
            float a = Math.Max(Math.Min(Math.Abs(y), 1f), SmallestScaled);
            float threshold = Thresholds[(BitConverter.SingleToUInt32Bits(a) >> 23) & 31];
            int decade = (int)(BitConverter.SingleToUInt32Bits(threshold) & 7) + (a >= threshold ? 1 : 0);
            return (int)MathF.FusedMultiplyAdd(a, DecadeScale[decade], DecadeOffset[decade]);
        }

        /// <summary>
        /// Per bucket, the number of positive bounds below the bucket's smallest value. Bucket 0 holds every |y| below
        /// 2⁻²⁴ (below every bound), bucket k = 1 … 6144 the values whose top 16 bits are <see cref="FirstKey"/> + k − 1
        /// (a relative width of at most 2⁻⁸, narrower than any gap between bounds, so a bucket holds at most one bound),
        /// and the last bucket every |y| from 1 up (above every bound).
        /// </summary>
        public int* BucketStart { get; private set; }

        /// <summary>Per bucket, the one bound inside it, or +∞ where it has none.</summary>
        public float* BucketBound { get; private set; }

        /// <summary>The top 16 bits of 2⁻²⁴, the first bucketed value.</summary>
        public const int FirstKey = 103 << 8;

        /// <summary>Buckets: one below, 24 binades of 256, one above.</summary>
        public const int BucketCount = (24 * 256) + 2;

        private void BuildBuckets(DynamicMap map)
        {
            _buckets = GC.AllocateArray<int>(2 * BucketCount, pinned: true);
            BucketStart = (int*)Marshal.UnsafeAddrOfPinnedArrayElement(_buckets, 0);
            BucketBound = (float*)(BucketStart + BucketCount);
            int first = map.IsSigned ? 128 : 1;
            var positive = new float[256 - first];
            for (int k = first; k < 256; k++)
            {
                positive[k - first] = map.Bounds[k];
            }

            for (int b = 0; b < BucketCount; b++)
            {
                float lo = b == 0 ? 0f : BitConverter.UInt32BitsToSingle((uint)(FirstKey + b - 1) << 15);
                float hi = b == 0 ? BitConverter.UInt32BitsToSingle((uint)FirstKey << 15)
                    : b == BucketCount - 1 ? float.PositiveInfinity
                    : BitConverter.UInt32BitsToSingle((uint)(FirstKey + b) << 15);
                int below = 0, inside = 0;
                float bound = float.PositiveInfinity;
                foreach (float x in positive)
                {
                    if (x < lo)
                    {
                        below++;
                    }
                    else if (x < hi)
                    {
                        inside++;
                        bound = x;
                    }
                }

                if (inside > 1)
                {
                    throw new InvalidOperationException($"Bucket {b} [{lo:R}, {hi:R}) holds {inside} bounds; the q8 bucket lookup needs at most one.");
                }

                BucketStart[b] = below;
                BucketBound[b] = bound;
            }
        }

        private int[] _buckets = [];
    }
}

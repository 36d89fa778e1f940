using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace FusedOpt.Models.Linalg;

/// <summary>
/// A 16 × 16 float transpose in AVX-512 registers (64 shuffles for 256 elements), used to pack op(B) = Bᵀ: the
/// Linear forward pass Y = X·Wᵀ reads W row by row but the kernel wants it column by column. The scalar loop it
/// replaces scatters every element to a different cache line.
/// </summary>
internal static unsafe class Transpose16
{
    /// <summary>True when the block transpose can run (AVX-512F).</summary>
    public static bool IsSupported => Avx512F.IsSupported;

    /// <summary>
    /// dst[c·dstStride + r] = src[r·srcStride + c] for r, c &lt; 16: 16 rows of 16 floats in, 16 rows out.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Block(float* src, nint srcStride, float* dst, nint dstStride)
    {
        // Write a_rc for row r, column c. After each stage the comment shows the first 128-bit lane.
        // Stage 1, 32-bit interleave of row pairs: t0 = [a00 a10 a01 a11], t1 = [a02 a12 a03 a13].
        var t0 = Avx512F.UnpackLow(Row(src, srcStride, 0), Row(src, srcStride, 1));
        var t1 = Avx512F.UnpackHigh(Row(src, srcStride, 0), Row(src, srcStride, 1));
        var t2 = Avx512F.UnpackLow(Row(src, srcStride, 2), Row(src, srcStride, 3));
        var t3 = Avx512F.UnpackHigh(Row(src, srcStride, 2), Row(src, srcStride, 3));
        var t4 = Avx512F.UnpackLow(Row(src, srcStride, 4), Row(src, srcStride, 5));
        var t5 = Avx512F.UnpackHigh(Row(src, srcStride, 4), Row(src, srcStride, 5));
        var t6 = Avx512F.UnpackLow(Row(src, srcStride, 6), Row(src, srcStride, 7));
        var t7 = Avx512F.UnpackHigh(Row(src, srcStride, 6), Row(src, srcStride, 7));
        var t8 = Avx512F.UnpackLow(Row(src, srcStride, 8), Row(src, srcStride, 9));
        var t9 = Avx512F.UnpackHigh(Row(src, srcStride, 8), Row(src, srcStride, 9));
        var t10 = Avx512F.UnpackLow(Row(src, srcStride, 10), Row(src, srcStride, 11));
        var t11 = Avx512F.UnpackHigh(Row(src, srcStride, 10), Row(src, srcStride, 11));
        var t12 = Avx512F.UnpackLow(Row(src, srcStride, 12), Row(src, srcStride, 13));
        var t13 = Avx512F.UnpackHigh(Row(src, srcStride, 12), Row(src, srcStride, 13));
        var t14 = Avx512F.UnpackLow(Row(src, srcStride, 14), Row(src, srcStride, 15));
        var t15 = Avx512F.UnpackHigh(Row(src, srcStride, 14), Row(src, srcStride, 15));

        // Stage 2, 64-bit interleave: u0 = [a00 a10 a20 a30], u1 = column 1, u2 = column 2, u3 = column 3 of rows 0–3;
        // lanes 1, 2, 3 hold columns 4–7, 8–11, 12–15 the same way.
        var u0 = Pd(t0, t2, low: true);
        var u1 = Pd(t0, t2, low: false);
        var u2 = Pd(t1, t3, low: true);
        var u3 = Pd(t1, t3, low: false);
        var u4 = Pd(t4, t6, low: true);
        var u5 = Pd(t4, t6, low: false);
        var u6 = Pd(t5, t7, low: true);
        var u7 = Pd(t5, t7, low: false);
        var u8 = Pd(t8, t10, low: true);
        var u9 = Pd(t8, t10, low: false);
        var u10 = Pd(t9, t11, low: true);
        var u11 = Pd(t9, t11, low: false);
        var u12 = Pd(t12, t14, low: true);
        var u13 = Pd(t12, t14, low: false);
        var u14 = Pd(t13, t15, low: true);
        var u15 = Pd(t13, t15, low: false);

        // Stages 3 and 4 gather the 128-bit lanes: column c of rows 0–3, 4–7, 8–11, 12–15 into one vector.
        Columns(u0, u4, u8, u12, dst, dstStride, 0);
        Columns(u1, u5, u9, u13, dst, dstStride, 1);
        Columns(u2, u6, u10, u14, dst, dstStride, 2);
        Columns(u3, u7, u11, u15, dst, dstStride, 3);
    }

    /// <summary>The same on spans, bounds-checked (for tests).</summary>
    public static void Block(System.ReadOnlySpan<float> src, int srcStride, System.Span<float> dst, int dstStride)
    {
        if (srcStride < 16 || dstStride < 16 || src.Length < (15 * srcStride) + 16 || dst.Length < (15 * dstStride) + 16)
        {
            throw new System.ArgumentException($"A 16 × 16 block needs strides ≥ 16 and room for 16 rows: src {src.Length} floats at stride {srcStride}, dst {dst.Length} at stride {dstStride}.");
        }

        fixed (float* s = src)
        fixed (float* d = dst)
        {
            Block(s, srcStride, d, dstStride);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Row(float* src, nint stride, int r) => Vector512.Load(src + (r * stride));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Pd(Vector512<float> a, Vector512<float> b, bool low) => low
        ? Avx512F.UnpackLow(a.AsDouble(), b.AsDouble()).AsSingle()
        : Avx512F.UnpackHigh(a.AsDouble(), b.AsDouble()).AsSingle();

    /// <summary>
    /// From four vectors whose lane l holds column c + 4l of rows 4q..4q+3 (q = 0..3), writes columns c, c + 4,
    /// c + 8 and c + 12 as whole rows of dst.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Columns(Vector512<float> r0, Vector512<float> r4, Vector512<float> r8, Vector512<float> r12, float* dst, nint stride, int c)
    {
        // 0x88 picks lanes (0, 2) of each source, 0xDD lanes (1, 3): v0 = [r0.l0, r0.l2, r4.l0, r4.l2], …
        var v0 = Avx512F.Shuffle4x128(r0, r4, 0x88);
        var v1 = Avx512F.Shuffle4x128(r0, r4, 0xDD);
        var w0 = Avx512F.Shuffle4x128(r8, r12, 0x88);
        var w1 = Avx512F.Shuffle4x128(r8, r12, 0xDD);
        Vector512.Store(Avx512F.Shuffle4x128(v0, w0, 0x88), dst + (c * stride));        // column c
        Vector512.Store(Avx512F.Shuffle4x128(v1, w1, 0x88), dst + ((c + 4) * stride));  // column c + 4
        Vector512.Store(Avx512F.Shuffle4x128(v0, w0, 0xDD), dst + ((c + 8) * stride));  // column c + 8
        Vector512.Store(Avx512F.Shuffle4x128(v1, w1, 0xDD), dst + ((c + 12) * stride)); // column c + 12
    }
}

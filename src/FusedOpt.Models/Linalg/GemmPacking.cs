using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace FusedOpt.Models.Linalg;

/// <summary>
/// Copies blocks of op(A) and op(B) into the contiguous, zero-padded panel layouts the micro-kernels stream
/// through (see <see cref="IMicroKernel"/>). Packing turns any transpose and leading dimension into unit-stride,
/// aligned reads in the kernel, and keeps a block resident in cache while it is reused.
/// </summary>
internal static unsafe class GemmPacking
{
    /// <summary>
    /// Packs op(A)[i0 .. i0+mc, p0 .. p0+kc] into ⌈mc/Mr⌉ panels of Mr rows: panel q holds
    /// <c>dst[q·Mr·kc + p·Mr + r] = op(A)[i0 + q·Mr + r, p0 + p]</c>, rows past mc set to zero.
    /// </summary>
    /// <param name="a">The stored A.</param>
    /// <param name="lda">Its leading dimension (elements between rows).</param>
    /// <param name="trans">Whether op(A) = Aᵀ.</param>
    /// <param name="i0">First row of op(A) to pack.</param>
    /// <param name="mc">Rows to pack.</param>
    /// <param name="p0">First column of op(A) (step of k) to pack.</param>
    /// <param name="kc">Columns (steps of k) to pack.</param>
    /// <param name="dst">Destination, ⌈mc/Mr⌉·Mr·kc floats, 64-byte aligned.</param>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void PackA<TKernel>(float* a, nint lda, Transpose trans, int i0, int mc, int p0, int kc, float* dst)
        where TKernel : struct, IMicroKernel
    {
        int mr = TKernel.Mr;
        for (int ir = 0; ir < mc; ir += mr)
        {
            int rows = System.Math.Min(mr, mc - ir);
            float* panel = dst + ((nint)ir * kc);
            if (trans == Transpose.N)
            {
                // op(A)[i, p] = a[i·lda + p]: read `rows` rows side by side, write each step's column contiguously.
                float* src = a + ((i0 + ir) * lda) + p0;
                for (int p = 0; p < kc; p++)
                {
                    float* d = panel + (p * mr);
                    int r = 0;
                    for (; r < rows; r++)
                    {
                        d[r] = src[(r * lda) + p];
                    }

                    for (; r < mr; r++)
                    {
                        d[r] = 0;
                    }
                }
            }
            else
            {
                // op(A)[i, p] = a[p·lda + i]: each step's Mr values are already contiguous in the stored Aᵀ.
                float* src = a + (p0 * lda) + i0 + ir;
                for (int p = 0; p < kc; p++)
                {
                    float* s = src + (p * lda);
                    float* d = panel + (p * mr);
                    int r = 0;
                    for (; r < rows; r++)
                    {
                        d[r] = s[r];
                    }

                    for (; r < mr; r++)
                    {
                        d[r] = 0;
                    }
                }
            }
        }
    }

    /// <summary>
    /// Packs op(B)[p0 .. p0+kc, j0 .. j0+nc] into ⌈nc/Nr⌉ panels of Nr columns: panel q holds
    /// <c>dst[q·Nr·kc + p·Nr + j] = op(B)[p0 + p, j0 + q·Nr + j]</c>, columns past nc set to zero.
    /// </summary>
    /// <param name="b">The stored B.</param>
    /// <param name="ldb">Its leading dimension (elements between rows).</param>
    /// <param name="trans">Whether op(B) = Bᵀ.</param>
    /// <param name="p0">First row of op(B) (step of k) to pack.</param>
    /// <param name="kc">Rows (steps of k) to pack.</param>
    /// <param name="j0">First column of op(B) to pack.</param>
    /// <param name="nc">Columns to pack.</param>
    /// <param name="dst">Destination, kc·⌈nc/Nr⌉·Nr floats, 64-byte aligned.</param>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void PackB<TKernel>(float* b, nint ldb, Transpose trans, int p0, int kc, int j0, int nc, float* dst)
        where TKernel : struct, IMicroKernel
    {
        int nr = TKernel.Nr;
        for (int jr = 0; jr < nc; jr += nr)
        {
            int cols = System.Math.Min(nr, nc - jr);
            float* panel = dst + ((nint)jr * kc);
            if (trans == Transpose.N)
            {
                // op(B)[p, j] = b[p·ldb + j]: each step's Nr values are contiguous in B; copy them as vectors.
                float* src = b + (p0 * ldb) + j0 + jr;
                for (int p = 0; p < kc; p++)
                {
                    CopyRow(src + (p * ldb), panel + (p * nr), cols, nr);
                }
            }
            else
            {
                // op(B)[p, j] = b[j·ldb + p]: each panel column is a stored row of Bᵀ. Full 16 × 16 blocks are
                // transposed in registers; the rest (partial panels, kc mod 16) is scattered element by element.
                float* src = b + ((j0 + jr) * ldb) + p0;
                int pBlocked = 0;
                if (typeof(TKernel) == typeof(MicroKernel512) && Transpose16.IsSupported && cols == nr)
                {
                    for (; pBlocked + 16 <= kc; pBlocked += 16)
                    {
                        for (int j16 = 0; j16 < nr; j16 += 16)
                        {
                            Transpose16.Block(src + (j16 * ldb) + pBlocked, ldb, panel + (pBlocked * nr) + j16, nr);
                        }
                    }
                }

                int j = 0;
                for (; j < cols; j++)
                {
                    float* s = src + (j * ldb);
                    float* d = panel + j;
                    for (int p = pBlocked; p < kc; p++)
                    {
                        d[p * nr] = s[p];
                    }
                }

                for (; j < nr; j++)
                {
                    float* d = panel + j;
                    for (int p = 0; p < kc; p++)
                    {
                        d[p * nr] = 0;
                    }
                }
            }
        }
    }

    /// <summary>Copies <paramref name="count"/> floats and zero-fills the rest of a <paramref name="width"/>-float panel row.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void CopyRow(float* src, float* dst, int count, int width)
    {
        int j = 0;
        if (count == width)
        {
            if (Vector512.IsHardwareAccelerated)
            {
                for (; j + 16 <= width; j += 16)
                {
                    Vector512.Store(Vector512.Load(src + j), dst + j);
                }
            }
            else if (Vector256.IsHardwareAccelerated)
            {
                for (; j + 8 <= width; j += 8)
                {
                    Vector256.Store(Vector256.Load(src + j), dst + j);
                }
            }
        }

        for (; j < count; j++)
        {
            dst[j] = src[j];
        }

        for (; j < width; j++)
        {
            dst[j] = 0;
        }
    }
}

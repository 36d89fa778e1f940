using System.Runtime.CompilerServices;

namespace FusedOpt.Models.Linalg;

/// <summary>
/// A register-tiled GEMM micro-kernel: one <c>Mr × Nr</c> tile of C from an <c>Mr</c>-row panel of packed A and an
/// <c>Nr</c>-column panel of packed B, over <c>kc</c> steps of k.
/// </summary>
/// <remarks>
/// <para>Packed layouts (see <see cref="GemmPacking"/>): step p of the A panel is the <c>Mr</c> floats
/// <c>a[p·Mr + r] = op(A)[i0 + r, p0 + p]</c>; step p of the B panel is the <c>Nr</c> floats
/// <c>b[p·Nr + j] = op(B)[p0 + p, j0 + j]</c>. Both are zero-padded, so a kernel always runs a full tile.</para>
/// <para>Every implementation computes each accumulator as the same chain of fused multiply-adds,
/// <c>acc ← fma(a[p·Mr + r], b[p·Nr + j], acc)</c> for p = 0, 1, …, kc − 1 starting from +0, and writes back
/// <c>c ← overwrite ? acc·α : fma(acc, α, c·β)</c>. So every width gives the same bits for the same element:
/// the vector kernels and the scalar one are interchangeable, and a tile's position never changes its result.</para>
/// <para>The JIT specializes the blocked driver for each implementing struct, so <c>Mr</c> and <c>Nr</c> are
/// constants in the loops that call it.</para>
/// </remarks>
internal unsafe interface IMicroKernel
{
    /// <summary>Rows of the register tile (the broadcast operand, A).</summary>
    static abstract int Mr { get; }

    /// <summary>Columns of the register tile (the vector operand, B).</summary>
    static abstract int Nr { get; }

    /// <summary>
    /// C[0..Mr, 0..Nr] ← α·(A panel · B panel) + β·C, or α·(A panel · B panel) when <paramref name="overwrite"/>
    /// (C is then not read, so NaN in uninitialised C does not leak in, as BLAS does for β = 0).
    /// </summary>
    static abstract void Run(int kc, float* a, float* b, float* c, nint ldc, float alpha, float beta, bool overwrite);
}

/// <summary>The scalar twin of the vector write-back, used for partial edge tiles; the same rounding as the vectors.</summary>
internal static unsafe class TileWriteBack
{
    /// <summary>
    /// Writes the top-left <paramref name="rows"/> × <paramref name="cols"/> of a raw accumulator tile
    /// (row stride <paramref name="tileStride"/>) into C: <c>c ← overwrite ? acc·α : fma(acc, α, c·β)</c>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Partial(float* tile, int tileStride, int rows, int cols, float* c, nint ldc, float alpha, float beta, bool overwrite)
    {
        for (int r = 0; r < rows; r++)
        {
            float* acc = tile + (r * tileStride);
            float* cr = c + (r * ldc);
            if (overwrite)
            {
                for (int j = 0; j < cols; j++)
                {
                    cr[j] = acc[j] * alpha;
                }
            }
            else
            {
                for (int j = 0; j < cols; j++)
                {
                    cr[j] = System.MathF.FusedMultiplyAdd(acc[j], alpha, cr[j] * beta);
                }
            }
        }
    }
}

// The three instantiations of the one micro-kernel body, by the names the driver and the blocking use.
global using MicroKernel256 = FusedOpt.Models.Linalg.MicroKernel<FusedOpt.Kernels.Simd256, System.Runtime.Intrinsics.Vector256<float>>;
global using MicroKernel512 = FusedOpt.Models.Linalg.MicroKernel<FusedOpt.Kernels.Simd512, System.Runtime.Intrinsics.Vector512<float>>;
global using MicroKernelScalar = FusedOpt.Models.Linalg.MicroKernel<FusedOpt.Kernels.SimdScalar, float>;

using System.Runtime.CompilerServices;
using FusedOpt.Kernels;

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

/// <summary>
/// The micro-kernel, written once for every width: a 6 × 2·<c>Lanes</c> tile of C in 12 accumulator registers (two
/// per row), so 6 × 32 on AVX-512 (<see cref="MicroKernel512"/>), 6 × 16 on AVX2 (<see cref="MicroKernel256"/>) and
/// 6 × 2 in scalar code (<see cref="MicroKernelScalar"/>).
/// </summary>
/// <typeparam name="TSimd">The width: <see cref="Simd512"/>, <see cref="Simd256"/> or <see cref="SimdScalar"/>.</typeparam>
/// <typeparam name="TVector">Its register type.</typeparam>
/// <remarks>
/// <para>Why 6 rows of two registers. AVX-512 has 32 zmm registers. A tile of Mr rows × 2 vectors needs 2·Mr
/// accumulators, 2 registers for the B row and 1 for the broadcast A value, so Mr ≤ 14 fits. Each k step issues 2·Mr
/// FMAs against 2 vector loads and Mr broadcasts. To hide the FMA latency (4 cycles) at the FMA throughput (1 zmm per
/// cycle on Zen 4, 2 on Zen 5) at least 4–8 independent accumulators must be in flight; 12 covers both, and 8 loads
/// per 12 FMAs stay well inside two loads per cycle. Larger tiles fit too (the JIT keeps 24 or 28 accumulators in
/// registers, checked in the disassembly) but were not faster on the Zen 4 development machine: single-threaded 1024³
/// reached 88–89 % of the measured FMA peak with 6 × 32 and 8 × 32, 86–88 % with 12 × 32 and 84–85 % with 14 × 32. A
/// short tile also wastes little on the small m of training: a batch of 100 rows is 17 tiles of 6 (102 rows computed)
/// but 8 tiles of 14 (112 rows).</para>
/// <para>AVX2 has 16 ymm registers: the same 12 accumulators, 2 for the B row and 1 for the broadcast leave one spare
/// (the classic Haswell tile). Scalar code has 16 xmm registers without AVX-512 and the same count fits.</para>
/// <para>The B panel row is two aligned register loads; A values are broadcast from the packed A panel. The JIT
/// compiles this struct separately for each <typeparamref name="TSimd"/> and inlines its operations, so each
/// instantiation is the kernel that would be written by hand for that width (checked in the disassembly: twelve
/// <c>vfmadd231ps</c> with register operands per k step, no spills).</para>
/// </remarks>
internal readonly unsafe struct MicroKernel<TSimd, TVector> : IMicroKernel
    where TSimd : struct, ISimd<TVector>
    where TVector : struct
{
    /// <inheritdoc />
    public static int Mr => 6;

    /// <inheritdoc />
    public static int Nr => 2 * TSimd.Lanes;

    /// <inheritdoc />
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Run(int kc, float* a, float* b, float* c, nint ldc, float alpha, float beta, bool overwrite)
    {
        int lanes = TSimd.Lanes;
        TVector c00 = TSimd.Zero, c01 = TSimd.Zero, c10 = TSimd.Zero, c11 = TSimd.Zero, c20 = TSimd.Zero, c21 = TSimd.Zero;
        TVector c30 = TSimd.Zero, c31 = TSimd.Zero, c40 = TSimd.Zero, c41 = TSimd.Zero, c50 = TSimd.Zero, c51 = TSimd.Zero;

        for (int p = 0; p < kc; p++)
        {
            var b0 = TSimd.LoadAligned(b);
            var b1 = TSimd.LoadAligned(b + lanes);

            var ai = TSimd.Splat(a[0]);
            c00 = TSimd.FusedMultiplyAdd(ai, b0, c00);
            c01 = TSimd.FusedMultiplyAdd(ai, b1, c01);
            ai = TSimd.Splat(a[1]);
            c10 = TSimd.FusedMultiplyAdd(ai, b0, c10);
            c11 = TSimd.FusedMultiplyAdd(ai, b1, c11);
            ai = TSimd.Splat(a[2]);
            c20 = TSimd.FusedMultiplyAdd(ai, b0, c20);
            c21 = TSimd.FusedMultiplyAdd(ai, b1, c21);
            ai = TSimd.Splat(a[3]);
            c30 = TSimd.FusedMultiplyAdd(ai, b0, c30);
            c31 = TSimd.FusedMultiplyAdd(ai, b1, c31);
            ai = TSimd.Splat(a[4]);
            c40 = TSimd.FusedMultiplyAdd(ai, b0, c40);
            c41 = TSimd.FusedMultiplyAdd(ai, b1, c41);
            ai = TSimd.Splat(a[5]);
            c50 = TSimd.FusedMultiplyAdd(ai, b0, c50);
            c51 = TSimd.FusedMultiplyAdd(ai, b1, c51);

            a += 6;
            b += 2 * lanes;
        }

        var va = TSimd.Splat(alpha);
        var vb = TSimd.Splat(beta);
        Row(c, c00, c01, va, vb, overwrite);
        Row(c + ldc, c10, c11, va, vb, overwrite);
        Row(c + (2 * ldc), c20, c21, va, vb, overwrite);
        Row(c + (3 * ldc), c30, c31, va, vb, overwrite);
        Row(c + (4 * ldc), c40, c41, va, vb, overwrite);
        Row(c + (5 * ldc), c50, c51, va, vb, overwrite);
    }

    /// <summary>One row of the write-back: <c>c ← overwrite ? acc·α : fma(acc, α, c·β)</c>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Row(float* c, TVector acc0, TVector acc1, TVector alpha, TVector beta, bool overwrite)
    {
        if (overwrite)
        {
            TSimd.Store(TSimd.Multiply(acc0, alpha), c);
            TSimd.Store(TSimd.Multiply(acc1, alpha), c + TSimd.Lanes);
        }
        else
        {
            TSimd.Store(TSimd.FusedMultiplyAdd(acc0, alpha, TSimd.Multiply(TSimd.Load(c), beta)), c);
            TSimd.Store(TSimd.FusedMultiplyAdd(acc1, alpha, TSimd.Multiply(TSimd.Load(c + TSimd.Lanes), beta)), c + TSimd.Lanes);
        }
    }
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

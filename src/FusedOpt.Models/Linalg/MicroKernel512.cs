using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace FusedOpt.Models.Linalg;

/// <summary>
/// The AVX-512 micro-kernel: a 6 × 32 tile of C in 12 zmm accumulators (two Vector512&lt;float&gt; per row).
/// </summary>
/// <remarks>
/// <para>Why 6 × 32. AVX-512 has 32 zmm registers. A tile of Mr rows × 2 vectors needs 2·Mr accumulators, 2
/// registers for the B row and 1 for the broadcast A value, so Mr ≤ 14 fits. Each k step issues 2·Mr FMAs against 2
/// vector loads and Mr broadcasts. To hide the FMA latency (4 cycles) at the FMA throughput (1 zmm per cycle on Zen 4,
/// 2 on Zen 5) at least 4–8 independent accumulators must be in flight; 12 covers both, and 8 loads per 12 FMAs stay
/// well inside two loads per cycle. Larger tiles fit too (the JIT keeps 24 or 28 accumulators in registers, checked
/// in the disassembly) but were not faster on the Zen 4 development machine: single-threaded 1024³ reached 88–89 % of
/// the measured FMA peak with 6 × 32 and 8 × 32, 86–88 % with 12 × 32 and 84–85 % with 14 × 32. A short tile also
/// wastes little on the small m of training: a batch of 100 rows is 17 tiles of 6 (102 rows computed) but 8 tiles of
/// 14 (112 rows).</para>
/// <para>The B panel row is two aligned 64-byte loads; A values are broadcast from the packed A panel.</para>
/// </remarks>
internal readonly unsafe struct MicroKernel512 : IMicroKernel
{
    /// <inheritdoc />
    public static int Mr => 6;

    /// <inheritdoc />
    public static int Nr => 32;

    /// <inheritdoc />
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Run(int kc, float* a, float* b, float* c, nint ldc, float alpha, float beta, bool overwrite)
    {
        Vector512<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        Vector512<float> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;

        for (int p = 0; p < kc; p++)
        {
            var b0 = Vector512.LoadAligned(b);
            var b1 = Vector512.LoadAligned(b + 16);

            var ai = Vector512.Create(a[0]);
            c00 = Vector512.FusedMultiplyAdd(ai, b0, c00);
            c01 = Vector512.FusedMultiplyAdd(ai, b1, c01);
            ai = Vector512.Create(a[1]);
            c10 = Vector512.FusedMultiplyAdd(ai, b0, c10);
            c11 = Vector512.FusedMultiplyAdd(ai, b1, c11);
            ai = Vector512.Create(a[2]);
            c20 = Vector512.FusedMultiplyAdd(ai, b0, c20);
            c21 = Vector512.FusedMultiplyAdd(ai, b1, c21);
            ai = Vector512.Create(a[3]);
            c30 = Vector512.FusedMultiplyAdd(ai, b0, c30);
            c31 = Vector512.FusedMultiplyAdd(ai, b1, c31);
            ai = Vector512.Create(a[4]);
            c40 = Vector512.FusedMultiplyAdd(ai, b0, c40);
            c41 = Vector512.FusedMultiplyAdd(ai, b1, c41);
            ai = Vector512.Create(a[5]);
            c50 = Vector512.FusedMultiplyAdd(ai, b0, c50);
            c51 = Vector512.FusedMultiplyAdd(ai, b1, c51);

            a += 6;
            b += 32;
        }

        var va = Vector512.Create(alpha);
        var vb = Vector512.Create(beta);
        Row(c, c00, c01, va, vb, overwrite);
        Row(c + ldc, c10, c11, va, vb, overwrite);
        Row(c + (2 * ldc), c20, c21, va, vb, overwrite);
        Row(c + (3 * ldc), c30, c31, va, vb, overwrite);
        Row(c + (4 * ldc), c40, c41, va, vb, overwrite);
        Row(c + (5 * ldc), c50, c51, va, vb, overwrite);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Row(float* c, Vector512<float> acc0, Vector512<float> acc1, Vector512<float> alpha, Vector512<float> beta, bool overwrite)
    {
        if (overwrite)
        {
            Vector512.Store(acc0 * alpha, c);
            Vector512.Store(acc1 * alpha, c + 16);
        }
        else
        {
            Vector512.Store(Vector512.FusedMultiplyAdd(acc0, alpha, Vector512.Load(c) * beta), c);
            Vector512.Store(Vector512.FusedMultiplyAdd(acc1, alpha, Vector512.Load(c + 16) * beta), c + 16);
        }
    }
}

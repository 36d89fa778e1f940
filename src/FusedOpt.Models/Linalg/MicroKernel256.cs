using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace FusedOpt.Models.Linalg;

/// <summary>
/// The AVX2 micro-kernel: a 6 × 16 tile of C in 12 ymm accumulators (two Vector256&lt;float&gt; per row).
/// </summary>
/// <remarks>
/// AVX2 has 16 ymm registers: 12 accumulators, 2 for the B row and 1 for the broadcast leave one spare. This is
/// the classic Haswell tile; it is the 6 × 32 AVX-512 kernel at half the width, line for line.
/// </remarks>
internal readonly unsafe struct MicroKernel256 : IMicroKernel
{
    /// <inheritdoc />
    public static int Mr => 6;

    /// <inheritdoc />
    public static int Nr => 16;

    /// <inheritdoc />
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Run(int kc, float* a, float* b, float* c, nint ldc, float alpha, float beta, bool overwrite)
    {
        Vector256<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        Vector256<float> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;

        for (int p = 0; p < kc; p++)
        {
            var b0 = Vector256.LoadAligned(b);
            var b1 = Vector256.LoadAligned(b + 8);

            var ai = Vector256.Create(a[0]);
            c00 = Vector256.FusedMultiplyAdd(ai, b0, c00);
            c01 = Vector256.FusedMultiplyAdd(ai, b1, c01);
            ai = Vector256.Create(a[1]);
            c10 = Vector256.FusedMultiplyAdd(ai, b0, c10);
            c11 = Vector256.FusedMultiplyAdd(ai, b1, c11);
            ai = Vector256.Create(a[2]);
            c20 = Vector256.FusedMultiplyAdd(ai, b0, c20);
            c21 = Vector256.FusedMultiplyAdd(ai, b1, c21);
            ai = Vector256.Create(a[3]);
            c30 = Vector256.FusedMultiplyAdd(ai, b0, c30);
            c31 = Vector256.FusedMultiplyAdd(ai, b1, c31);
            ai = Vector256.Create(a[4]);
            c40 = Vector256.FusedMultiplyAdd(ai, b0, c40);
            c41 = Vector256.FusedMultiplyAdd(ai, b1, c41);
            ai = Vector256.Create(a[5]);
            c50 = Vector256.FusedMultiplyAdd(ai, b0, c50);
            c51 = Vector256.FusedMultiplyAdd(ai, b1, c51);

            a += 6;
            b += 16;
        }

        var va = Vector256.Create(alpha);
        var vb = Vector256.Create(beta);
        Row(c, c00, c01, va, vb, overwrite);
        Row(c + ldc, c10, c11, va, vb, overwrite);
        Row(c + (2 * ldc), c20, c21, va, vb, overwrite);
        Row(c + (3 * ldc), c30, c31, va, vb, overwrite);
        Row(c + (4 * ldc), c40, c41, va, vb, overwrite);
        Row(c + (5 * ldc), c50, c51, va, vb, overwrite);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Row(float* c, Vector256<float> acc0, Vector256<float> acc1, Vector256<float> alpha, Vector256<float> beta, bool overwrite)
    {
        if (overwrite)
        {
            Vector256.Store(acc0 * alpha, c);
            Vector256.Store(acc1 * alpha, c + 8);
        }
        else
        {
            Vector256.Store(Vector256.FusedMultiplyAdd(acc0, alpha, Vector256.Load(c) * beta), c);
            Vector256.Store(Vector256.FusedMultiplyAdd(acc1, alpha, Vector256.Load(c + 8) * beta), c + 8);
        }
    }
}

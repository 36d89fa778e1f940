using System;
using System.Runtime.CompilerServices;

namespace FusedOpt.Models.Linalg;

/// <summary>
/// The scalar micro-kernel: a 4 × 4 tile of C in 16 float locals, one <see cref="MathF.FusedMultiplyAdd"/> per
/// element and step, so that it rounds exactly as the vector kernels do. It serves machines with neither AVX2 nor
/// AVX-512 and <c>FUSEDOPT_ISA=scalar</c>.
/// </summary>
internal readonly unsafe struct MicroKernelScalar : IMicroKernel
{
    /// <inheritdoc />
    public static int Mr => 4;

    /// <inheritdoc />
    public static int Nr => 4;

    /// <inheritdoc />
    public static void Run(int kc, float* a, float* b, float* c, nint ldc, float alpha, float beta, bool overwrite)
    {
        float c00 = 0, c01 = 0, c02 = 0, c03 = 0, c10 = 0, c11 = 0, c12 = 0, c13 = 0;
        float c20 = 0, c21 = 0, c22 = 0, c23 = 0, c30 = 0, c31 = 0, c32 = 0, c33 = 0;

        for (int p = 0; p < kc; p++)
        {
            float b0 = b[0], b1 = b[1], b2 = b[2], b3 = b[3];

            float ai = a[0];
            c00 = MathF.FusedMultiplyAdd(ai, b0, c00);
            c01 = MathF.FusedMultiplyAdd(ai, b1, c01);
            c02 = MathF.FusedMultiplyAdd(ai, b2, c02);
            c03 = MathF.FusedMultiplyAdd(ai, b3, c03);
            ai = a[1];
            c10 = MathF.FusedMultiplyAdd(ai, b0, c10);
            c11 = MathF.FusedMultiplyAdd(ai, b1, c11);
            c12 = MathF.FusedMultiplyAdd(ai, b2, c12);
            c13 = MathF.FusedMultiplyAdd(ai, b3, c13);
            ai = a[2];
            c20 = MathF.FusedMultiplyAdd(ai, b0, c20);
            c21 = MathF.FusedMultiplyAdd(ai, b1, c21);
            c22 = MathF.FusedMultiplyAdd(ai, b2, c22);
            c23 = MathF.FusedMultiplyAdd(ai, b3, c23);
            ai = a[3];
            c30 = MathF.FusedMultiplyAdd(ai, b0, c30);
            c31 = MathF.FusedMultiplyAdd(ai, b1, c31);
            c32 = MathF.FusedMultiplyAdd(ai, b2, c32);
            c33 = MathF.FusedMultiplyAdd(ai, b3, c33);

            a += 4;
            b += 4;
        }

        Row(c, c00, c01, c02, c03, alpha, beta, overwrite);
        Row(c + ldc, c10, c11, c12, c13, alpha, beta, overwrite);
        Row(c + (2 * ldc), c20, c21, c22, c23, alpha, beta, overwrite);
        Row(c + (3 * ldc), c30, c31, c32, c33, alpha, beta, overwrite);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Row(float* c, float acc0, float acc1, float acc2, float acc3, float alpha, float beta, bool overwrite)
    {
        if (overwrite)
        {
            c[0] = acc0 * alpha;
            c[1] = acc1 * alpha;
            c[2] = acc2 * alpha;
            c[3] = acc3 * alpha;
        }
        else
        {
            c[0] = MathF.FusedMultiplyAdd(acc0, alpha, c[0] * beta);
            c[1] = MathF.FusedMultiplyAdd(acc1, alpha, c[1] * beta);
            c[2] = MathF.FusedMultiplyAdd(acc2, alpha, c[2] * beta);
            c[3] = MathF.FusedMultiplyAdd(acc3, alpha, c[3] * beta);
        }
    }
}

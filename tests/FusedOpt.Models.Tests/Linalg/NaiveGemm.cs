using System;
using FusedOpt.Models.Linalg;

namespace FusedOpt.Tests.Linalg;

/// <summary>
/// The test's own oracle, independent of the library: a triple loop in float64 that also returns, per element, the
/// bound |α|·Σ|a||b| + |β·c| that float32 rounding error scales with.
/// </summary>
internal static class NaiveGemm
{
    public static (double[] Value, double[] Scale) Multiply(
        Transpose ta, Transpose tb, int m, int n, int k, float alpha, float[] a, int lda, float[] b, int ldb, float beta, float[] c, int ldc)
    {
        var value = new double[m * n];
        var scale = new double[m * n];
        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < n; j++)
            {
                double sum = 0, abs = 0;
                for (int p = 0; p < k; p++)
                {
                    double x = ta == Transpose.N ? a[(i * lda) + p] : a[(p * lda) + i];
                    double y = tb == Transpose.N ? b[(p * ldb) + j] : b[(j * ldb) + p];
                    sum += x * y;
                    abs += Math.Abs(x * y);
                }

                double old = beta == 0 ? 0 : (double)beta * c[(i * ldc) + j];
                value[(i * n) + j] = (alpha * sum) + old;
                scale[(i * n) + j] = (Math.Abs(alpha) * abs) + Math.Abs(old);
            }
        }

        return (value, scale);
    }
}

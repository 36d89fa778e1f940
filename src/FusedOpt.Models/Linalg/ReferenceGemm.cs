using System;
using System.Numerics;

namespace FusedOpt.Models.Linalg;

/// <summary>
/// The plain triple loop every fast path answers to: C ← α·op(A)·op(B) + β·C with each dot product accumulated in
/// float64, then rounded to <typeparamref name="T"/> once. Same arguments and checks as <see cref="Gemm.Multiply"/>.
/// It also serves float64 models (gradient checks), where speed does not matter.
/// </summary>
/// <typeparam name="T"><see cref="float"/> or <see cref="double"/>.</typeparam>
public static class ReferenceGemm<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>C ← α·op(A)·op(B) + β·C, row-major; β = 0 overwrites C without reading it.</summary>
    /// <param name="transA">Whether op(A) = A (stored m×k) or Aᵀ (stored k×m).</param>
    /// <param name="transB">Whether op(B) = B (stored k×n) or Bᵀ (stored n×k).</param>
    /// <param name="m">Rows of op(A) and C.</param>
    /// <param name="n">Columns of op(B) and C.</param>
    /// <param name="k">Columns of op(A), rows of op(B).</param>
    /// <param name="alpha">Scale of the product.</param>
    /// <param name="a">The stored A.</param>
    /// <param name="lda">Elements between consecutive stored rows of A.</param>
    /// <param name="b">The stored B.</param>
    /// <param name="ldb">Elements between consecutive stored rows of B.</param>
    /// <param name="beta">Scale of the old C.</param>
    /// <param name="c">C, updated in place.</param>
    /// <param name="ldc">Elements between consecutive rows of C.</param>
    public static void Multiply(
        Transpose transA, Transpose transB, int m, int n, int k,
        T alpha, ReadOnlySpan<T> a, int lda, ReadOnlySpan<T> b, int ldb,
        T beta, Span<T> c, int ldc)
    {
        GemmArguments.Validate(transA, transB, m, n, k, a, lda, b, ldb, c, ldc);
        double al = double.CreateTruncating(alpha);
        double be = double.CreateTruncating(beta);
        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < n; j++)
            {
                double sum = 0;
                if (al != 0)
                {
                    for (int p = 0; p < k; p++)
                    {
                        T aip = transA == Transpose.N ? a[(i * lda) + p] : a[(p * lda) + i];
                        T bpj = transB == Transpose.N ? b[(p * ldb) + j] : b[(j * ldb) + p];
                        sum += double.CreateTruncating(aip) * double.CreateTruncating(bpj);
                    }
                }

                ref T cij = ref c[(i * ldc) + j];
                double old = be == 0 ? 0 : be * double.CreateTruncating(cij);
                cij = T.CreateTruncating((al * sum) + old);
            }
        }
    }
}

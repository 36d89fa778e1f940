using System;

namespace FusedOpt.Models.Linalg;

/// <summary>Shape, stride and length checks shared by <see cref="Gemm"/> and <see cref="ReferenceGemm{T}"/>.</summary>
internal static class GemmArguments
{
    /// <summary>Throws an exception naming the bad value and what was expected.</summary>
    public static void Validate<T>(
        Transpose transA, Transpose transB, int m, int n, int k,
        ReadOnlySpan<T> a, int lda, ReadOnlySpan<T> b, int ldb, Span<T> c, int ldc)
    {
        if (m < 0 || n < 0 || k < 0)
        {
            throw new ArgumentOutOfRangeException(m < 0 ? nameof(m) : n < 0 ? nameof(n) : nameof(k), $"gemm: sizes must be ≥ 0, got m = {m}, n = {n}, k = {k}.");
        }

        CheckEnum(transA, nameof(transA));
        CheckEnum(transB, nameof(transB));

        // Stored shapes: op(A) = A is m×k, op(A) = Aᵀ is stored k×m; op(B) = B is k×n, op(B) = Bᵀ is stored n×k.
        (int aRows, int aCols) = transA == Transpose.N ? (m, k) : (k, m);
        (int bRows, int bCols) = transB == Transpose.N ? (k, n) : (n, k);
        CheckOperand("A", transA, aRows, aCols, a.Length, lda, nameof(lda), nameof(a));
        CheckOperand("B", transB, bRows, bCols, b.Length, ldb, nameof(ldb), nameof(b));
        CheckOperand("C", Transpose.N, m, n, c.Length, ldc, nameof(ldc), nameof(c));

        if (m > 0 && n > 0)
        {
            if (c.Overlaps(a) && a.Length > 0)
            {
                throw new ArgumentException("gemm: C overlaps A; the output must not alias an input.", nameof(c));
            }

            if (c.Overlaps(b) && b.Length > 0)
            {
                throw new ArgumentException("gemm: C overlaps B; the output must not alias an input.", nameof(c));
            }
        }
    }

    private static void CheckEnum(Transpose t, string name)
    {
        if (t is not (Transpose.N or Transpose.T))
        {
            throw new ArgumentOutOfRangeException(name, t, $"gemm: {name} must be Transpose.N or Transpose.T, got {(int)t}.");
        }
    }

    private static void CheckOperand(string what, Transpose op, int rows, int cols, int length, int ld, string ldName, string spanName)
    {
        if (ld < Math.Max(1, cols))
        {
            throw new ArgumentOutOfRangeException(ldName, ld, $"gemm: {ldName} = {ld} is less than max(1, {cols}): {Stored(what, op, rows, cols)}.");
        }

        long needed = rows == 0 || cols == 0 ? 0 : ((long)(rows - 1) * ld) + cols;
        if (length < needed)
        {
            throw new ArgumentException($"gemm: {what} holds {length} elements but {Stored(what, op, rows, cols)} with {ldName} = {ld} needs {needed}.", spanName);
        }
    }

    private static string Stored(string what, Transpose op, int rows, int cols) =>
        op == Transpose.N ? $"{what} is stored {rows}×{cols}" : $"op({what}) = {what}ᵀ, so {what} is stored {rows}×{cols}";
}

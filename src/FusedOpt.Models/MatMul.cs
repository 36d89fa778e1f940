using System;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using FusedOpt.Kernels;
using FusedOpt.Models.Linalg;

namespace FusedOpt.Models;

/// <summary>
/// The matrix product a model's layers call: the packed, threaded <see cref="Gemm"/> for float32 models and the
/// float64 <see cref="ReferenceGemm{T}"/> for float64 models (gradient checks). The branch on
/// <typeparamref name="T"/> is resolved when the JIT specializes the generic, so float models pay nothing for it.
/// </summary>
/// <typeparam name="T"><see cref="float"/> or <see cref="double"/>.</typeparam>
public sealed class MatMul<T> : IDisposable
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly Gemm? _gemm;

    /// <summary>Creates the product for <paramref name="threads"/> threads (float32 only; float64 runs on the caller).</summary>
    /// <param name="threads">Threads per float32 product.</param>
    /// <param name="isa">Instruction set to force; null picks <c>FUSEDOPT_ISA</c> or the widest supported.</param>
    public MatMul(int threads = 1, Isa? isa = null)
    {
        Precision.Require<T>();
        if (typeof(T) == typeof(float))
        {
            _gemm = new Gemm(threads, isa);
        }
        else if (threads < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(threads), threads, $"The thread count must be ≥ 1, got {threads}.");
        }
    }

    /// <summary>The instruction set of the float32 kernels, or <see cref="Isa.Scalar"/> for float64.</summary>
    public Isa Isa => _gemm?.Isa ?? Isa.Scalar;

    /// <summary>Threads per product (1 for float64).</summary>
    public int Threads => _gemm?.Threads ?? 1;

    /// <summary>C ← α·op(A)·op(B) + β·C, row-major; see <see cref="Gemm.Multiply"/>.</summary>
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
    /// <param name="beta">Scale of the old C; 0 overwrites C.</param>
    /// <param name="c">C, updated in place.</param>
    /// <param name="ldc">Elements between consecutive rows of C.</param>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Multiply(
        Transpose transA, Transpose transB, int m, int n, int k,
        T alpha, ReadOnlySpan<T> a, int lda, ReadOnlySpan<T> b, int ldb,
        T beta, Span<T> c, int ldc)
    {
        if (typeof(T) == typeof(float))
        {
            _gemm!.Multiply(
                transA, transB, m, n, k,
                Unsafe.As<T, float>(ref alpha), MemoryMarshal.Cast<T, float>(a), lda, MemoryMarshal.Cast<T, float>(b), ldb,
                Unsafe.As<T, float>(ref beta), MemoryMarshal.Cast<T, float>(c), ldc);
        }
        else
        {
            ReferenceGemm<T>.Multiply(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        }
    }

    /// <inheritdoc />
    public void Dispose() => _gemm?.Dispose();
}

/// <summary>The element types models run in.</summary>
public static class Precision
{
    /// <summary>Throws unless <typeparamref name="T"/> is <see cref="float"/> or <see cref="double"/>.</summary>
    public static void Require<T>()
    {
        if (typeof(T) != typeof(float) && typeof(T) != typeof(double))
        {
            throw new NotSupportedException($"Models run in float (training) or double (gradient checks), not {typeof(T).Name}.");
        }
    }
}

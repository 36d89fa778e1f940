using System;
using System.Collections.Generic;
using System.Linq;
using FusedOpt.Kernels;
using FusedOpt.Models;
using FusedOpt.Models.Linalg;
using FusedOpt.Threading;
using Xunit;

namespace FusedOpt.Tests.Linalg;

/// <summary>
/// The packed GEMM against a float64 triple loop on odd shapes, all four transpose variants, α/β, padded leading
/// dimensions, 1 and 2 threads and every instruction set this machine runs. Tolerance per element:
/// |ours − exact| ≤ 2·(k + 2)·2⁻²⁴·(|α|·Σ|a·b| + |β·c|), the standard bound for a length-k float32 dot product with
/// FMA (γₖ ≈ k·u) plus the write-back's two roundings, doubled for slack.
/// </summary>
public sealed class GemmTests
{
    public static readonly (int M, int N, int K)[] OddShapes =
    [
        (1, 1, 1), (7, 13, 5), (33, 65, 17), (100, 1, 300), (1, 100, 300), (6, 32, 256), (13, 70, 513), (97, 33, 1), (40, 29, 260),
        (2, 3, 50_000), // one tile but over the parallel threshold: the split must still give it to a thread that runs
    ];

    public static IEnumerable<TheoryDataRow<int, int, int, Transpose, Transpose, int>> ShapesByVariant()
    {
        foreach (var (m, n, k) in OddShapes)
        {
            foreach (var ta in new[] { Transpose.N, Transpose.T })
            {
                foreach (var tb in new[] { Transpose.N, Transpose.T })
                {
                    foreach (int threads in new[] { 1, 2 })
                    {
                        yield return new(m, n, k, ta, tb, threads);
                    }
                }
            }
        }
    }

    [Theory]
    [MemberData(nameof(ShapesByVariant))]
    public void Multiply_MatchesNaiveFloat64_OnOddShapes(int m, int n, int k, Transpose ta, Transpose tb, int threads)
    {
        using var gemm = new Gemm(threads);
        Check(gemm, m, n, k, ta, tb, alpha: 1f, beta: 0f, pad: 0, seed: 1);
        Check(gemm, m, n, k, ta, tb, alpha: -0.75f, beta: 1.5f, pad: 0, seed: 2);
    }

    [Theory]
    [InlineData(Transpose.N, Transpose.N)]
    [InlineData(Transpose.N, Transpose.T)]
    [InlineData(Transpose.T, Transpose.N)]
    [InlineData(Transpose.T, Transpose.T)]
    public void Multiply_WithLeadingDimensionsWiderThanRows_ReadsAndWritesOnlyTheMatrix(Transpose ta, Transpose tb)
    {
        using var gemm = new Gemm(2);
        Check(gemm, 37, 45, 19, ta, tb, alpha: 2f, beta: -1f, pad: 5, seed: 3);
        Check(gemm, 9, 70, 300, ta, tb, alpha: 0.5f, beta: 0f, pad: 17, seed: 4);
    }

    [Theory]
    [InlineData(Transpose.N, Transpose.N)]
    [InlineData(Transpose.T, Transpose.T)]
    public void Multiply_AcrossSeveralBlocksInEveryDimension_MatchesNaive(Transpose ta, Transpose tb)
    {
        // Small blocks make a modest problem cross several Mc, Nc and Kc boundaries and split across threads.
        var natural = GemmBlocking.For(IsaSupport.Resolve());
        var blocking = natural with { Mc = natural.Mr * 2, Nc = natural.Nr * 2 };
        using var gemm = new Gemm(new WorkerPool(2), ownsPool: true, isa: null, blocking);
        Check(gemm, 29, 150, 530, ta, tb, alpha: 1f, beta: 1f, pad: 3, seed: 5);
    }

    [Fact]
    public void Multiply_BetaZero_IgnoresNaNInC()
    {
        using var gemm = new Gemm(1);
        float[] a = [1, 2, 3, 4];
        float[] b = [1, 0, 0, 1];
        float[] c = [float.NaN, float.NaN, float.NaN, float.NaN];
        gemm.Multiply(Transpose.N, Transpose.N, 2, 2, 2, 1f, a, 2, b, 2, 0f, c, 2);
        Assert.Equal([1f, 2f, 3f, 4f], c);
    }

    [Fact]
    public void Multiply_KZeroOrAlphaZero_ScalesCByBeta()
    {
        using var gemm = new Gemm(1);
        float[] c = [1, 2, 3, 4];
        gemm.Multiply(Transpose.N, Transpose.N, 2, 2, 0, 1f, [], 1, [], 2, 3f, c, 2);
        Assert.Equal([3f, 6f, 9f, 12f], c);
        gemm.Multiply(Transpose.N, Transpose.N, 2, 2, 1, 0f, [5, 6], 1, [7, 8], 2, 0f, c, 2);
        Assert.Equal([0f, 0f, 0f, 0f], c);
    }

    public static IEnumerable<TheoryDataRow<Transpose, Transpose>> Variants() =>
        from ta in new[] { Transpose.N, Transpose.T } from tb in new[] { Transpose.N, Transpose.T } select new TheoryDataRow<Transpose, Transpose>(ta, tb);

    [Theory]
    [MemberData(nameof(Variants))]
    public void Multiply_OneAndTwoThreads_GiveIdenticalBits(Transpose ta, Transpose tb)
    {
        var (a, b, c) = Operands(70, 190, 300, ta, tb, pad: 0, seed: 6);
        float[] c1 = (float[])c.Clone(), c2 = (float[])c.Clone();
        using (var one = new Gemm(1))
        {
            one.Multiply(ta, tb, 70, 190, 300, 0.5f, a, ta == Transpose.N ? 300 : 70, b, tb == Transpose.N ? 190 : 300, 0.25f, c1, 190);
        }

        using (var two = new Gemm(2))
        {
            two.Multiply(ta, tb, 70, 190, 300, 0.5f, a, ta == Transpose.N ? 300 : 70, b, tb == Transpose.N ? 190 : 300, 0.25f, c2, 190);
        }

        AssertBitwiseEqual(c1, c2, "1 thread", "2 threads");
    }

    [Fact]
    public void Multiply_EveryInstructionSet_GivesIdenticalBits()
    {
        var (a, b, c) = Operands(45, 77, 520, Transpose.N, Transpose.T, pad: 0, seed: 7);
        float[]? expected = null;
        string expectedIsa = "";
        foreach (var isa in new[] { Isa.Scalar, Isa.Avx2, Isa.Avx512 }.Where(IsaSupport.IsSupported))
        {
            float[] ci = (float[])c.Clone();
            using var gemm = new Gemm(2, isa);
            gemm.Multiply(Transpose.N, Transpose.T, 45, 77, 520, 1.25f, a, 520, b, 520, -0.5f, ci, 77);
            if (expected is null)
            {
                expected = ci;
                expectedIsa = IsaSupport.Name(isa);
            }
            else
            {
                AssertBitwiseEqual(expected, ci, expectedIsa, IsaSupport.Name(isa));
            }
        }
    }

    [Theory]
    [InlineData(Isa.Avx2)]
    [InlineData(Isa.Scalar)]
    public void Multiply_NarrowerInstructionSets_MatchNaive(Isa isa)
    {
        if (!IsaSupport.IsSupported(isa))
        {
            Assert.Skip($"This machine cannot run {IsaSupport.Name(isa)}.");
        }

        using var gemm = new Gemm(2, isa);
        foreach (var (m, n, k) in OddShapes)
        {
            Check(gemm, m, n, k, Transpose.T, Transpose.N, alpha: 1f, beta: 0.5f, pad: 1, seed: 8);
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void Multiply_SecondCallOfTheSameSize_AllocatesNothing(int threads)
    {
        var (a, b, c) = Operands(64, 200, 300, Transpose.N, Transpose.N, pad: 0, seed: 9);
        using var gemm = new Gemm(threads);
        void Both()
        {
            gemm.Multiply(Transpose.N, Transpose.N, 64, 200, 300, 1f, a, 300, b, 200, 0f, c, 200);
            gemm.Multiply(Transpose.N, Transpose.N, 30, 100, 200, 1f, a, 200, b, 100, 1f, c, 100);
        }

        // The first call grows the packing buffers (and JIT-compiles); later calls must not allocate.
        Both();

        Assert.Equal(0, Allocations.OnThisThread(Both));
    }

    [Fact]
    public void Multiply_LeadingDimensionTooSmall_NamesTheValueAndTheShape()
    {
        using var gemm = new Gemm(1);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() =>
            gemm.Multiply(Transpose.T, Transpose.N, 3, 2, 4, 1f, new float[12], 2, new float[8], 2, 0f, new float[6], 2));
        Assert.Contains("lda = 2", e.Message, StringComparison.Ordinal);
        Assert.Contains("A is stored 4×3", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Multiply_SpanTooShort_NamesTheNeededLength()
    {
        using var gemm = new Gemm(1);
        var e = Assert.Throws<ArgumentException>(() =>
            gemm.Multiply(Transpose.N, Transpose.N, 3, 2, 4, 1f, new float[12], 4, new float[7], 2, 0f, new float[6], 2));
        Assert.Contains("B holds 7 elements", e.Message, StringComparison.Ordinal);
        Assert.Contains("needs 8", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Multiply_NegativeSize_IsRejected()
    {
        using var gemm = new Gemm(1);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() =>
            gemm.Multiply(Transpose.N, Transpose.N, -1, 2, 2, 1f, [], 2, new float[4], 2, 0f, [], 2));
        Assert.Contains("m = -1", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Multiply_OutputOverlappingAnInput_IsRejected()
    {
        using var gemm = new Gemm(1);
        float[] buffer = new float[16];
        var e = Assert.Throws<ArgumentException>(() =>
            gemm.Multiply(Transpose.N, Transpose.N, 2, 2, 2, 1f, buffer.AsSpan(0, 4), 2, buffer.AsSpan(4, 4), 2, 0f, buffer.AsSpan(2, 4), 2));
        Assert.Contains("overlaps A", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(Variants))]
    public void ReferenceGemm_MatchesNaiveFloat64(Transpose ta, Transpose tb)
    {
        var (a, b, c) = Operands(11, 9, 14, ta, tb, pad: 2, seed: 10);
        int lda = (ta == Transpose.N ? 14 : 11) + 2, ldb = (tb == Transpose.N ? 9 : 14) + 2, ldc = 9 + 2;
        var (expected, _) = NaiveGemm.Multiply(ta, tb, 11, 9, 14, 0.5f, a, lda, b, ldb, 2f, c, ldc);
        ReferenceGemm<float>.Multiply(ta, tb, 11, 9, 14, 0.5f, a, lda, b, ldb, 2f, c, ldc);
        for (int i = 0; i < 11; i++)
        {
            for (int j = 0; j < 9; j++)
            {
                Assert.Equal((float)expected[(i * 9) + j], c[(i * ldc) + j]);
            }
        }
    }

    /// <summary>Runs one product and compares every element with the naive result; padding must stay untouched.</summary>
    private static void Check(Gemm gemm, int m, int n, int k, Transpose ta, Transpose tb, float alpha, float beta, int pad, ulong seed)
    {
        int lda = (ta == Transpose.N ? k : m) + pad;
        int ldb = (tb == Transpose.N ? n : k) + pad;
        int ldc = n + pad;
        var (a, b, c) = Operands(m, n, k, ta, tb, pad, seed);
        float[] before = (float[])c.Clone();
        var (expected, scale) = NaiveGemm.Multiply(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);

        gemm.Multiply(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);

        double unit = Math.Pow(2, -24);
        var failures = new List<string>();
        double worst = 0;
        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < n; j++)
            {
                double got = c[(i * ldc) + j];
                double want = expected[(i * n) + j];
                double tol = (2 * (k + 2) * unit * scale[(i * n) + j]) + 1e-30;
                double err = Math.Abs(got - want);
                worst = Math.Max(worst, err / tol);
                if (!(err <= tol) && failures.Count < 5)
                {
                    failures.Add($"C[{i},{j}]: expected {want:R}, got {got:R} (error {err:E2}, tolerance {tol:E2})");
                }
            }

            for (int j = n; j < ldc && (i * ldc) + j < c.Length; j++)
            {
                Assert.True(BitConverter.SingleToInt32Bits(before[(i * ldc) + j]) == BitConverter.SingleToInt32Bits(c[(i * ldc) + j]), $"Padding C[{i},{j}] was written.");
            }
        }

        Assert.True(failures.Count == 0, $"gemm {m}×{n}×{k} op(A)={ta} op(B)={tb} α={alpha} β={beta} pad={pad} {gemm.Threads} thread(s) {IsaSupport.Name(gemm.Isa)}: worst error/tolerance {worst:F2}\n" + string.Join("\n", failures));
    }

    /// <summary>Random operands in [−1, 1); padding between rows holds NaN so that reading it would show.</summary>
    internal static (float[] A, float[] B, float[] C) Operands(int m, int n, int k, Transpose ta, Transpose tb, int pad, ulong seed)
    {
        var rng = new Rng(seed);
        (int aRows, int aCols) = ta == Transpose.N ? (m, k) : (k, m);
        (int bRows, int bCols) = tb == Transpose.N ? (k, n) : (n, k);
        return (Matrix(aRows, aCols, pad, rng, nanPad: true), Matrix(bRows, bCols, pad, rng, nanPad: true), Matrix(m, n, pad, rng, nanPad: false));
    }

    private static float[] Matrix(int rows, int cols, int pad, Rng rng, bool nanPad)
    {
        int ld = cols + pad;
        var data = new float[Math.Max(0, (rows * ld) - pad)];
        for (int i = 0; i < data.Length; i++)
        {
            data[i] = i % ld < cols ? (2 * rng.NextSingle()) - 1 : nanPad ? float.NaN : 7f;
        }

        return data;
    }

    private static void AssertBitwiseEqual(float[] expected, float[] actual, string expectedName, string actualName)
    {
        for (int i = 0; i < expected.Length; i++)
        {
            if (BitConverter.SingleToInt32Bits(expected[i]) != BitConverter.SingleToInt32Bits(actual[i]))
            {
                Assert.Fail($"Element {i}: {expectedName} gave {expected[i]:R}, {actualName} gave {actual[i]:R}.");
            }
        }
    }
}

/// <summary>The in-register 16 × 16 transpose used to pack Bᵀ.</summary>
public sealed class Transpose16Tests
{
    [Fact]
    public void Block_TransposesWithStrides()
    {
        if (!Transpose16.IsSupported)
        {
            Assert.Skip("This machine has no AVX-512.");
        }

        float[] src = [.. Enumerable.Range(0, 16 * 19).Select(static i => (float)i)];
        float[] dst = Enumerable.Repeat(-1f, 16 * 21).ToArray();
        Transpose16.Block(src.AsSpan(2), 19, dst.AsSpan(1), 21);

        for (int r = 0; r < 16; r++)
        {
            for (int c = 0; c < 16; c++)
            {
                Assert.Equal(src[(r * 19) + 2 + c], dst[(c * 21) + 1 + r]);
            }
        }

        Assert.Equal(-1f, dst[0]);
        Assert.Equal(-1f, dst[17]);
    }
}

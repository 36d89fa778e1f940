using System;
using System.Collections.Generic;
using System.Diagnostics;
using FusedOpt.Kernels;

namespace FusedOpt.Models.Linalg;

/// <summary>Options of <see cref="GemmBenchmark.Run(int, int, int, int, GemmBenchOptions?)"/>.</summary>
public sealed record GemmBenchOptions
{
    /// <summary>op(A): <see cref="Transpose.N"/> (A stored m×k) or <see cref="Transpose.T"/> (stored k×m).</summary>
    public Transpose TransA { get; init; } = Transpose.N;

    /// <summary>op(B): <see cref="Transpose.N"/> (B stored k×n) or <see cref="Transpose.T"/> (stored n×k).</summary>
    public Transpose TransB { get; init; } = Transpose.N;

    /// <summary>Instruction set to force; null picks <c>FUSEDOPT_ISA</c> or the widest supported.</summary>
    public Isa? Isa { get; init; }

    /// <summary>Untimed calls before measuring (JIT tiering, page faults, buffer growth).</summary>
    public int Warmup { get; init; } = 3;

    /// <summary>Timed calls, at least; more are run until <see cref="MinSeconds"/> of timed work.</summary>
    public int Repeats { get; init; } = 5;

    /// <summary>Minimum total timed seconds.</summary>
    public double MinSeconds { get; init; } = 0.5;

    /// <summary>Seed of the random operands.</summary>
    public ulong Seed { get; init; } = 42;
}

/// <summary>One GEMM measurement: the best of several timed calls, next to the machine's measured FMA peak.</summary>
/// <param name="M">Rows of op(A) and C.</param>
/// <param name="N">Columns of op(B) and C.</param>
/// <param name="K">The inner dimension.</param>
/// <param name="Threads">Threads per call.</param>
/// <param name="TransA">op(A).</param>
/// <param name="TransB">op(B).</param>
/// <param name="Isa">The instruction set that ran (<c>avx512</c>, <c>avx2</c> or <c>scalar</c>).</param>
/// <param name="Blocking">Tile and block sizes, e.g. <c>mr=6 nr=32 mc=96 kc=256 nc=1024</c>.</param>
/// <param name="Repeats">Timed calls.</param>
/// <param name="BestSeconds">The fastest call.</param>
/// <param name="MedianSeconds">The median call.</param>
/// <param name="Gflops">2·m·n·k / <paramref name="BestSeconds"/> / 10⁹.</param>
/// <param name="PeakGflops">The best FMA peak trial (<see cref="GemmPeak"/>, same threads and ISA), interleaved with the timed calls.</param>
/// <param name="FractionOfPeak"><paramref name="Gflops"/> / <paramref name="PeakGflops"/>.</param>
public sealed record GemmBenchResult(
    int M, int N, int K, int Threads, Transpose TransA, Transpose TransB, string Isa, string Blocking,
    int Repeats, double BestSeconds, double MedianSeconds, double Gflops, double PeakGflops, double FractionOfPeak)
{
    /// <inheritdoc />
    public override string ToString() =>
        $"gemm {M}×{N}×{K} op(A)={TransA} op(B)={TransB} {Threads} thread(s) {Isa}: {Gflops:F1} GFLOP/s "
        + $"({FractionOfPeak:P1} of measured peak {PeakGflops:F1}), best {BestSeconds * 1e3:F3} ms of {Repeats}";
}

/// <summary>Times <see cref="Gemm"/> on random operands; the API behind <c>fusedopt bench gemm</c>.</summary>
public static class GemmBenchmark
{
    /// <summary>
    /// Measures C ← A·B (β = 0) for the given sizes: <see cref="GemmBenchOptions.Warmup"/> untimed calls, then at
    /// least <see cref="GemmBenchOptions.Repeats"/> timed calls and <see cref="GemmBenchOptions.MinSeconds"/> of
    /// timing in 4 rounds, each followed by a ≥ 20 ms FMA peak trial; reports the best call against the best trial,
    /// which keeps the fraction honest on a shared machine where both fluctuate.
    /// </summary>
    public static GemmBenchResult Run(int m, int n, int k, int threads, GemmBenchOptions? options = null)
    {
        options ??= new GemmBenchOptions();
        if (m < 1 || n < 1 || k < 1)
        {
            throw new ArgumentOutOfRangeException(m < 1 ? nameof(m) : n < 1 ? nameof(n) : nameof(k), $"bench gemm: sizes must be ≥ 1, got m = {m}, n = {n}, k = {k}.");
        }

        if (threads < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(threads), threads, $"bench gemm: threads must be ≥ 1, got {threads}.");
        }

        RequireMemory(m, n, k);
        using var gemm = new Gemm(threads, options.Isa);
        int lda = options.TransA == Transpose.N ? k : m;
        int ldb = options.TransB == Transpose.N ? n : k;
        float[] a = RandomMatrix((long)m * k, options.Seed);
        float[] b = RandomMatrix((long)k * n, options.Seed + 1);
        float[] c = new float[(long)m * n];

        for (int i = 0; i < options.Warmup; i++)
        {
            gemm.Multiply(options.TransA, options.TransB, m, n, k, 1f, a, lda, b, ldb, 0f, c, n);
        }

        // A small product takes less than the timer can resolve: each timed sample runs enough calls for ≥ 20 µs and
        // counts their mean, so the time per call is never 0 (nor the rate infinite).
        double single = double.PositiveInfinity;
        for (int i = 0; i < 5; i++)
        {
            long calibrate = Stopwatch.GetTimestamp();
            gemm.Multiply(options.TransA, options.TransB, m, n, k, 1f, a, lda, b, ldb, 0f, c, n);
            single = Math.Min(single, Stopwatch.GetElapsedTime(calibrate).TotalSeconds);
        }

        int batch = (int)Math.Clamp(Math.Ceiling(20e-6 / Math.Max(single, 1e-9)), 1, 100_000);

        // Rounds of timed calls, each followed by a peak trial, so that both see the same machine conditions.
        using var probe = new GemmPeak.Probe(threads, gemm.Isa);
        const int rounds = 4;
        var times = new List<double>();
        double peak = 0;
        for (int round = 0; round < rounds; round++)
        {
            int calls = 0;
            double roundTime = 0;
            while (calls < (options.Repeats + rounds - 1) / rounds || roundTime < options.MinSeconds / rounds)
            {
                long start = Stopwatch.GetTimestamp();
                for (int call = 0; call < batch; call++)
                {
                    gemm.Multiply(options.TransA, options.TransB, m, n, k, 1f, a, lda, b, ldb, 0f, c, n);
                }

                double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
                times.Add(seconds / batch);
                roundTime += seconds;
                calls++;
            }

            peak = Math.Max(peak, probe.Trial());
        }

        times.Sort();
        double best = times[0];
        double median = times[times.Count / 2];
        double gflops = 2.0 * m * n * k / best / 1e9;
        return new GemmBenchResult(
            m, n, k, threads, options.TransA, options.TransB, IsaSupport.Name(gemm.Isa), gemm.Blocking.ToString(),
            times.Count, best, median, gflops, peak, gflops / peak);
    }

    /// <summary>
    /// Refuses shapes whose operands do not fit in an array (<see cref="Array.MaxLength"/> elements) or in the memory
    /// available, before anything is allocated.
    /// </summary>
    private static void RequireMemory(int m, int n, int k)
    {
        foreach (var (name, rows, columns) in new[] { ("A", m, k), ("B", k, n), ("C", m, n) })
        {
            long elements = (long)rows * columns;
            if (elements > Array.MaxLength)
            {
                throw new ArgumentOutOfRangeException(nameof(m), elements,
                    $"bench gemm: {name} is {rows:N0}×{columns:N0} = {elements:N0} floats; an array holds at most {Array.MaxLength:N0}.");
            }
        }

        long floats = ((long)m * k) + ((long)k * n) + ((long)m * n);
        FusedOpt.Memory.MemoryBudget.Require(floats * sizeof(float), $"bench gemm {m}×{n}×{k} (A, B and C)");
    }

    private static float[] RandomMatrix(long length, ulong seed)
    {
        var rng = new Rng(seed);
        var data = new float[checked((int)length)];
        for (int i = 0; i < data.Length; i++)
        {
            data[i] = (2 * rng.NextSingle()) - 1;
        }

        return data;
    }
}

using System;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using FusedOpt.Kernels;
using FusedOpt.Threading;

namespace FusedOpt.Models.Linalg;

/// <summary>
/// Measures this machine's fused multiply-add peak: each thread runs a loop of
/// <see cref="Accumulators"/> independent vector FMA chains (no loads, no dependencies between chains), the
/// most a core can issue. A GEMM benchmark reports its speed as a fraction of this measured number, which
/// accounts for the actual clock, SMT siblings and how the CPU executes 512-bit FMAs (Zen 4 splits them in two
/// 256-bit halves: 32 float FLOP/cycle per core; Zen 5 and Intel server cores with two 512-bit FMA units: 64).
/// </summary>
public static class GemmPeak
{
    /// <summary>
    /// Independent accumulator chains per thread on <paramref name="isa"/>: at least FMA latency (4–5 cycles) × FMA
    /// ports (2), and few enough to stay in registers: 16 of the 32 zmm registers with AVX-512, 12 of the 16
    /// registers otherwise.
    /// </summary>
    public static int Accumulators(Isa isa) => isa == Isa.Avx512 ? 16 : 12;

    private static readonly ConcurrentDictionary<(int Threads, Isa Isa), double> Cache = new();

    /// <summary>
    /// The measured peak in GFLOP/s (2 FLOP per lane per FMA) with <paramref name="threads"/> threads on
    /// <paramref name="isa"/> (null: <c>FUSEDOPT_ISA</c> or the widest supported). Measured once per process for
    /// each pair (about 0.3 s) and then cached.
    /// </summary>
    public static double Measure(int threads, Isa? isa = null)
    {
        Isa resolved = IsaSupport.Resolve(isa);
        return Cache.GetOrAdd((threads, resolved), static key => MeasureNow(key.Threads, key.Isa));
    }

    private static double MeasureNow(int threads, Isa isa)
    {
        using var probe = new Probe(threads, isa);
        double best = 0;
        for (int trial = 0; trial < 7; trial++)
        {
            best = Math.Max(best, probe.Trial());
        }

        return best;
    }

    /// <summary>
    /// A calibrated probe for repeated short trials (≥ 20 ms each), so that a benchmark can interleave peak trials
    /// with its own timed calls and see the same machine conditions (other processes, clock changes).
    /// </summary>
    internal sealed class Probe : IDisposable
    {
        private readonly WorkerPool _pool;
        private readonly Loops _loops;
        private readonly long _iterations;

        public Probe(int threads, Isa isa)
        {
            _pool = new WorkerPool(threads);
            _loops = new Loops(isa);
            Threads = threads;
            Isa = isa;

            // Calibrate: grow the iteration count until one run takes ≥ 20 ms.
            long iterations = 1 << 14;
            while (_loops.Time(_pool, iterations) < 0.02)
            {
                iterations *= 2;
            }

            _iterations = iterations;
        }

        public int Threads { get; }

        public Isa Isa { get; }

        /// <summary>One timed run; GFLOP/s over all threads.</summary>
        public double Trial()
        {
            double seconds = _loops.Time(_pool, _iterations);
            return 2.0 * Accumulators(Isa) * IsaSupport.Width(Isa) * _iterations * Threads / seconds / 1e9;
        }

        public void Dispose() => _pool.Dispose();
    }

    private sealed class Loops(Isa isa) : IParallelWork
    {
        private long _iterations;

        /// <summary>Keeps the results alive so the JIT cannot drop the loops.</summary>
        public float Sink { get; private set; }

        public double Time(WorkerPool pool, long iterations)
        {
            _iterations = iterations;
            long start = Stopwatch.GetTimestamp();
            pool.Run(this);
            return Stopwatch.GetElapsedTime(start).TotalSeconds;
        }

        public void Execute(int part)
        {
            float r = isa switch
            {
                Isa.Avx512 => Loop512(_iterations),
                Isa.Avx2 => Loop256(_iterations),
                _ => LoopScalar(_iterations),
            };
            if (r == 12345f)
            {
                Sink = r;
            }
        }

        // acc ← acc·m + a converges to a/(1 − m); it never overflows or goes subnormal.
        [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
        private static float Loop512(long iterations)
        {
            var m = Vector512.Create(0.999999f);
            var a = Vector512.Create(1e-3f);
            Vector512<float> x0 = a, x1 = a, x2 = a, x3 = a, x4 = a, x5 = a, x6 = a, x7 = a;
            Vector512<float> x8 = a, x9 = a, x10 = a, x11 = a, x12 = a, x13 = a, x14 = a, x15 = a;
            for (long i = 0; i < iterations; i++)
            {
                x0 = Vector512.FusedMultiplyAdd(x0, m, a);
                x1 = Vector512.FusedMultiplyAdd(x1, m, a);
                x2 = Vector512.FusedMultiplyAdd(x2, m, a);
                x3 = Vector512.FusedMultiplyAdd(x3, m, a);
                x4 = Vector512.FusedMultiplyAdd(x4, m, a);
                x5 = Vector512.FusedMultiplyAdd(x5, m, a);
                x6 = Vector512.FusedMultiplyAdd(x6, m, a);
                x7 = Vector512.FusedMultiplyAdd(x7, m, a);
                x8 = Vector512.FusedMultiplyAdd(x8, m, a);
                x9 = Vector512.FusedMultiplyAdd(x9, m, a);
                x10 = Vector512.FusedMultiplyAdd(x10, m, a);
                x11 = Vector512.FusedMultiplyAdd(x11, m, a);
                x12 = Vector512.FusedMultiplyAdd(x12, m, a);
                x13 = Vector512.FusedMultiplyAdd(x13, m, a);
                x14 = Vector512.FusedMultiplyAdd(x14, m, a);
                x15 = Vector512.FusedMultiplyAdd(x15, m, a);
            }

            var sum = x0 + x1 + x2 + x3 + x4 + x5 + x6 + x7 + x8 + x9 + x10 + x11 + x12 + x13 + x14 + x15;
            return Vector512.Sum(sum);
        }

        [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
        private static float Loop256(long iterations)
        {
            var m = Vector256.Create(0.999999f);
            var a = Vector256.Create(1e-3f);
            Vector256<float> x0 = a, x1 = a, x2 = a, x3 = a, x4 = a, x5 = a, x6 = a, x7 = a;
            Vector256<float> x8 = a, x9 = a, x10 = a, x11 = a;
            for (long i = 0; i < iterations; i++)
            {
                x0 = Vector256.FusedMultiplyAdd(x0, m, a);
                x1 = Vector256.FusedMultiplyAdd(x1, m, a);
                x2 = Vector256.FusedMultiplyAdd(x2, m, a);
                x3 = Vector256.FusedMultiplyAdd(x3, m, a);
                x4 = Vector256.FusedMultiplyAdd(x4, m, a);
                x5 = Vector256.FusedMultiplyAdd(x5, m, a);
                x6 = Vector256.FusedMultiplyAdd(x6, m, a);
                x7 = Vector256.FusedMultiplyAdd(x7, m, a);
                x8 = Vector256.FusedMultiplyAdd(x8, m, a);
                x9 = Vector256.FusedMultiplyAdd(x9, m, a);
                x10 = Vector256.FusedMultiplyAdd(x10, m, a);
                x11 = Vector256.FusedMultiplyAdd(x11, m, a);
            }

            var sum = x0 + x1 + x2 + x3 + x4 + x5 + x6 + x7 + x8 + x9 + x10 + x11;
            return Vector256.Sum(sum);
        }

        [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
        private static float LoopScalar(long iterations)
        {
            float m = 0.999999f, a = 1e-3f;
            float x0 = a, x1 = a, x2 = a, x3 = a, x4 = a, x5 = a, x6 = a, x7 = a;
            float x8 = a, x9 = a, x10 = a, x11 = a;
            for (long i = 0; i < iterations; i++)
            {
                x0 = MathF.FusedMultiplyAdd(x0, m, a);
                x1 = MathF.FusedMultiplyAdd(x1, m, a);
                x2 = MathF.FusedMultiplyAdd(x2, m, a);
                x3 = MathF.FusedMultiplyAdd(x3, m, a);
                x4 = MathF.FusedMultiplyAdd(x4, m, a);
                x5 = MathF.FusedMultiplyAdd(x5, m, a);
                x6 = MathF.FusedMultiplyAdd(x6, m, a);
                x7 = MathF.FusedMultiplyAdd(x7, m, a);
                x8 = MathF.FusedMultiplyAdd(x8, m, a);
                x9 = MathF.FusedMultiplyAdd(x9, m, a);
                x10 = MathF.FusedMultiplyAdd(x10, m, a);
                x11 = MathF.FusedMultiplyAdd(x11, m, a);
            }

            return x0 + x1 + x2 + x3 + x4 + x5 + x6 + x7 + x8 + x9 + x10 + x11;
        }
    }
}

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
    /// <remarks>The loop (<c>Loop</c>) derives the same count from the register width; keep the two in step.</remarks>
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
                Isa.Avx512 => Loop<Simd512, Vector512<float>>(_iterations),
                Isa.Avx2 => Loop<Simd256, Vector256<float>>(_iterations),
                _ => Loop<SimdScalar, float>(_iterations),
            };
            if (r == 12345f)
            {
                Sink = r;
            }
        }

        /// <summary>
        /// <see cref="Accumulators"/> independent chains <c>acc ← acc·m + a</c>, which converge to a/(1 − m) and never
        /// overflow or go subnormal. One body for every width: chains 12–15 exist only with AVX-512 (the condition is a
        /// JIT-time constant, so the other instantiations carry neither the code nor the registers).
        /// </summary>
        [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
        private static float Loop<TSimd, TVector>(long iterations)
            where TSimd : struct, ISimd<TVector>
            where TVector : struct
        {
            bool sixteen = TSimd.Lanes == 16;
            var m = TSimd.Splat(0.999999f);
            var a = TSimd.Splat(1e-3f);
            TVector x0 = a, x1 = a, x2 = a, x3 = a, x4 = a, x5 = a, x6 = a, x7 = a;
            TVector x8 = a, x9 = a, x10 = a, x11 = a, x12 = a, x13 = a, x14 = a, x15 = a;
            for (long i = 0; i < iterations; i++)
            {
                x0 = TSimd.FusedMultiplyAdd(x0, m, a);
                x1 = TSimd.FusedMultiplyAdd(x1, m, a);
                x2 = TSimd.FusedMultiplyAdd(x2, m, a);
                x3 = TSimd.FusedMultiplyAdd(x3, m, a);
                x4 = TSimd.FusedMultiplyAdd(x4, m, a);
                x5 = TSimd.FusedMultiplyAdd(x5, m, a);
                x6 = TSimd.FusedMultiplyAdd(x6, m, a);
                x7 = TSimd.FusedMultiplyAdd(x7, m, a);
                x8 = TSimd.FusedMultiplyAdd(x8, m, a);
                x9 = TSimd.FusedMultiplyAdd(x9, m, a);
                x10 = TSimd.FusedMultiplyAdd(x10, m, a);
                x11 = TSimd.FusedMultiplyAdd(x11, m, a);
                if (sixteen)
                {
                    x12 = TSimd.FusedMultiplyAdd(x12, m, a);
                    x13 = TSimd.FusedMultiplyAdd(x13, m, a);
                    x14 = TSimd.FusedMultiplyAdd(x14, m, a);
                    x15 = TSimd.FusedMultiplyAdd(x15, m, a);
                }
            }

            var sum = x0;
            sum = TSimd.Add(sum, x1);
            sum = TSimd.Add(sum, x2);
            sum = TSimd.Add(sum, x3);
            sum = TSimd.Add(sum, x4);
            sum = TSimd.Add(sum, x5);
            sum = TSimd.Add(sum, x6);
            sum = TSimd.Add(sum, x7);
            sum = TSimd.Add(sum, x8);
            sum = TSimd.Add(sum, x9);
            sum = TSimd.Add(sum, x10);
            sum = TSimd.Add(sum, x11);
            if (sixteen)
            {
                sum = TSimd.Add(sum, x12);
                sum = TSimd.Add(sum, x13);
                sum = TSimd.Add(sum, x14);
                sum = TSimd.Add(sum, x15);
            }

            return TSimd.Sum(sum);
        }
    }
}

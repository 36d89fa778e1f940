using System;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using FusedOpt.Kernels;

namespace FusedOpt.Benchmarks;

/// <summary>Measured reciprocal throughput of vector operations on one core, in cycles per vector operation.</summary>
/// <param name="Isa">The width measured.</param>
/// <param name="FrequencyGHz">Core clock measured by a dependent integer chain (what the core ran at during the probe).</param>
/// <param name="Add">Cycles per vector addition.</param>
/// <param name="Mul">Cycles per vector multiplication.</param>
/// <param name="Div">Cycles per vector division.</param>
/// <param name="Sqrt">Cycles per vector square root.</param>
internal sealed record VectorOpCosts(string Isa, double FrequencyGHz, double Add, double Mul, double Div, double Sqrt)
{
    /// <summary>Lanes per vector.</summary>
    public int Lanes => Isa switch { "avx512" => 16, "avx2" => 8, _ => 1 };

    /// <summary>
    /// The arithmetic limit of a rule on one core, in elements per cycle, under a simple throughput model: divisions
    /// and square roots share the divider; additions (and the other simple operations) and multiplications issue to
    /// separate pipes and overlap; the busiest of the three bounds the loop (memory ignored: a cache-resident step).
    /// </summary>
    public double ElementsPerCycleLimit(ElementOperations ops)
    {
        ArgumentNullException.ThrowIfNull(ops);
        double divider = (ops.Div * Div) + (ops.Sqrt * Sqrt);
        double adders = (ops.Add + ops.Other) * Add;
        double multipliers = ops.Mul * Mul;
        double cycles = Math.Max(divider, Math.Max(adders, multipliers));
        return cycles <= 0 ? double.PositiveInfinity : Lanes / cycles;
    }
}

/// <summary>
/// Probes of this core: its clock (a chain of dependent integer operations, one cycle each) and the reciprocal
/// throughput of vector add, mul, div and sqrt (eight independent chains, enough to hide latency).
/// </summary>
internal static class CpuProbes
{
    private const long Iterations = 20_000_000;

    /// <summary>The clock in GHz: best of several runs of 8 dependent one-cycle integer operations per iteration.</summary>
    public static double MeasureFrequencyGHz()
    {
        double best = double.PositiveInfinity;
        for (int run = 0; run < 5; run++)
        {
            long t0 = Stopwatch.GetTimestamp();
            Sink = DependentChain(Iterations, run + 3);
            best = Math.Min(best, Stopwatch.GetElapsedTime(t0).TotalSeconds);
        }

        return 8.0 * Iterations / best / 1e9;
    }

    /// <summary>Measures the vector operation costs of <paramref name="isa"/> (Avx512 or Avx2) in cycles.</summary>
    public static VectorOpCosts MeasureVectorOps(Isa isa)
    {
        if (isa == Isa.Scalar || !IsaSupport.IsSupported(isa))
        {
            throw new ArgumentException($"Vector operation costs need a vector ISA this machine runs, not {IsaSupport.Name(isa)}.", nameof(isa));
        }

        double ghz = MeasureFrequencyGHz();
        double Cycles(Func<long, float> probe)
        {
            const long n = 2_000_000;
            probe(1000);
            double best = double.PositiveInfinity;
            for (int run = 0; run < 3; run++)
            {
                long t0 = Stopwatch.GetTimestamp();
                SinkFloat = probe(n);
                best = Math.Min(best, Stopwatch.GetElapsedTime(t0).TotalSeconds);
            }

            return best * ghz * 1e9 / (n * 8);
        }

        return isa == Isa.Avx512
            ? Measure<Simd512, Vector512<float>>("avx512")
            : Measure<Simd256, Vector256<float>>("avx2");

        VectorOpCosts Measure<TSimd, TVector>(string name)
            where TSimd : struct, ISimd<TVector>
            where TVector : struct
            => new(
                name,
                ghz,
                Cycles(Ops<AddOp, TSimd, TVector>),
                Cycles(Ops<MulOp, TSimd, TVector>),
                Cycles(Ops<DivOp, TSimd, TVector>),
                Cycles(Ops<SqrtOp, TSimd, TVector>));
    }

    private static long Sink { get; set; }

    private static float SinkFloat { get; set; }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static long DependentChain(long n, long y)
    {
        long x = y;
        for (long i = 0; i < n; i++)
        {
            x ^= y;
            x += 1;
            x ^= y;
            x += 1;
            x ^= y;
            x += 1;
            x ^= y;
            x += 1;
        }

        return x;
    }

    /// <summary>The operation a probe repeats, at any width.</summary>
    private interface IOp
    {
        static abstract TVector Apply<TSimd, TVector>(TVector a, TVector b)
            where TSimd : struct, ISimd<TVector>
            where TVector : struct;
    }

    private readonly struct AddOp : IOp
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static TVector Apply<TSimd, TVector>(TVector a, TVector b)
            where TSimd : struct, ISimd<TVector>
            where TVector : struct
            => TSimd.Add(a, b);
    }

    private readonly struct MulOp : IOp
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static TVector Apply<TSimd, TVector>(TVector a, TVector b)
            where TSimd : struct, ISimd<TVector>
            where TVector : struct
            => TSimd.Multiply(a, b);
    }

    private readonly struct DivOp : IOp
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static TVector Apply<TSimd, TVector>(TVector a, TVector b)
            where TSimd : struct, ISimd<TVector>
            where TVector : struct
            => TSimd.Divide(a, b);
    }

    private readonly struct SqrtOp : IOp
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static TVector Apply<TSimd, TVector>(TVector a, TVector b)
            where TSimd : struct, ISimd<TVector>
            where TVector : struct
            => TSimd.Sqrt(a);
    }

    /// <summary>
    /// Eight independent chains of one operation (values stay near 1, so nothing denormalises), at the width of
    /// <typeparamref name="TSimd"/>: one body, compiled by the JIT for each operation and width.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static float Ops<TOp, TSimd, TVector>(long n)
        where TOp : struct, IOp
        where TSimd : struct, ISimd<TVector>
        where TVector : struct
    {
        var b = TSimd.Splat(1.0000001f);
        TVector a0 = b, a1 = b, a2 = b, a3 = b, a4 = b, a5 = b, a6 = b, a7 = b;
        for (long i = 0; i < n; i++)
        {
            a0 = TOp.Apply<TSimd, TVector>(a0, b);
            a1 = TOp.Apply<TSimd, TVector>(a1, b);
            a2 = TOp.Apply<TSimd, TVector>(a2, b);
            a3 = TOp.Apply<TSimd, TVector>(a3, b);
            a4 = TOp.Apply<TSimd, TVector>(a4, b);
            a5 = TOp.Apply<TSimd, TVector>(a5, b);
            a6 = TOp.Apply<TSimd, TVector>(a6, b);
            a7 = TOp.Apply<TSimd, TVector>(a7, b);
        }

        // (((((((a0 + a1) + a2) + a3) + a4) + a5) + a6) + a7), as the operators would associate it.
        var sum = TSimd.Add(TSimd.Add(TSimd.Add(TSimd.Add(TSimd.Add(TSimd.Add(TSimd.Add(a0, a1), a2), a3), a4), a5), a6), a7);
        return TSimd.Sum(sum);
    }
}

using System;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using BenchmarkDotNet.Attributes;
using FusedOpt.Memory;
using FusedOpt.Threading;

namespace FusedOpt.Bench;

/// <summary>
/// Tuning experiments on the Adam loop, written by hand so that each idea can be measured against the loop the
/// generator emits: 2× unrolling, non-temporal stores, software prefetch. The generator adopts an idea only when it
/// pays; docs/benchmarks.md records the outcome. Single tensor, arithmetic as generated (no weight decay, no AMSGrad).
/// </summary>
public unsafe class AdamKernelExperiments : IStepBenchmark, IParallelWork
{
    private AlignedBuffer _p = null!, _g = null!, _m = null!, _v = null!;
    private WorkerPool _pool = null!;
    private int _variant;

    public static System.Collections.Generic.IEnumerable<int> Sizes => [64 << 10, 16 << 20];

    [ParamsSource(nameof(Sizes))]
    public int Size { get; set; }

    [Params(1, 2)]
    public int Threads { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _p = new AlignedBuffer(Size);
        _g = new AlignedBuffer(Size);
        _m = new AlignedBuffer(Size);
        _v = new AlignedBuffer(Size);
        var rng = new Random(1);
        for (int i = 0; i < Size; i++)
        {
            _p.Span[i] = (float)(rng.NextDouble() - 0.5);
            _g.Span[i] = (float)(rng.NextDouble() - 0.5) * 1e-2f;
        }

        _pool = new WorkerPool(Threads);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _pool.Dispose();
        _p.Dispose();
        _g.Dispose();
        _m.Dispose();
        _v.Dispose();
    }

    [Benchmark(Baseline = true)]
    public void AsGenerated() => Run(0);

    [Benchmark]
    public void Unrolled2() => Run(1);

    [Benchmark]
    public void NonTemporalStores() => Run(2);

    [Benchmark]
    public void SoftwarePrefetch() => Run(3);

    public int BytesPerParameter(string method) => 28;

    private void Run(int variant)
    {
        _variant = variant;
        _pool.Run(this);
    }

    void IParallelWork.Execute(int part)
    {
        var (s, e) = Partition.Of(Size, part, Threads);
        float* p = _p.Pointer, g = _g.Pointer, m = _m.Pointer, v = _v.Pointer;
        switch (_variant)
        {
            case 0: Plain(p, g, m, v, s, e); break;
            case 1: Unrolled(p, g, m, v, s, e); break;
            case 2: NonTemporal(p, g, m, v, s, e); break;
            default: Prefetched(p, g, m, v, s, e); break;
        }
    }

    // Step-invariant scalars of step 10 with the defaults (as Prepare would compute them).
    private static readonly Vector512<float> B1 = Vector512.Create(0.9f), C1 = Vector512.Create(0.1f), B2 = Vector512.Create(0.999f),
        C2 = Vector512.Create(0.001f), InvSqrtBc2 = Vector512.Create((float)(1 / Math.Sqrt(1 - Math.Pow(0.999, 10)))),
        Eps = Vector512.Create(1e-8f), StepSize = Vector512.Create((float)(1e-3 / (1 - Math.Pow(0.9, 10))));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Body(Vector512<float> p, Vector512<float> g, ref Vector512<float> m, ref Vector512<float> v)
    {
        m = (B1 * m) + (C1 * g);
        v = (B2 * v) + (C2 * g * g);
        var denom = (Vector512.Sqrt(v) * InvSqrtBc2) + Eps;
        return p - (StepSize * (m / denom));
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Plain(float* p, float* g, float* m, float* v, long i, long end)
    {
        for (; i + 16 <= end; i += 16)
        {
            var mm = Vector512.Load(m + i);
            var vv = Vector512.Load(v + i);
            Body(Vector512.Load(p + i), Vector512.Load(g + i), ref mm, ref vv).Store(p + i);
            mm.Store(m + i);
            vv.Store(v + i);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Unrolled(float* p, float* g, float* m, float* v, long i, long end)
    {
        for (; i + 32 <= end; i += 32)
        {
            var m0 = Vector512.Load(m + i);
            var v0 = Vector512.Load(v + i);
            var m1 = Vector512.Load(m + i + 16);
            var v1 = Vector512.Load(v + i + 16);
            var p0 = Body(Vector512.Load(p + i), Vector512.Load(g + i), ref m0, ref v0);
            var p1 = Body(Vector512.Load(p + i + 16), Vector512.Load(g + i + 16), ref m1, ref v1);
            p0.Store(p + i);
            p1.Store(p + i + 16);
            m0.Store(m + i);
            m1.Store(m + i + 16);
            v0.Store(v + i);
            v1.Store(v + i + 16);
        }

        Plain(p, g, m, v, i, end);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void NonTemporal(float* p, float* g, float* m, float* v, long i, long end)
    {
        for (; i + 16 <= end; i += 16)
        {
            var mm = Vector512.Load(m + i);
            var vv = Vector512.Load(v + i);
            Body(Vector512.Load(p + i), Vector512.Load(g + i), ref mm, ref vv).StoreAlignedNonTemporal(p + i);
            mm.StoreAlignedNonTemporal(m + i);
            vv.StoreAlignedNonTemporal(v + i);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Prefetched(float* p, float* g, float* m, float* v, long i, long end)
    {
        const int Ahead = 16 * 32; // 32 iterations (2 KiB per stream) ahead
        for (; i + 16 <= end; i += 16)
        {
            if (Sse.IsSupported && i + Ahead < end)
            {
                Sse.Prefetch0(p + i + Ahead);
                Sse.Prefetch0(g + i + Ahead);
                Sse.Prefetch0(m + i + Ahead);
                Sse.Prefetch0(v + i + Ahead);
            }

            var mm = Vector512.Load(m + i);
            var vv = Vector512.Load(v + i);
            Body(Vector512.Load(p + i), Vector512.Load(g + i), ref mm, ref vv).Store(p + i);
            mm.Store(m + i);
            vv.Store(v + i);
        }
    }
}

using System.Collections.Generic;
using BenchmarkDotNet.Attributes;
using FusedOpt.Benchmarks;
using FusedOpt.Memory;

namespace FusedOpt.Bench;

/// <summary>STREAM copy (b ← a, 8 B/element) and triad (a ← b + s·c, 12 B/element), for context beside the steps.</summary>
public class Probes : IStepBenchmark
{
    private AlignedBuffer _a = null!, _b = null!, _c = null!;
    private MemoryProbes _probes = null!;

    public static IEnumerable<int> Sizes => [64 << 10, 1 << 20, 16 << 20, 64 << 20];

    [ParamsSource(nameof(Sizes))]
    public int Size { get; set; }

    [Params(1, 2)]
    public int Threads { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _a = new AlignedBuffer(Size);
        _b = new AlignedBuffer(Size);
        _c = new AlignedBuffer(Size);
        _probes = new MemoryProbes(Size, Threads);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _probes.Dispose();
        _a.Dispose();
        _b.Dispose();
        _c.Dispose();
    }

    [Benchmark]
    public void Copy() => _probes.Copy(_a, _b);

    [Benchmark]
    public void Triad() => _probes.Triad(_a, _b, _c);

    public int BytesPerParameter(string method) => method == nameof(Copy) ? 8 : 12;
}

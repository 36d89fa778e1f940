using System;
using System.Collections.Generic;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Running;
using FusedOpt.Benchmarks;
using FusedOpt.Kernels;
using FusedOpt.Memory;
using FusedOpt.Storage;

namespace FusedOpt.Bench;

/// <summary>
/// Adam at 16M parameters on 2 threads with its states stored as fp32 (the catalogue's generated kernel through
/// <see cref="Optimizer"/>), bf16 or q8 (the hand-written <see cref="CompressedAdam"/>), each beside a same-traffic
/// probe that moves its own byte count (28, 20, 16 B/param). Run all of them in one run and compare the means:
/// <c>dotnet run -c Release --project bench/FusedOpt.Bench -- --filter '*AdamStates*' --job short</c>.
/// </summary>
public abstract class AdamStates : IStepBenchmark, IDisposable
{
    private AlignedBuffer _p = null!, _g = null!;
    private ParameterArena? _arena;
    private Optimizer? _fp32;
    private MemoryProbes? _memoryProbes;
    private List<AlignedBuffer>? _readOnly, _readWrite;
    private CompressedAdam? _compressed;
    private StorageProbes? _storageProbes;

    /// <summary>How m and v are stored.</summary>
    protected abstract StateStorage Storage { get; }

    /// <summary>bf16 only: stochastic rounding.</summary>
    protected virtual bool Stochastic => false;

    [Params(16 << 20)]
    public int Size { get; set; }

    [Params(2)]
    public int Threads { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(1);
        if (Storage == StateStorage.Fp32)
        {
            _arena = new ParameterArena();
            _arena.Add("x", Size);
            _arena.Build();
            _p = _arena.Params;
            _g = _arena.Grads;
        }
        else
        {
            _p = new AlignedBuffer(Size);
            _g = new AlignedBuffer(Size);
        }

        var p = _p.Span;
        var g = _g.Span;
        for (int i = 0; i < Size; i++)
        {
            p[i] = (float)(rng.NextDouble() - 0.5);
            g[i] = (float)(rng.NextDouble() - 0.5) * 1e-2f;
        }

        if (Storage == StateStorage.Fp32)
        {
            _fp32 = new Optimizer(_arena!, OptimizerCatalog.Create("adam", null), new OptimizerOptions { Threads = Threads });
            _memoryProbes = new MemoryProbes(_arena!.Length, Threads);
            (_readOnly, _readWrite) = MemoryProbes.SameTrafficBuffers(_fp32);
        }
        else
        {
            _compressed = new CompressedAdam(Size, Storage, Threads) { StochasticRounding = Stochastic, Seed = 1 };
            _storageProbes = new StorageProbes(Threads);
        }

        Console.WriteLine($"// {GetType().Name}: {StateStorages.Name(Storage)} states, ISA {IsaSupport.Name(_compressed?.Isa ?? IsaSupport.Resolve())}, {Threads} threads.");
    }

    [GlobalCleanup]
    public void Dispose()
    {
        _fp32?.Dispose();
        _memoryProbes?.Dispose();
        _compressed?.Dispose();
        _storageProbes?.Dispose();
        if (_arena is null)
        {
            _p?.Dispose();
            _g?.Dispose();
        }

        _arena?.Dispose();
        GC.SuppressFinalize(this);
    }

    [Benchmark]
    public void Step()
    {
        if (_fp32 is not null)
        {
            _fp32.Step();
        }
        else
        {
            _compressed!.Step(_p, _g);
        }
    }

    [Benchmark]
    public void SameTrafficProbe()
    {
        if (_memoryProbes is not null)
        {
            _memoryProbes.SameTraffic(_readOnly!, _readWrite!);
        }
        else
        {
            _storageProbes!.SameTraffic(_p, _g, _compressed!.M, _compressed.V);
        }
    }

    public int BytesPerParameter(string method) => (int)StateStorages.AdamBytesPerParameter(Storage);

    public long ParameterCount(BenchmarkCase benchmarkCase) => Convert.ToInt64(benchmarkCase.Parameters["Size"], System.Globalization.CultureInfo.InvariantCulture);
}

#pragma warning disable CS1591
public class AdamFp32States : AdamStates
{
    protected override StateStorage Storage => StateStorage.Fp32;
}

public class AdamBf16States : AdamStates
{
    protected override StateStorage Storage => StateStorage.Bf16;
}

public class AdamBf16StochasticStates : AdamStates
{
    protected override StateStorage Storage => StateStorage.Bf16;

    protected override bool Stochastic => true;
}

public class AdamQ8States : AdamStates
{
    protected override StateStorage Storage => StateStorage.Q8;
}
#pragma warning restore CS1591

/// <summary>
/// The q8 table lookups, one thread over 16M elements: dequantize with permutes (<see cref="Q8.Decode512"/>) or gathers
/// (<see cref="Q8.Decode512Gather"/>); quantize with the eight-level search over permuted bound tables
/// (<see cref="Q8.Encode512"/>) or the bucket lookup (<see cref="Q8.Encode512Bucket"/>).
/// <c>--filter '*Q8Lookups*'</c>.
/// </summary>
public class Q8Lookups : IDisposable
{
    private float[] _x = null!, _back = null!, _absmax = null!;
    private byte[] _codes = null!;

    [Params(16 << 20)]
    public int Size { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(2);
        _x = new float[Size];
        for (int i = 0; i < Size; i++)
        {
            _x[i] = (float)((rng.NextDouble() - 0.5) * Math.Pow(10, -4 * rng.NextDouble()));
        }

        _back = new float[Size];
        _codes = new byte[Size];
        _absmax = new float[Q8.BlockCount(Size)];
        Q8.Quantize(_x, _codes, _absmax, DynamicMap.Signed, IsaSupport.Best);
    }

    [Benchmark(Baseline = true)]
    public void DequantizePermute() => Q8.Dequantize(_codes, _absmax, _back, DynamicMap.Signed, Isa.Avx512);

    [Benchmark]
    public void DequantizeGather() => StorageProbes.DequantizeWithGather(_codes, _absmax, _back, DynamicMap.Signed);

    [Benchmark]
    public void QuantizePermuteSearch() => Q8.Quantize(_x, _codes, _absmax, DynamicMap.Signed, Isa.Avx512);

    [Benchmark]
    public void QuantizeBucket() => StorageProbes.QuantizeWithBuckets(_x, _codes, _absmax, DynamicMap.Signed);

    [Benchmark]
    public void QuantizeBucketAvx2() => Q8.Quantize(_x, _codes, _absmax, DynamicMap.Signed, Isa.Avx2);

    public void Dispose() => GC.SuppressFinalize(this);
}

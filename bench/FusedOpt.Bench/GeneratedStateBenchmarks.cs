using System;
using System.Collections.Generic;
using BenchmarkDotNet.Attributes;
using FusedOpt.Benchmarks;
using FusedOpt.Memory;
using FusedOpt.Storage;

namespace FusedOpt.Bench;

/// <summary>
/// The catalogue's generated Adam through <see cref="Optimizer"/> at 16M parameters on 2 threads with its states
/// stored as fp32, bf16 (in the generated loops' registers) or q8 (staged through L1), each beside the same-traffic
/// probe over its own stored regions — what <c>fusedopt bench step --state fp32,bf16,q8</c> measures, in
/// BenchmarkDotNet's statistics. Run them in one run and compare the means:
/// <c>dotnet run -c Release --project bench/FusedOpt.Bench -- --filter '*GeneratedAdam*' --job short</c>.
/// (<see cref="AdamStates"/> measures the hand-written <see cref="CompressedAdam"/> the same way.)
/// </summary>
public abstract class GeneratedAdamStates : IStepBenchmark, IDisposable
{
    private ParameterArena _arena = null!;
    private Optimizer _optimizer = null!;
    private MemoryProbes _probes = null!;
    private List<(nint Pointer, long Bytes)> _readOnly = null!, _readWrite = null!;

    /// <summary>How m and v are stored.</summary>
    protected abstract StateStorage Storage { get; }

    [Params(16 << 20)]
    public int Size { get; set; }

    [Params(2)]
    public int Threads { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _arena = new ParameterArena();
        _arena.Add("x", Size);
        _arena.Build();
        var rng = new Random(1);
        var p = _arena.Params.Span;
        var g = _arena.Grads.Span;
        for (int i = 0; i < Size; i++)
        {
            p[i] = (float)(rng.NextDouble() - 0.5);
            g[i] = (float)(rng.NextDouble() - 0.5) * 1e-2f;
        }

        _optimizer = new Optimizer(_arena, OptimizerCatalog.Create("adam", null), new OptimizerOptions { Threads = Threads, StateStorage = Storage });
        _optimizer.Step();   // allocates the states, so the probe sees their regions
        _probes = new MemoryProbes(_arena.Length, Threads);
        (_readOnly, _readWrite) = MemoryProbes.SameTrafficRegions(_optimizer);
        Console.WriteLine($"// {GetType().Name}: {_optimizer}, {StateStorages.Name(Storage)} states, {_optimizer.TrafficBytesPerParameter} B/param.");
    }

    [GlobalCleanup]
    public void Dispose()
    {
        _optimizer?.Dispose();
        _probes?.Dispose();
        _arena?.Dispose();
        GC.SuppressFinalize(this);
    }

    [Benchmark]
    public void Step() => _optimizer.Step();

    [Benchmark]
    public void SameTrafficProbe() => _probes.SameTraffic(_readOnly, _readWrite);

    public int BytesPerParameter(string method) => (int)Math.Round(StateStorages.AdamBytesPerParameter(Storage));
}

#pragma warning disable CS1591
public class GeneratedAdamFp32States : GeneratedAdamStates
{
    protected override StateStorage Storage => StateStorage.Fp32;
}

public class GeneratedAdamBf16States : GeneratedAdamStates
{
    protected override StateStorage Storage => StateStorage.Bf16;
}

public class GeneratedAdamQ8States : GeneratedAdamStates
{
    protected override StateStorage Storage => StateStorage.Q8;
}
#pragma warning restore CS1591

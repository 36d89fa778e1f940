using System;
using System.Collections.Generic;
using BenchmarkDotNet.Attributes;
using FusedOpt.Benchmarks;
using FusedOpt.Kernels;
using FusedOpt.Memory;

namespace FusedOpt.Bench;

/// <summary>
/// One optimizer's step, four ways on the same buffers — naive multi-pass (the baseline), fused with the widest ISA,
/// fused Vector256, fused scalar — beside its same-traffic probe (the buffers the rule touches, read and written in
/// place with one add: the step's memory limit on this machine). Sizes span cache-resident (64K) to DRAM (16M, 64M).
/// </summary>
public abstract class StepBenchmarks : IStepBenchmark
{
    private ParameterArena _arena = null!;
    private Optimizer _naive = null!, _fused = null!, _vector256 = null!, _scalar = null!;
    private MemoryProbes _probes = null!;
    private List<AlignedBuffer> _readOnly = null!, _readWrite = null!;

    /// <summary>Catalogue name of the optimizer.</summary>
    protected abstract string OptimizerName { get; }

    /// <summary>Hyperparameters other than the defaults.</summary>
    protected virtual IReadOnlyDictionary<string, double>? Hyperparameters => null;

    public virtual IEnumerable<int> Sizes => [64 << 10, 1 << 20, 16 << 20];

    [ParamsSource(nameof(Sizes))]
    public int Size { get; set; }

    [Params(1, 2)]
    public int Threads { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var rule = OptimizerCatalog.Create(OptimizerName, Hyperparameters);
        _arena = new ParameterArena();
        _arena.Add("x", Size);
        _arena.Build();
        var rng = new Random(1);
        var p = _arena.Params.Span;
        var g = _arena.Grads.Span;
        for (int i = 0; i < p.Length; i++)
        {
            p[i] = (float)(rng.NextDouble() - 0.5);
            g[i] = (float)(rng.NextDouble() - 0.5) * 1e-2f;
        }

        _naive = new Optimizer(_arena, rule, new OptimizerOptions { Threads = Threads, Mode = StepMode.Naive });
        _fused = new Optimizer(_arena, rule, new OptimizerOptions { Threads = Threads });
        _vector256 = new Optimizer(_arena, rule, new OptimizerOptions { Threads = Threads, Isa = IsaSupport.IsSupported(Isa.Avx2) ? Isa.Avx2 : Isa.Scalar });
        _scalar = new Optimizer(_arena, rule, new OptimizerOptions { Threads = Threads, Isa = Isa.Scalar });
        _probes = new MemoryProbes(_arena.Length, Threads);
        (_readOnly, _readWrite) = MemoryProbes.SameTrafficBuffers(_fused);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _naive.Dispose();
        _fused.Dispose();
        _vector256.Dispose();
        _scalar.Dispose();
        _probes.Dispose();
        _arena.Dispose();
    }

    [Benchmark(Baseline = true)]
    public void Naive() => _naive.Step();

    [Benchmark]
    public void Fused() => _fused.Step();

    [Benchmark]
    public void FusedVector256() => _vector256.Step();

    [Benchmark]
    public void Scalar() => _scalar.Step();

    [Benchmark]
    public void SameTrafficProbe() => _probes.SameTraffic(_readOnly, _readWrite);

    public int BytesPerParameter(string method) => Optimizer.BytesPerParameterOf(OptimizerCatalog.Create(OptimizerName, Hyperparameters));
}

#pragma warning disable CS1591 // One class per optimizer, so that --filter '*.Adam.*' selects one.
public class Adam : StepBenchmarks
{
    protected override string OptimizerName => "adam";

    public override IEnumerable<int> Sizes => [64 << 10, 1 << 20, 16 << 20, 64 << 20];
}

public class AdamW : StepBenchmarks
{
    protected override string OptimizerName => "adamw";
}

public class Adamax : StepBenchmarks
{
    protected override string OptimizerName => "adamax";
}

public class NAdam : StepBenchmarks
{
    protected override string OptimizerName => "nadam";
}

public class RAdam : StepBenchmarks
{
    protected override string OptimizerName => "radam";
}

public class AdaBelief : StepBenchmarks
{
    protected override string OptimizerName => "adabelief";
}

public class Adagrad : StepBenchmarks
{
    protected override string OptimizerName => "adagrad";
}

public class Adadelta : StepBenchmarks
{
    protected override string OptimizerName => "adadelta";
}

public class RmsProp : StepBenchmarks
{
    protected override string OptimizerName => "rmsprop";
}

public class Sgd : StepBenchmarks
{
    protected override string OptimizerName => "sgd";
}

/// <summary>torch.optim.SGD with momentum 0.9 (one state buffer).</summary>
public class SgdWithMomentum : StepBenchmarks
{
    protected override string OptimizerName => "sgd";

    protected override IReadOnlyDictionary<string, double> Hyperparameters => new Dictionary<string, double> { ["momentum"] = 0.9 };

    public override IEnumerable<int> Sizes => [64 << 10, 1 << 20, 16 << 20, 64 << 20];
}

public class SgdEma : StepBenchmarks
{
    protected override string OptimizerName => "sgd-ema";
}

public class SgdMomentumVelocity : StepBenchmarks
{
    protected override string OptimizerName => "sgd-momentum";
}

public class SgdNesterovVelocity : StepBenchmarks
{
    protected override string OptimizerName => "sgd-nesterov";
}

public class NadamSurvey : StepBenchmarks
{
    protected override string OptimizerName => "nadam-survey";
}
#pragma warning restore CS1591

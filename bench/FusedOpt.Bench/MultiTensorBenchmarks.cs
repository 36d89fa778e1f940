using System;
using System.Collections.Generic;
using System.Linq;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Running;
using FusedOpt.Memory;

namespace FusedOpt.Bench;

/// <summary>
/// The multi-tensor case: a VGG11-shaped model for CIFAR-10 (8 conv layers with batch norm, a linear head: 34 tensors,
/// 9.23M parameters) in one arena, stepped by one fused sweep, against stepping the same tensors one by one (one
/// dispatch per tensor, as a per-parameter for-loop does).
/// </summary>
public class MultiTensor : IStepBenchmark
{
    private ParameterArena _arena = null!;
    private Optimizer _sweep = null!, _perTensor = null!;

    /// <summary>(in, out) channels of VGG11's eight 3×3 convolutions.</summary>
    public static readonly (int In, int Out)[] Convolutions = [(3, 64), (64, 128), (128, 256), (256, 256), (256, 512), (512, 512), (512, 512), (512, 512)];

    [Params(1, 2)]
    public int Threads { get; set; }

    /// <summary>Total parameters, for the columns.</summary>
    public static long Size => BuildShapes().Sum(static s => s.Shape.Aggregate(1L, static (a, d) => a * d));

    public static IEnumerable<(string Name, int[] Shape)> BuildShapes()
    {
        for (int i = 0; i < Convolutions.Length; i++)
        {
            var (cin, cout) = Convolutions[i];
            yield return ($"conv{i}.weight", [cout, cin, 3, 3]);
            yield return ($"conv{i}.bias", [cout]);
            yield return ($"bn{i}.weight", [cout]);
            yield return ($"bn{i}.bias", [cout]);
        }

        yield return ("fc.weight", [10, 512]);
        yield return ("fc.bias", [10]);
    }

    [GlobalSetup]
    public void Setup()
    {
        _arena = new ParameterArena();
        foreach (var (name, shape) in BuildShapes())
        {
            _arena.Add(name, shape);
        }

        _arena.Build();
        var rng = new Random(1);
        var g = _arena.Grads.Span;
        for (int i = 0; i < g.Length; i++)
        {
            g[i] = (float)(rng.NextDouble() - 0.5) * 1e-2f;
        }

        _sweep = new Optimizer(_arena, new Optimizers.Adam(), new OptimizerOptions { Threads = Threads });
        _perTensor = new Optimizer(_arena, new Optimizers.Adam(), new OptimizerOptions { Threads = Threads, Sweep = SweepMode.PerTensor });
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _sweep.Dispose();
        _perTensor.Dispose();
        _arena.Dispose();
    }

    [Benchmark(Baseline = true)]
    public void TensorByTensor() => _perTensor.Step();

    [Benchmark]
    public void OneArenaSweep() => _sweep.Step();

    public int BytesPerParameter(string method) => Optimizer.BytesPerParameterOf(new Optimizers.Adam());

    public long ParameterCount(BenchmarkCase benchmarkCase) => Size;
}

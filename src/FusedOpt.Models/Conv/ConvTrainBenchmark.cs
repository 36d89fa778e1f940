using System;
using System.Collections.Immutable;
using System.Diagnostics;
using System.Linq;
using FusedOpt.Models.Layers;
using FusedOpt.Models.Linalg;
using FusedOpt.Optimizers;

namespace FusedOpt.Models;

/// <summary>Options of <see cref="ConvTrainBenchmark.Run"/>.</summary>
public sealed record ConvTrainBenchOptions
{
    /// <summary>Width multiplier of VGG11.</summary>
    public double Width { get; init; } = 1;

    /// <summary>Images per iteration.</summary>
    public int Batch { get; init; } = 128;

    /// <summary>Threads (GEMM and optimizer step).</summary>
    public int Threads { get; init; } = 2;

    /// <summary>Timed iterations per step mode.</summary>
    public int Iterations { get; init; } = 10;

    /// <summary>Untimed iterations first (JIT, first touch, workspaces).</summary>
    public int Warmup { get; init; } = 2;

    /// <summary>Convolution algorithm of every layer.</summary>
    public Layers.ConvAlgorithm Algorithm { get; init; } = Layers.ConvAlgorithm.Auto;

    /// <summary>Seed of the parameters and the synthetic batch.</summary>
    public ulong Seed { get; init; } = 1;
}

/// <summary>Time per pass of one layer, averaged over the fused-step iterations.</summary>
/// <param name="Layer">Layer name.</param>
/// <param name="Kind">What it computes.</param>
/// <param name="ForwardMs">Forward, ms per iteration.</param>
/// <param name="BackwardDataMs">dL/dx half of backward, ms per iteration.</param>
/// <param name="BackwardWeightsMs">dL/dθ half of backward, ms per iteration (BN: the statistics pass).</param>
/// <param name="GigaFlop">Multiply-add work of each GEMM-like pass in GFLOP (2 per multiply-add); 0 for elementwise layers.</param>
/// <param name="ForwardGflops">GFLOP/s of the forward pass (0 when not a product).</param>
/// <param name="BackwardDataGflops">GFLOP/s of the data half (0 when not a product or skipped).</param>
/// <param name="BackwardWeightsGflops">GFLOP/s of the weight half.</param>
public sealed record LayerBreakdown(
    string Layer, string Kind, double ForwardMs, double BackwardDataMs, double BackwardWeightsMs, double GigaFlop,
    double ForwardGflops, double BackwardDataGflops, double BackwardWeightsGflops);

/// <summary>The result of <see cref="ConvTrainBenchmark.Run"/>.</summary>
/// <param name="Model">Model name and width.</param>
/// <param name="Batch">Images per iteration.</param>
/// <param name="Threads">Threads.</param>
/// <param name="Parameters">Trainable parameters.</param>
/// <param name="FusedImagesPerSecond">Best iteration with the fused SGD-momentum step.</param>
/// <param name="FusedMsPerIteration">Its time.</param>
/// <param name="FusedMedianMsPerIteration">Median iteration, fused step.</param>
/// <param name="PeakGflops">FMA peak measured in the same run (<see cref="GemmPeak"/>), same threads.</param>
/// <param name="PeakWorkingSetMiB">Peak resident memory of the process.</param>
/// <param name="Layers">Per-layer breakdown.</param>
public sealed record ConvTrainBenchResult(
    string Model, int Batch, int Threads, long Parameters, double FusedImagesPerSecond, double FusedMsPerIteration, double FusedMedianMsPerIteration,
    double PeakGflops, double PeakWorkingSetMiB, ImmutableArray<LayerBreakdown> Layers);

/// <summary>
/// Training throughput of VGG11-BN on a synthetic CIFAR-shaped batch with SGD-momentum (lr 0.01, momentum 0.9), as
/// PyTorch's side of the comparison (bench/pytorch/vgg_train.py) runs it: forward, cross-entropy, backward, step.
/// </summary>
public static class ConvTrainBenchmark
{
    /// <summary>
    /// Runs the benchmark: warm-up, then timed iterations with the fused optimizer step (one model only, so the peak
    /// memory is that of one training setup; the fused-vs-naive step comparison is FCN's benchmark).
    /// </summary>
    public static ConvTrainBenchResult Run(ConvTrainBenchOptions? options = null)
    {
        options ??= new ConvTrainBenchOptions();
        if (options.Batch < 2 || options.Iterations < 1 || options.Warmup < 0 || options.Threads < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(options), $"bench: need batch ≥ 2 (batch norm), iterations ≥ 1, warmup ≥ 0 and threads ≥ 1; got {options.Batch}, {options.Iterations}, {options.Warmup}, {options.Threads}.");
        }

        var spec = Vgg.Spec(options.Width, algorithm: options.Algorithm);
        var rule = new Sgd(Lr: 0.01f, Momentum: 0.9f);
        using var fused = new TrainingStep(spec, rule, options.Threads, StepMode.Fused, options.Seed);
        int batch = options.Batch;
        var rng = Rng.Derive(options.Seed, "bench:vgg");
        float[] images = new float[batch * fused.Model.InputFeatures];
        for (int i = 0; i < images.Length; i++)
        {
            images[i] = (float)rng.NextGaussian();
        }

        int[] labels = [.. Enumerable.Range(0, batch).Select(_ => rng.NextInt(10))];
        for (int i = 0; i < options.Warmup; i++)
        {
            fused.Step(images, labels, batch);
        }

        double peak = GemmPeak.Measure(options.Threads);
        foreach (var layer in fused.Model.Layers)
        {
            layer.Timings.Reset();
        }

        double[] fusedSeconds = new double[options.Iterations];
        for (int i = 0; i < options.Iterations; i++)
        {
            long start = Stopwatch.GetTimestamp();
            fused.Step(images, labels, batch);
            fusedSeconds[i] = Stopwatch.GetElapsedTime(start).TotalSeconds;
        }

        Array.Sort(fusedSeconds);
        var layers = fused.Model.Layers.Select(l => Breakdown(l, batch)).ToImmutableArray();
        double peakMiB = Process.GetCurrentProcess().PeakWorkingSet64 / (1024.0 * 1024.0);
        return new ConvTrainBenchResult(
            $"vgg11 (width {options.Width}, {options.Algorithm})", batch, options.Threads, fused.Arena.ParameterCount,
            batch / fusedSeconds[0], 1e3 * fusedSeconds[0], 1e3 * fusedSeconds[fusedSeconds.Length / 2],
            peak, peakMiB, layers);
    }

    private static LayerBreakdown Breakdown(Layer<float> layer, int batch)
    {
        var t = layer.Timings;
        double fwd = LayerTimings.Milliseconds(t.Forward, t.ForwardCalls);
        double data = LayerTimings.Milliseconds(t.BackwardData, t.BackwardCalls), weights = LayerTimings.Milliseconds(t.BackwardWeights, t.BackwardCalls);
        (string kind, double flop) = layer switch
        {
            Conv2d<float> c => ($"conv {c.InputShape} → {c.Output} {(c.UsesWinograd ? "winograd" : "im2col")}", 2.0 * batch * c.Output.Pixels * c.Output.Channels * c.Depth),
            Linear<float> l => ($"linear {l.InputFeatures} → {l.OutputFeatures}", 2.0 * batch * l.InputFeatures * l.OutputFeatures),
            BatchNorm2d<float> b => (b.FusedReLU ? $"bn+relu {b.Shape}" : $"bn {b.Shape}", 0),
            MaxPool2d<float> p => ($"maxpool {p.InputShape} → {p.Output}", 0),
            _ => (layer.Spec.ToString(), 0),
        };
        double gflop = flop / 1e9;
        double Rate(double ms) => flop > 0 && ms > 0.01 ? gflop / (ms / 1e3) : 0;
        return new LayerBreakdown(layer.Name, kind, fwd, data, weights, gflop, Rate(fwd), Rate(data), Rate(weights));
    }
}

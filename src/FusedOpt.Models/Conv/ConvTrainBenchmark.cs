using System;
using System.Collections.Immutable;
using System.Diagnostics;
using System.Linq;
using FusedOpt.Memory;
using FusedOpt.Models.Layers;
using FusedOpt.Models.Linalg;
using FusedOpt.Models.Training;
using FusedOpt.Optimizers;
using FusedOpt.Storage;

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

    /// <summary>
    /// Also time a second model whose fused step runs inside backward, iterations alternating with the separate step's
    /// (the peak memory then holds both models).
    /// </summary>
    public bool StepInBackward { get; init; }

    /// <summary>How the optimizer stores its states (<see cref="OptimizerOptions.StateStorage"/>; fp32 by default).</summary>
    public StateStorage StateStorage { get; init; } = StateStorage.Fp32;
}

/// <summary>The step inside backward, timed alternately with the separate fused step in the same run.</summary>
/// <param name="BestSeconds">Best iteration with the step inside backward.</param>
/// <param name="MedianSeconds">Median iteration with the step inside backward.</param>
/// <param name="FusedBestSeconds">Best iteration with the separate fused step, from the same alternating loop.</param>
/// <param name="Traffic">The optimizer traffic per iteration and the part found in cache inside backward.</param>
public sealed record ConvInBackwardResult(double BestSeconds, double MedianSeconds, double FusedBestSeconds, StepTraffic Traffic);

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
    double PeakGflops, double PeakWorkingSetMiB, ImmutableArray<LayerBreakdown> Layers)
{
    /// <summary>The step inside backward, when <see cref="ConvTrainBenchOptions.StepInBackward"/> asked for it.</summary>
    public ConvInBackwardResult? InBackward { get; init; }

    /// <summary>The timed optimizer's state storage, read back from it: fp32, bf16 or q8 (<see cref="ConvTrainBenchOptions.StateStorage"/>).</summary>
    public string State { get; init; } = "fp32";

    /// <summary>The timed optimizer's memory traffic per iteration at its stored state size.</summary>
    public StepTraffic Traffic { get; init; }
}

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
        var optimizerOptions = new OptimizerOptions { Threads = options.Threads, Mode = StepMode.Fused, StateStorage = options.StateStorage };
        using var fused = new TrainingStep(spec, rule, optimizerOptions, options.Seed, stepInBackward: false);
        int batch = options.Batch;
        var rng = Rng.Derive(options.Seed, "bench:vgg");
        float[] images = new float[batch * fused.Model.InputFeatures];
        for (int i = 0; i < images.Length; i++)
        {
            images[i] = (float)rng.NextGaussian();
        }

        int[] labels = [.. Enumerable.Range(0, batch).Select(_ => rng.NextInt(10))];
        using var inBackward = options.StepInBackward ? new TrainingStep(spec, rule, optimizerOptions, options.Seed, stepInBackward: true) : null;
        for (int i = 0; i < options.Warmup; i++)
        {
            fused.Step(images, labels, batch);
            inBackward?.Step(images, labels, batch);
        }

        double peak = GemmPeak.Measure(options.Threads);
        foreach (var layer in fused.Model.Layers)
        {
            layer.Timings.Reset();
        }

        double[] fusedSeconds = new double[options.Iterations];
        double[] backwardSeconds = new double[options.Iterations];
        for (int i = 0; i < options.Iterations; i++)
        {
            long start = Stopwatch.GetTimestamp();
            fused.Step(images, labels, batch);
            fusedSeconds[i] = Stopwatch.GetElapsedTime(start).TotalSeconds;
            if (inBackward is not null)
            {
                start = Stopwatch.GetTimestamp();
                inBackward.Step(images, labels, batch);
                backwardSeconds[i] = Stopwatch.GetElapsedTime(start).TotalSeconds;
            }
        }

        Array.Sort(fusedSeconds);
        Array.Sort(backwardSeconds);
        var layers = fused.Model.Layers.Select(l => Breakdown(l, batch)).ToImmutableArray();
        double peakMiB = Process.GetCurrentProcess().PeakWorkingSet64 / (1024.0 * 1024.0);
        return new ConvTrainBenchResult(
            $"vgg11 (width {options.Width}, {options.Algorithm})", batch, options.Threads, fused.Arena.ParameterCount,
            batch / fusedSeconds[0], 1e3 * fusedSeconds[0], 1e3 * fusedSeconds[fusedSeconds.Length / 2],
            peak, peakMiB, layers)
        {
            State = StateStorages.Name(fused.Optimizer.Options.StateStorage),
            Traffic = StepTraffic.Of(fused.Optimizer),
            InBackward = inBackward is null ? null : new ConvInBackwardResult(backwardSeconds[0], backwardSeconds[backwardSeconds.Length / 2], fusedSeconds[0], StepTraffic.Of(inBackward.Optimizer)),
        };
    }

    private static LayerBreakdown Breakdown(Layer<float> layer, int batch)
    {
        var t = layer.Timings;
        double fwd = LayerTimings.Milliseconds(t.Forward, t.ForwardCalls);
        double data = LayerTimings.Milliseconds(t.BackwardData, t.BackwardCalls), weights = LayerTimings.Milliseconds(t.BackwardWeights, t.BackwardCalls);
        (string kind, double flop) = layer switch
        {
            Conv2d<float> c => ($"conv {c.InputShape} → {c.Output} {c.Implementation switch { ConvAlgorithm.Winograd => "winograd", ConvAlgorithm.Winograd4x4 => "winograd4x4", _ => "im2col" }}", 2.0 * batch * c.Output.Pixels * c.Output.Channels * c.Depth),
            Linear<float> l => ($"linear {l.InputFeatures} → {l.OutputFeatures}", 2.0 * batch * l.InputFeatures * l.OutputFeatures),
            BatchNorm2d<float> b => (b.FusedReLU ? $"bn+relu {b.Shape}" : $"bn {b.Shape}", 0),
            MaxPool2d<float> p => ($"maxpool {p.InputShape} → {p.Output}", 0),
            _ => (layer.Spec.ToString(), 0),
        };
        double gflop = flop / 1e9;
        double Rate(double ms) => flop > 0 && ms >= 0.1 ? gflop / (ms / 1e3) : 0; // a skipped half (the first layer's dL/dx) reads ~0 ms
        return new LayerBreakdown(layer.Name, kind, fwd, data, weights, gflop, Rate(fwd), Rate(data), Rate(weights));
    }

    /// <summary>
    /// Times every convolution of VGG11 (at <see cref="ConvTrainBenchOptions.Width"/> and batch) alone with each
    /// algorithm that applies, alternating between them <paramref name="repeats"/> times and keeping each pass's
    /// fastest run: the measurement behind <see cref="ConvAlgorithm.Auto"/>'s choice.
    /// </summary>
    public static ImmutableArray<ConvAlgorithmTiming> CompareAlgorithms(ConvTrainBenchOptions? options = null, int repeats = 5)
    {
        options ??= new ConvTrainBenchOptions();
        int batch = options.Batch;
        var rows = ImmutableArray.CreateBuilder<ConvAlgorithmTiming>();
        using var matMul = new MatMul<float>(options.Threads);
        using var pool = options.Threads > 1 ? new Threading.WorkerPool(options.Threads) : null;
        foreach (var spec in Vgg.Spec(options.Width, algorithm: ConvAlgorithm.Im2Col).Layers.OfType<Conv2dSpec>())
        {
            var candidates = new[] { ConvAlgorithm.Im2Col, ConvAlgorithm.Winograd, ConvAlgorithm.Winograd4x4 }
                .Where(a => a == ConvAlgorithm.Im2Col || Conv2d<float>.WinogradApplies(spec.Input, spec.OutChannels, spec.Kernel, spec.Stride, spec.Padding))
                .ToArray();
            var layers = candidates.Select(a => new Conv2d<float>(spec.Name, spec.Input, spec.OutChannels, spec.Kernel, spec.Stride, spec.Padding, spec.Bias, a)).ToArray();
            var arenas = layers.Select(l =>
            {
                var arena = new ParameterArena();
                l.Register(arena, static _ => 0);
                arena.Build();
                l.Bind(new ArenaParameters(arena));
                l.Initialize(options.Seed);
                l.Attach(pool);
                return arena;
            }).ToArray();
            try
            {
                var rng = Rng.Derive(options.Seed, spec.Name);
                float[] x = [.. Enumerable.Range(0, batch * spec.Input.Size).Select(_ => (float)rng.NextGaussian())];
                float[] dy = [.. Enumerable.Range(0, batch * spec.Output.Size).Select(_ => (float)rng.NextGaussian())];
                float[] y = new float[dy.Length], dx = new float[x.Length];
                var best = new (double Forward, double Data, double Weights)[layers.Length];
                Array.Fill(best, (double.MaxValue, double.MaxValue, double.MaxValue));
                for (int r = 0; r <= repeats; r++)
                {
                    for (int i = 0; i < layers.Length; i++)
                    {
                        var layer = layers[i];
                        layer.Timings.Reset();
                        long start = Stopwatch.GetTimestamp();
                        layer.Forward(matMul, x, y, batch, training: true);
                        double forward = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                        start = Stopwatch.GetTimestamp();
                        layer.Backward(matMul, x, y, dy, dx, batch, inputGradient: true);
                        double backward = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                        double weights = LayerTimings.Milliseconds(layer.Timings.BackwardWeights, 1);
                        if (r > 0)
                        {
                            best[i] = (Math.Min(best[i].Forward, forward), Math.Min(best[i].Data, backward - weights), Math.Min(best[i].Weights, weights));
                        }
                    }
                }

                for (int i = 0; i < layers.Length; i++)
                {
                    rows.Add(new ConvAlgorithmTiming(spec.Name, spec.ToString(), candidates[i], best[i].Forward, best[i].Data, best[i].Weights, candidates[i] == new Conv2d<float>(spec.Name, spec.Input, spec.OutChannels, spec.Kernel, spec.Stride, spec.Padding, spec.Bias).Implementation));
                }
            }
            finally
            {
                foreach (var arena in arenas)
                {
                    arena.Dispose();
                }
            }
        }

        return rows.ToImmutable();
    }
}

/// <summary>One convolution with one algorithm, fastest of the repeats, ms.</summary>
/// <param name="Layer">Layer name.</param>
/// <param name="Shape">The convolution.</param>
/// <param name="Algorithm">The algorithm timed.</param>
/// <param name="ForwardMs">Forward.</param>
/// <param name="BackwardDataMs">Backward-data half.</param>
/// <param name="BackwardWeightsMs">Backward-weights half (Winograd from the forward's transformed tiles for both Winograd sizes, else im2col + GEMM).</param>
/// <param name="ChosenByAuto">Whether <see cref="ConvAlgorithm.Auto"/> picks this algorithm for this layer.</param>
public sealed record ConvAlgorithmTiming(string Layer, string Shape, ConvAlgorithm Algorithm, double ForwardMs, double BackwardDataMs, double BackwardWeightsMs, bool ChosenByAuto)
{
    /// <summary>All three passes.</summary>
    public double TotalMs => ForwardMs + BackwardDataMs + BackwardWeightsMs;
}

using System;
using System.CommandLine;
using System.Globalization;
using System.Linq;
using FusedOpt.Models;
using FusedOpt.Models.Data;
using FusedOpt.Models.Training;
using FusedOpt.Storage;
using Spectre.Console;

namespace FusedOpt.Cli.Commands;

/// <summary>
/// <c>fusedopt bench train</c>: training throughput (images per second) of a model on synthetic CIFAR-shaped data —
/// offline, no download — with the fused optimizer step and with the naive multi-pass step, measured in one run.
/// </summary>
internal static class BenchTrainCommand
{
    private const int Rounds = 3;

    public static Command Create(CliContext context)
    {
        var model = new Option<string>("--model") { Description = "Model: fcn or vgg11.", DefaultValueFactory = static _ => "fcn" };
        var conv = new Option<Models.Layers.ConvAlgorithm>("--conv") { Description = "vgg11: convolution algorithm: auto (by image size: Winograd F(4×4, 3×3) from 4×4, F(2×2, 3×3) on 2×2, else im2col), im2col, winograd (F(2×2, 3×3)), winograd4x4 (F(4×4, 3×3)).", DefaultValueFactory = static _ => Models.Layers.ConvAlgorithm.Auto };
        var compare = new Option<bool>("--compare-conv") { Description = "vgg11: time each convolution alone with every algorithm that applies (the measurement behind --conv auto)." };
        var width = new Option<double>("--width") { Description = "vgg11: width multiplier of every channel count.", DefaultValueFactory = static _ => 1.0 };
        var hidden = new Option<string>("--hidden") { Description = "Hidden layer widths.", DefaultValueFactory = static _ => "500,500,500" };
        var optimizer = new Option<string>("--optimizer") { Description = "Optimizer.", DefaultValueFactory = static _ => "adam" };
        var batch = new Option<int>("--batch") { Description = "Minibatch size.", DefaultValueFactory = static _ => 128 };
        var iterations = new Option<int>("--iterations") { Description = "Measured iterations (after as many for warm-up).", DefaultValueFactory = static _ => 40 };
        var threads = new Option<int>("--threads") { Description = "Threads.", DefaultValueFactory = static _ => Math.Min(2, Environment.ProcessorCount) };
        var json = new Option<bool>("--json") { Description = "Print JSON." };
        var inBackward = new Option<bool>("--step-in-backward") { Description = "Also measure the fused step inside backward (each layer stepped as its gradients complete), same run, and the optimizer traffic it keeps in cache." };
        var state = ReplayCommand.StateOption("How the optimizer stores its states: fp32, bf16 or q8 (blockwise 8-bit, as bitsandbytes; tensors under 4096 elements keep fp32); every model measured in the run uses it. The naive row then decodes and re-encodes full-size state copies around its passes.");
        var command = new Command("train", "Training throughput (img/s) on synthetic data, fused vs naive optimizer step.") { model, width, conv, compare, hidden, optimizer, batch, iterations, threads, json, inBackward, state };
        command.SetAction(parse => context.Guard(() =>
        {
            int size = parse.GetValue(batch), steps = parse.GetValue(iterations);
            if (size < 1 || steps < 1)
            {
                throw new ArgumentOutOfRangeException(nameof(batch), $"--batch and --iterations must be ≥ 1, got {size} and {steps}.");
            }

            var storage = StateStorages.Parse(parse.GetValue(state), "--state");

            if (parse.GetValue(model)!.Trim().ToLowerInvariant() is "vgg11" or "vgg" && parse.GetValue(compare))
            {
                if (storage != StateStorage.Fp32)
                {
                    throw new UsageException($"--compare-conv times the convolutions alone, without an optimizer; --state {StateStorages.Name(storage)} does not apply to it (drop one of the two).");
                }

                var rows = ConvTrainBenchmark.CompareAlgorithms(new ConvTrainBenchOptions { Width = parse.GetValue(width), Batch = size, Threads = ReplayCommand.CheckThreads(parse.GetValue(threads)) }, parse.GetResult(iterations) is null ? 5 : steps);
                if (parse.GetValue(json))
                {
                    context.WriteRaw(Json.Serialize(rows));
                    return 0;
                }

                var table = BenchTables.Create($"VGG11 convolutions alone, batch {size}: fastest ms per pass", 3, "layer", "shape", "algorithm", "forward", "backward data", "backward weights", "total", "auto");

                foreach (var r in rows)
                {
                    table.AddRow(r.Layer, Markup.Escape(r.Shape), r.Algorithm.ToString(), F(r.ForwardMs), F(r.BackwardDataMs), F(r.BackwardWeightsMs), F(r.TotalMs), r.ChosenByAuto ? "✓" : "");
                }

                context.Console.Write(table);
                return 0;
            }

            if (parse.GetValue(model)!.Trim().ToLowerInvariant() is "vgg11" or "vgg")
            {
                return Vgg(context, new ConvTrainBenchOptions { Width = parse.GetValue(width), Algorithm = parse.GetValue(conv), Batch = size, Iterations = parse.GetResult(iterations) is null ? 10 : steps, Threads = ReplayCommand.CheckThreads(parse.GetValue(threads)), StepInBackward = parse.GetValue(inBackward), StateStorage = storage }, parse.GetValue(json));
            }

            FusedOpt.Memory.MemoryBudget.Require(((long)size * steps + size) * (Cifar10Layout.ImageSize + 1), $"bench train --batch {size} --iterations {steps} (synthetic images)");
            var data = Synthetic(size * steps, size);
            var options = new TrainOptions
            {
                Model = parse.GetValue(model)!,
                Hidden = [.. parse.GetValue(hidden)!.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).Select(static w => int.Parse(w, CultureInfo.InvariantCulture))],
                Optimizer = parse.GetValue(optimizer)!,
                BatchSize = size,
                Epochs = Rounds + 1,
                Threads = ReplayCommand.CheckThreads(parse.GetValue(threads)),
                EvalBatchSize = size,
                StateStorage = storage,
            };
            options.Validate();

            // One warm-up epoch each (JIT, first touch, GEMM packing buffers), then measured epochs alternating between
            // the two so that a noisy neighbour hurts both alike; the best epoch of each counts.
            using var fusedTrainer = new Trainer(data, options with { StepMode = StepMode.Fused, Epochs = Rounds + 1 });
            using var naiveTrainer = new Trainer(data, options with { StepMode = StepMode.Naive, Epochs = Rounds + 1 });
            using var backwardTrainer = parse.GetValue(inBackward) ? new Trainer(data, options with { StepMode = StepMode.Fused, Epochs = Rounds + 1, StepInBackward = true }) : null;
            fusedTrainer.RunEpoch();
            naiveTrainer.RunEpoch();
            backwardTrainer?.RunEpoch();
            (double Ips, double Ms) fused = (0, double.PositiveInfinity), naive = (0, double.PositiveInfinity), backward = (0, double.PositiveInfinity);
            for (int round = 0; round < Rounds; round++)
            {
                var f = fusedTrainer.RunEpoch();
                var n = naiveTrainer.RunEpoch();
                fused = f.ImagesPerSecond > fused.Ips ? (f.ImagesPerSecond, 1e3 * f.Seconds / fusedTrainer.BatchesPerEpoch) : fused;
                naive = n.ImagesPerSecond > naive.Ips ? (n.ImagesPerSecond, 1e3 * n.Seconds / naiveTrainer.BatchesPerEpoch) : naive;
                if (backwardTrainer?.RunEpoch() is { } b && b.ImagesPerSecond > backward.Ips)
                {
                    backward = (b.ImagesPerSecond, 1e3 * b.Seconds / backwardTrainer.BatchesPerEpoch);
                }
            }

            long parameters = fusedTrainer.Arena.ParameterCount;
            var traffic = StepTraffic.Of(fusedTrainer.Optimizer);

            if (parse.GetValue(json))
            {
                context.WriteRaw(Json.Serialize(backwardTrainer is null
                    ? new { options.Model, options.Hidden, options.Optimizer, State = StateStorages.Name(fusedTrainer.Optimizer.Options.StateStorage), Batch = size, options.Threads, Parameters = parameters, FusedImagesPerSecond = fused.Ips, FusedMsPerIteration = fused.Ms, NaiveImagesPerSecond = naive.Ips, NaiveMsPerIteration = naive.Ms }
                    : (object)new { options.Model, options.Hidden, options.Optimizer, State = StateStorages.Name(fusedTrainer.Optimizer.Options.StateStorage), Batch = size, options.Threads, Parameters = parameters, FusedImagesPerSecond = fused.Ips, FusedMsPerIteration = fused.Ms, NaiveImagesPerSecond = naive.Ips, NaiveMsPerIteration = naive.Ms, InBackwardImagesPerSecond = backward.Ips, InBackwardMsPerIteration = backward.Ms, StepBytesPerIteration = traffic.StepBytes, InCacheBytesPerIteration = traffic.InCacheBytes }));
                return 0;
            }

            context.Console.MarkupLineInterpolated($"{options.Model} [[{string.Join("×", options.Hidden)}]] ({parameters:N0} parameters), {options.Optimizer}, {StateStorages.Name(storage)} states, batch {size}, {options.Threads} thread(s), synthetic data");
            context.Console.MarkupLineInterpolated($"fused step: [bold]{fused.Ips:N0} img/s[/] ({fused.Ms:0.00} ms/iteration)");
            context.Console.MarkupLineInterpolated($"naive step: {naive.Ips:N0} img/s ({naive.Ms:0.00} ms/iteration); the fused step saves {naive.Ms - fused.Ms:0.00} ms per iteration");
            if (backwardTrainer is not null)
            {
                context.Console.MarkupLineInterpolated($"fused step inside backward: [bold]{backward.Ips:N0} img/s[/] ({backward.Ms:0.00} ms/iteration), {backward.Ips / fused.Ips:0.00}× the separate fused step; {traffic.Describe()}");
            }

            return 0;
        }));
        return command;
    }

    private static string F(double ms) => BenchTables.Number(ms, "0.00");

    /// <summary>VGG11-BN with SGD-momentum: throughput, per-layer breakdown and peak memory.</summary>
    private static int Vgg(CliContext context, ConvTrainBenchOptions options, bool json)
    {
        var result = ConvTrainBenchmark.Run(options);
        int batch = options.Batch, threads = options.Threads;
        if (json)
        {
            context.WriteRaw(Json.Serialize(result));
            return 0;
        }

        context.Console.MarkupLineInterpolated($"{result.Model} ({result.Parameters:N0} parameters), sgd momentum 0.9, {result.State} states, batch {batch}, {threads} thread(s), synthetic data");
        context.Console.MarkupLineInterpolated($"fused step: [bold]{result.FusedImagesPerSecond:N1} img/s[/] ({result.FusedMsPerIteration:0.0} ms/iteration best, {result.FusedMedianMsPerIteration:0.0} median)");
        if (result.InBackward is { } b)
        {
            context.Console.MarkupLineInterpolated($"fused step inside backward: [bold]{batch / b.BestSeconds:N1} img/s[/] ({1e3 * b.BestSeconds:0.0} ms/iteration best, {1e3 * b.MedianSeconds:0.0} median), {b.FusedBestSeconds / b.BestSeconds:0.00}× the separate fused step measured alternately; {b.Traffic.Describe()}");
        }

        context.Console.MarkupLineInterpolated($"peak resident memory {result.PeakWorkingSetMiB:N0} MiB; FMA peak measured in this run {result.PeakGflops:N1} GFLOP/s");
        var table = BenchTables.Create("Per layer, ms per iteration (GFLOP/s, % of FMA peak)", 2, "layer", "kind", "forward", "backward data", "backward weights");

        string Cell(double ms, double gflops) => gflops > 0
            ? string.Create(CultureInfo.InvariantCulture, $"{ms:0.00} ({gflops:0} GF/s, {gflops / result.PeakGflops:P0})")
            : F(ms);
        foreach (var l in result.Layers)
        {
            table.AddRow(new Text(l.Layer), new Text(l.Kind), new Text(Cell(l.ForwardMs, l.ForwardGflops)), new Text(Cell(l.BackwardDataMs, l.BackwardDataGflops)), new Text(Cell(l.BackwardWeightsMs, l.BackwardWeightsGflops)));
        }

        context.Console.Write(table);
        return 0;
    }

    /// <summary>Random CIFAR-shaped images and labels from a fixed seed.</summary>
    private static Cifar10Dataset Synthetic(int trainImages, int testImages)
    {
        var rng = new Rng(12345);
        ImageSet Make(string name, int count)
        {
            var pixels = new byte[count * Cifar10Layout.ImageSize];
            var labels = new byte[count];
            for (int i = 0; i < pixels.Length; i++)
            {
                pixels[i] = (byte)rng.NextInt(256);
            }

            for (int i = 0; i < count; i++)
            {
                labels[i] = (byte)rng.NextInt(10);
            }

            return new ImageSet(name, pixels, labels);
        }

        var train = Make("synthetic-train", trainImages);
        return new Cifar10Dataset("(synthetic)", train, Make("synthetic-test", testImages), ChannelNormalization.FromImages(train));
    }
}

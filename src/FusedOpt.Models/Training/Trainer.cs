using System;
using System.Diagnostics;
using System.Linq;
using System.Numerics.Tensors;
using FusedOpt.Memory;
using FusedOpt.Models.Data;
using FusedOpt.Models.Losses;
using FusedOpt.Models.Training.Metrics;
using FusedOpt.Models.Training.Schedules;

namespace FusedOpt.Models.Training;

/// <summary>Progress of a training run, reported after every iteration.</summary>
/// <param name="Epoch">Current epoch, 1-based.</param>
/// <param name="Batch">Batch within the epoch, 1-based.</param>
/// <param name="BatchesPerEpoch">Batches per epoch.</param>
/// <param name="Iteration">Optimizer steps so far.</param>
/// <param name="Loss">Loss of this batch.</param>
/// <param name="Accuracy">Accuracy of this batch.</param>
/// <param name="ImagesPerSecond">Training throughput of this epoch so far.</param>
public readonly record struct TrainProgress(int Epoch, int Batch, int BatchesPerEpoch, long Iteration, double Loss, double Accuracy, double ImagesPerSecond);

/// <summary>Loss and accuracy over a set of images, in evaluation mode.</summary>
/// <param name="Loss">Mean cross-entropy.</param>
/// <param name="Accuracy">Fraction classified correctly.</param>
/// <param name="Images">Images evaluated.</param>
public readonly record struct Evaluation(double Loss, double Accuracy, int Images);

/// <summary>What one epoch produced.</summary>
/// <param name="Epoch">The epoch, 1-based.</param>
/// <param name="Iteration">Optimizer steps after it.</param>
/// <param name="TrainLoss">Mean loss over the epoch's batches.</param>
/// <param name="TrainAccuracy">Accuracy over the epoch's batches (as they were seen, in training mode).</param>
/// <param name="Test">The test set after the epoch.</param>
/// <param name="Seconds">Wall time of the training part of the epoch.</param>
/// <param name="ImagesPerSecond">Training throughput.</param>
/// <param name="LearningRate">Learning rate of the epoch's last step.</param>
public sealed record EpochResult(int Epoch, long Iteration, double TrainLoss, double TrainAccuracy, Evaluation Test, double Seconds, double ImagesPerSecond, double LearningRate);

/// <summary>
/// The training loop, in the order a reader expects (llm.c's <c>main</c>): for each batch — data, zero gradients,
/// forward, loss, backward, weight decay, learning rate from the schedule, one fused optimizer step over the whole
/// arena, metrics. After each epoch: the test set, and a checkpoint. Rendering and plotting stay in the CLI.
/// Deterministic: the same options, data and thread count give the same parameters, and a run resumed from a
/// checkpoint continues bit for bit.
/// </summary>
public sealed class Trainer : IDisposable
{
    private const int Classes = 10;
    private const int WeightGroup = 0;

    private readonly Cifar10Dataset _data;
    private readonly ParameterArena _arena;
    private readonly Sequential<float> _model;
    private readonly Optimizer _optimizer;
    private readonly MinibatchIterator _batches;
    private readonly LearningRateSchedule _schedule;
    private readonly SoftmaxCrossEntropy _loss = new();
    private readonly float[] _images;
    private readonly int[] _labels;
    private readonly float[] _dLogits;
    private readonly double _baseLearningRate;
    private double _learningRate;

    /// <summary>Builds the model, registers it in an arena (weights in group 0, biases in group 1), initialises it and creates the optimizer.</summary>
    public Trainer(Cifar10Dataset data, TrainOptions options)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _data = data;
        Options = options;
        _model = Fcn.Spec(hidden: [.. options.Hidden], dropout: options.Dropout, seed: options.Seed).Build<float>(options.Threads, options.Isa);
        _arena = new ParameterArena();
        _model.Register(_arena, static name => name.EndsWith(".bias", StringComparison.Ordinal) ? 1 : WeightGroup);
        _arena.Build();
        _model.Initialize(options.Seed);
        var rule = OptimizerCatalog.Create(options.Optimizer, options.Hyperparameters);
        _optimizer = new Optimizer(_arena, rule, new OptimizerOptions { Threads = options.Threads, Isa = options.Isa, Mode = options.StepMode });
        _baseLearningRate = _optimizer.GetHyperparameter("lr");
        _learningRate = _baseLearningRate;
        _schedule = options.ParsedSchedule();
        _batches = data.TrainBatches(options.Minibatches());
        _images = new float[_batches.ImageBufferLength];
        _labels = new int[options.BatchSize];
        _dLogits = new float[options.BatchSize * Classes];
    }

    /// <summary>The options of the run.</summary>
    public TrainOptions Options { get; }

    /// <summary>Epochs completed.</summary>
    public int Epoch { get; private set; }

    /// <summary>Optimizer steps taken.</summary>
    public long Iteration { get; private set; }

    /// <summary>The model.</summary>
    public Sequential<float> Model => _model;

    /// <summary>The optimizer (one fused sweep over the arena per step).</summary>
    public Optimizer Optimizer => _optimizer;

    /// <summary>The arena holding every parameter and gradient.</summary>
    public ParameterArena Arena => _arena;

    /// <summary>Batches per epoch.</summary>
    public int BatchesPerEpoch => _batches.BatchesPerEpoch;

    /// <summary>Trains one epoch, then evaluates the test set.</summary>
    public EpochResult RunEpoch(MetricsWriter? metrics = null, IProgress<TrainProgress>? progress = null)
    {
        int epoch = Epoch + 1;
        // Dropout masks restart from a seed per epoch, so a run resumed at an epoch boundary draws the same masks.
        _model.Reseed(Rng.Derive(Options.Seed, (ulong)epoch).NextUInt64());
        double lossSum = 0;
        long correct = 0, seen = 0;
        var clock = Stopwatch.StartNew();
        while (_batches.TryNext(_images, _labels, out int count))
        {
            _learningRate = _schedule.LearningRate(_baseLearningRate, new SchedulePoint(Iteration, Epoch));
            var (loss, right) = TrainBatch(count);
            Iteration++;
            lossSum += loss * count;
            correct += right;
            seen += count;
            double ips = seen / Math.Max(clock.Elapsed.TotalSeconds, 1e-9);
            metrics?.Write(new IterationMetrics(Iteration, epoch, loss, _learningRate) { Accuracy = (double)right / count, Seconds = clock.Elapsed.TotalSeconds });
            progress?.Report(new TrainProgress(epoch, _batches.Batch, _batches.BatchesPerEpoch, Iteration, loss, (double)right / count, ips));
        }

        double seconds = clock.Elapsed.TotalSeconds;
        Epoch = epoch;
        var test = Evaluate(_data.Test);
        var result = new EpochResult(epoch, Iteration, lossSum / Math.Max(seen, 1), (double)correct / Math.Max(seen, 1), test, seconds, seen / Math.Max(seconds, 1e-9), _learningRate);
        metrics?.Write(new EpochMetrics(epoch, Iteration, result.TrainLoss, result.TrainAccuracy, _learningRate)
        {
            TestLoss = test.Loss,
            TestAccuracy = test.Accuracy,
            Seconds = seconds,
        });
        return result;
    }

    /// <summary>One step: forward, loss, backward, weight decay, optimizer step. Returns the batch loss and the number right.</summary>
    private (double Loss, int Correct) TrainBatch(int count)
    {
        var images = _images.AsSpan(0, count * Cifar10Layout.ImageSize);
        var labels = _labels.AsSpan(0, count);
        var dLogits = _dLogits.AsSpan(0, count * Classes);

        _arena.ZeroGrads();
        var logits = _model.Forward(images, count, training: true);
        double loss = _loss.Evaluate(logits, labels, Classes, dLogits);
        int correct = Losses.Metrics.CountCorrect(logits, labels, Classes);
        _model.Backward(dLogits);

        var weights = _arena.Groups[WeightGroup];
        float lambda = (float)Options.WeightDecay;
        if (lambda != 0 && Options.DecayMode == WeightDecayMode.L2)
        {
            // g ← g + λ·w, over the weight group only (biases are not decayed).
            var g = _arena.Grads.Slice(weights.Start, weights.Length);
            TensorPrimitives.MultiplyAdd(_arena.Params.Slice(weights.Start, weights.Length), lambda, g, g);
        }

        if (_optimizer.GetHyperparameter("lr") != _learningRate)
        {
            _optimizer.SetHyperparameter("lr", _learningRate);
        }

        _optimizer.Step();
        if (lambda != 0 && Options.DecayMode == WeightDecayMode.Decoupled)
        {
            // w ← w·(1 − η·λ) after the step.
            var w = _arena.Params.Slice(weights.Start, weights.Length);
            TensorPrimitives.Multiply(w, (float)(1 - (_learningRate * Options.WeightDecay)), w);
        }

        return (loss, correct);
    }

    /// <summary>Mean loss and accuracy over <paramref name="images"/> in evaluation mode (no dropout, no augmentation).</summary>
    public Evaluation Evaluate(ImageSet images)
    {
        ArgumentNullException.ThrowIfNull(images);
        var batches = new MinibatchIterator(images, _data.Normalization, MinibatchOptions.Sequential(Options.EvalBatchSize));
        var input = new float[batches.ImageBufferLength];
        var labels = new int[Options.EvalBatchSize];
        double lossSum = 0;
        long correct = 0;
        int seen = 0;
        while (batches.TryNext(input, labels, out int count))
        {
            var logits = _model.Forward(input.AsSpan(0, count * Cifar10Layout.ImageSize), count, training: false);
            lossSum += _loss.Evaluate(logits, labels.AsSpan(0, count), Classes, Span<float>.Empty) * count;
            correct += Losses.Metrics.CountCorrect(logits, labels.AsSpan(0, count), Classes);
            seen += count;
        }

        return new Evaluation(lossSum / Math.Max(seen, 1), (double)correct / Math.Max(seen, 1), seen);
    }

    /// <summary>Writes a checkpoint (options, counters, data order, RNG states, parameters, optimizer state) atomically.</summary>
    public void SaveCheckpoint(string path) =>
        Checkpoint.Save(path, new CheckpointHeader(Options, Epoch, Iteration, _batches.GetState(), [.. _data.Normalization.Mean], [.. _data.Normalization.Std]), _optimizer);

    /// <summary>
    /// Rebuilds a trainer from a checkpoint written by <see cref="SaveCheckpoint"/> and the same data; training then
    /// continues exactly as if it had never stopped. <paramref name="epochs"/> may extend the run.
    /// </summary>
    public static Trainer Resume(Cifar10Dataset data, string path, int? epochs = null)
    {
        ArgumentNullException.ThrowIfNull(data);
        var (header, optimizerBytes) = Checkpoint.Read(path);
        if (!header.Mean.SequenceEqual(data.Normalization.Mean) || !header.Std.SequenceEqual(data.Normalization.Std) || data.Train.Count == 0)
        {
            throw new CheckpointException(
                $"{path}: the checkpoint was trained on data normalised with mean [{string.Join(", ", header.Mean)}] but this data has [{string.Join(", ", data.Normalization.Mean)}]; load the same images (--data, --subset) to resume.");
        }

        var options = epochs is { } e ? header.Options with { Epochs = e } : header.Options;
        var trainer = new Trainer(data, options);
        try
        {
            trainer._optimizer.Load(optimizerBytes.Span, path);
            trainer._batches.Restore(header.Batches);
            trainer.Epoch = header.Epoch;
            trainer.Iteration = header.Iteration;
            return trainer;
        }
        catch
        {
            trainer.Dispose();
            throw;
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _optimizer.Dispose();
        _model.Dispose();
        _arena.Dispose();
    }
}

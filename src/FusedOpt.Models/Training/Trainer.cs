using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Diagnostics;
using System.IO;
using System.Linq;
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

/// <summary>A training loss that is NaN or infinite: the run stops there unless <see cref="TrainOptions.KeepGoing"/>.</summary>
public sealed class TrainingDivergedException : Exception
{
    /// <summary>Creates the exception for the batch that diverged.</summary>
    public TrainingDivergedException(int epoch, int batch, int batchesPerEpoch, long iteration, double loss)
        : base($"training diverged: the loss was {loss.ToString(System.Globalization.CultureInfo.InvariantCulture)} at epoch {epoch}, batch {batch} of {batchesPerEpoch} (iteration {iteration}); stopped. Lower the learning rate, or pass --keep-going to train on.")
    {
        Epoch = epoch;
        Batch = batch;
        Iteration = iteration;
        Loss = loss;
    }

    /// <summary>The epoch, 1-based.</summary>
    public int Epoch { get; }

    /// <summary>The batch within the epoch, 1-based.</summary>
    public int Batch { get; }

    /// <summary>The optimizer step whose loss was non-finite.</summary>
    public long Iteration { get; }

    /// <summary>The loss.</summary>
    public double Loss { get; }
}

/// <summary>
/// The training loop, in the order a reader expects (llm.c's <c>main</c>): for each batch — data, zero gradients,
/// forward, loss, backward, learning rate from the schedule, one fused optimizer step over the whole arena, metrics.
/// After each epoch: the test set. The model comes from a <see cref="ModelSpec"/> (by default
/// <see cref="ModelCatalog"/>'s entry for <see cref="TrainOptions.Model"/>, shaped by the dataset); weight decay is
/// the optimizer's own hyperparameter per group (<see cref="WeightDecay"/>). Checkpoints, metrics files and
/// result bookkeeping are <see cref="TrainingRun"/>'s; rendering and plotting stay in the CLI.
/// Deterministic: the same options, data and thread count give the same parameters, and a run resumed from a
/// checkpoint continues bit for bit (parameters, optimizer state, data order, RNG states and layer buffers).
/// </summary>
public sealed class Trainer : IDisposable
{
    private readonly Cifar10Dataset _data;
    private readonly ParameterArena _arena;
    private readonly Sequential<float> _model;
    private readonly Optimizer _optimizer;
    private readonly MinibatchIterator _batches;
    private readonly LearningRateSchedule _schedule;
    private readonly SoftmaxCrossEntropy _loss = new();
    private readonly int _classes;
    private readonly int _imageSize;
    private readonly float[] _images;
    private readonly int[] _labels;
    private readonly float[] _dLogits;
    private readonly StepTensorsHook? _stepInBackward;
    private readonly double _baseLearningRate;
    private double _learningRate;
    private double _appliedLearningRate;

    /// <summary>
    /// Builds the model (<paramref name="spec"/>, or the catalogue's <see cref="TrainOptions.Model"/> for the data's
    /// input shape and class count), registers it in an arena (weights in group 0, biases and normalisation
    /// parameters in group 1), initialises it and creates the optimizer with one rule per group.
    /// </summary>
    public Trainer(Cifar10Dataset data, TrainOptions options, ModelSpec? spec = null)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _data = data;
        Options = options;
        spec ??= ModelCatalog.Create(options.Model, new ModelOptions(InputShape(data), Classes(data), options.Hidden, options.Width, options.Dropout, options.Seed));
        _model = spec.Build<float>(options.Threads, options.Isa);
        _imageSize = InputShape(data).Aggregate(1, static (a, b) => a * b);
        _classes = _model.OutputFeatures;
        if (_model.InputFeatures != _imageSize || _classes != Classes(data))
        {
            _model.Dispose();
            throw new ArgumentException($"The model takes {_model.InputFeatures} features and scores {_classes} classes, but the data has {_imageSize} values per image and {Classes(data)} classes.");
        }

        _arena = new ParameterArena();
        _model.Register(_arena, GroupsByShape(spec));
        _arena.Build();
        _model.Initialize(options.Seed);
        _optimizer = new Optimizer(_arena, WeightDecay.GroupRules(options, _arena.Groups.Length), options.OptimizerOptions());
        _stepInBackward = options.StepInBackward ? new StepTensorsHook(_optimizer) : null;
        _baseLearningRate = _optimizer.GetHyperparameter("lr");
        _learningRate = _baseLearningRate;
        _appliedLearningRate = _baseLearningRate;
        _schedule = options.ParsedSchedule();
        _batches = data.TrainBatches(options.Minibatches());
        _images = new float[_batches.ImageBufferLength];
        _labels = new int[options.BatchSize];
        _dLogits = new float[options.BatchSize * _classes];
    }

    /// <summary>The per-image input shape of the data, channel-major.</summary>
    public static ImmutableArray<int> InputShape(Cifar10Dataset data)
    {
        ArgumentNullException.ThrowIfNull(data);
        return [Cifar10Layout.Channels, Cifar10Layout.Side, Cifar10Layout.Side];
    }

    /// <summary>The number of classes of the data.</summary>
    public static int Classes(Cifar10Dataset data)
    {
        ArgumentNullException.ThrowIfNull(data);
        return Cifar10Dataset.ClassNames.Count;
    }

    /// <summary>The options of the run.</summary>
    public TrainOptions Options { get; }

    /// <summary>The data.</summary>
    public Cifar10Dataset Data => _data;

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

    /// <summary>
    /// Trains one epoch, then evaluates the test set. A non-finite batch loss throws
    /// <see cref="TrainingDivergedException"/> after its metrics line is written, unless <see cref="TrainOptions.KeepGoing"/>.
    /// </summary>
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
            metrics?.WriteIteration(Iteration, epoch, loss, _learningRate, (double)right / count, clock.Elapsed.TotalSeconds);
            progress?.Report(new TrainProgress(epoch, _batches.Batch, _batches.BatchesPerEpoch, Iteration, loss, (double)right / count, ips));
            if (!double.IsFinite(loss) && !Options.KeepGoing)
            {
                throw new TrainingDivergedException(epoch, _batches.Batch, _batches.BatchesPerEpoch, Iteration, loss);
            }
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
            TestImages = test.Images,
            ImagesPerSecond = result.ImagesPerSecond,
        });
        return result;
    }

    /// <summary>
    /// One step: forward, loss, backward, optimizer step (weight decay is inside it) — after the backward pass, or
    /// with <see cref="TrainOptions.StepInBackward"/> layer by layer inside it. Returns the batch loss and the number right.
    /// </summary>
    private (double Loss, int Correct) TrainBatch(int count)
    {
        var images = _images.AsSpan(0, count * _imageSize);
        var labels = _labels.AsSpan(0, count);
        var dLogits = _dLogits.AsSpan(0, count * _classes);

        if (!_optimizer.GradientsZeroed)
        {
            // The step inside backward zeroed every gradient it stepped, in cache; otherwise one pass here.
            _arena.ZeroGrads();
        }

        var logits = _model.Forward(images, count, training: true);
        double loss = _loss.Evaluate(logits, labels, _classes, dLogits);
        int correct = Losses.Metrics.CountCorrect(logits, labels, _classes);
        if (_appliedLearningRate != _learningRate)
        {
            // Only when the schedule moves (setting allocates nothing, but validates the value). Before the backward
            // pass, so that the step inside it sees the new value from its first layer on.
            _optimizer.SetHyperparameter("lr", _learningRate);
            _appliedLearningRate = _learningRate;
        }

        if (_stepInBackward is { } hook)
        {
            // Every group's prologue (scalars, step count) once, then each layer's tensors as its gradients complete.
            _optimizer.BeginStep();
            _model.Backward(dLogits, hook: hook);
            _optimizer.EndStep();
        }
        else
        {
            _model.Backward(dLogits);
            _optimizer.Step();
        }

        return (loss, correct);
    }

    /// <summary>
    /// Mean loss and accuracy over <paramref name="images"/> in evaluation mode (no dropout, no augmentation), read in
    /// minibatches of <see cref="TrainOptions.EvalBatchSize"/> and run forward in slices no larger than training's batches.
    /// </summary>
    public Evaluation Evaluate(ImageSet images)
    {
        ArgumentNullException.ThrowIfNull(images);
        var batches = new MinibatchIterator(images, _data.Normalization, MinibatchOptions.Sequential(Options.EvalBatchSize));
        var input = new float[batches.ImageBufferLength];
        var labels = new int[Options.EvalBatchSize];
        double lossSum = 0;
        long correct = 0;
        int seen = 0;
        // Forward passes never take more images than training has, so evaluation runs in the workspaces training sized
        // (a model sizes its per-layer buffers for the largest batch it has seen: VGG11 at 500 images held 5.6 GB against
        // 0.8 GB at 128). The largest training forward so far is the model's capacity (a training set smaller than one
        // batch never reaches BatchSize); before any, the training batch. Evaluation mode treats every image on its own
        // (BatchNorm uses its running statistics, the GEMMs give the same bits for any row count), so the slices change
        // no logit, only the order in which the mean loss is summed.
        int slice = Math.Min(Options.EvalBatchSize, _model.BatchCapacity > 0 ? _model.BatchCapacity : Options.BatchSize);
        while (batches.TryNext(input, labels, out int count))
        {
            for (int start = 0; start < count; start += slice)
            {
                int n = Math.Min(slice, count - start);
                var sliceLabels = labels.AsSpan(start, n);
                var logits = _model.Forward(input.AsSpan(start * _imageSize, n * _imageSize), n, training: false);
                lossSum += _loss.Evaluate(logits, sliceLabels, _classes, Span<float>.Empty) * n;
                correct += Losses.Metrics.CountCorrect(logits, sliceLabels, _classes);
            }

            seen += count;
        }

        return new Evaluation(lossSum / Math.Max(seen, 1), (double)correct / Math.Max(seen, 1), seen);
    }

    /// <summary>
    /// Writes a checkpoint (options, counters, data order, RNG states, data folder, parameters, optimizer state, layer
    /// buffers) atomically; <paramref name="metricsBytes"/> is how far the run's metrics file had got.
    /// </summary>
    public void SaveCheckpoint(string path, long? metricsBytes = null) =>
        Checkpoint.Save(
            path,
            new CheckpointHeader(Options, Epoch, Iteration, _batches.GetState(), [.. _data.Normalization.Mean], [.. _data.Normalization.Std], Path.GetFullPath(_data.Directory), metricsBytes),
            _optimizer,
            [.. _model.Buffers.Select(static b => new CheckpointBuffer(b.Name, [.. b.Values]))]);

    /// <summary>
    /// Rebuilds a trainer from a checkpoint written by <see cref="SaveCheckpoint"/> and the same data; training then
    /// continues exactly as if it had never stopped. <paramref name="epochs"/> may extend the run.
    /// </summary>
    public static Trainer Resume(Cifar10Dataset data, string path, int? epochs = null)
    {
        var contents = Checkpoint.Read(path);
        var options = epochs is { } e ? contents.Header.Options with { Epochs = e } : contents.Header.Options;
        return Resume(data, contents, path, options);
    }

    /// <summary>
    /// Rebuilds a trainer from read checkpoint <paramref name="contents"/> with <paramref name="options"/>, which may
    /// differ from the checkpoint's only where <see cref="TrainOptions.ResumeConflicts"/> allows (epochs, threads,
    /// ISA, step mode, keep-going). <paramref name="spec"/> is needed when the run was built from a spec rather than
    /// the catalogue.
    /// </summary>
    public static Trainer Resume(Cifar10Dataset data, CheckpointContents contents, string path, TrainOptions options, ModelSpec? spec = null)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(contents);
        ArgumentNullException.ThrowIfNull(options);
        var header = contents.Header;
        if (!header.Mean.SequenceEqual(data.Normalization.Mean) || !header.Std.SequenceEqual(data.Normalization.Std) || data.Train.Count == 0)
        {
            throw new CheckpointException(
                $"{path}: the checkpoint was trained on data normalised with mean [{string.Join(", ", header.Mean)}] but this data has [{string.Join(", ", data.Normalization.Mean)}]; load the same images (--data, --subset) to resume.");
        }

        var conflicts = TrainOptions.ResumeConflicts(header.Options, options);
        if (conflicts.Count > 0)
        {
            throw new ArgumentException($"{path}: a resumed run keeps its settings; these conflict with the checkpoint: {string.Join("; ", conflicts)}. Only --epochs, --threads, --isa, --naive, --keep-going and --data may change.");
        }

        var trainer = new Trainer(data, options, spec);
        try
        {
            trainer._optimizer.Load(contents.Optimizer.Span, path);
            trainer._appliedLearningRate = trainer._optimizer.GetHyperparameter("lr");
            trainer.RestoreBuffers(contents.Buffers, path);
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

    /// <summary>The step inside backward: steps each layer's tensors as soon as the backward pass has completed their gradients.</summary>
    internal sealed class StepTensorsHook(Optimizer optimizer) : IBackwardHook
    {
        /// <inheritdoc />
        /// <remarks>
        /// Each thread zeroes the gradients it has just stepped while they are in its cache, so after the step the next
        /// batch needs no zeroing pass over the arena (<see cref="Optimizer.GradientsZeroed"/>).
        /// </remarks>
        public void GradientsComplete(int firstTensor, int tensorCount) => optimizer.StepTensors(firstTensor, tensorCount, zeroGradients: true);
    }

    /// <summary>Copies saved buffers into the model's, checking that the names and lengths are the model's, in order.</summary>
    private void RestoreBuffers(IReadOnlyList<CheckpointBuffer> saved, string path)
    {
        var buffers = _model.Buffers;
        if (saved.Count != buffers.Count)
        {
            throw new CheckpointException($"{path}: the checkpoint holds {saved.Count} layer buffers but the model has {buffers.Count} ({string.Join(", ", buffers.Select(static b => b.Name))}).");
        }

        for (int i = 0; i < buffers.Count; i++)
        {
            if (saved[i].Name != buffers[i].Name || saved[i].Values.Length != buffers[i].Values.Length)
            {
                throw new CheckpointException($"{path}: buffer {i} is '{saved[i].Name}' of {saved[i].Values.Length} values in the checkpoint but '{buffers[i].Name}' of {buffers[i].Values.Length} in the model.");
            }
        }

        for (int i = 0; i < buffers.Count; i++)
        {
            saved[i].Values.CopyTo(buffers[i].Values, 0);
        }
    }

    /// <summary>Group of each tensor by its shape (<see cref="WeightDecay.GroupOf"/>), read from a throwaway registration of the spec's layers.</summary>
    private static Func<string, int> GroupsByShape(ModelSpec spec)
    {
        using var probe = new ParameterArena();
        foreach (var layer in spec.Layers)
        {
            layer.Create<float>().Register(probe, static _ => 0);
        }

        var groups = probe.Tensors.ToDictionary(static t => t.Name, static t => WeightDecay.GroupOf(t.Shape.AsSpan()), StringComparer.Ordinal);
        return name => groups.TryGetValue(name, out int g) ? g : WeightDecay.NoDecayGroup;
    }
}

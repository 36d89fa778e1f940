using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text.Json;
using System.Text.Json.Serialization;
using FusedOpt.IO;
using FusedOpt.Kernels;
using FusedOpt.Models.Data;
using FusedOpt.Models.Training.Metrics;

namespace FusedOpt.Models.Training;

/// <summary>The outcome of one training run, as <c>result.json</c> records it: every epoch since the run began.</summary>
/// <param name="Name">Run name (the output folder's name).</param>
/// <param name="Options">The options (after any changes made when resuming).</param>
/// <param name="Epochs">Every epoch.</param>
/// <param name="Iterations">Per-iteration loss, for the curves.</param>
/// <param name="Seconds">Training time (evaluation excluded), summed over the epochs.</param>
public sealed record RunResult(string Name, TrainOptions Options, IReadOnlyList<EpochResult> Epochs, IReadOnlyList<double> Iterations, double Seconds)
{
    /// <summary>Test accuracy after the last epoch (NaN before the first, and for a run that diverged).</summary>
    public double FinalTestAccuracy => Epochs.Count == 0 || Diverged is not null ? double.NaN : Epochs[^1].Test.Accuracy;

    /// <summary>Mean training loss of the last epoch (NaN before the first, and for a run that diverged).</summary>
    public double FinalTrainLoss => Epochs.Count == 0 || Diverged is not null ? double.NaN : Epochs[^1].TrainLoss;

    /// <summary>Mean training throughput over the epochs.</summary>
    public double ImagesPerSecond => Epochs.Count == 0 ? 0 : Epochs.Average(static e => e.ImagesPerSecond);

    /// <summary>Why the run stopped early (a non-finite loss), or null when it trained every epoch.</summary>
    public string? Diverged { get; init; }
}

/// <summary>
/// A training run on disk: the epoch loop of a <see cref="Trainer"/> with its bookkeeping in one folder —
/// <c>metrics.jsonl</c> (one line per iteration and per epoch), <c>checkpoint.fopt</c> after every epoch (recording
/// how far the metrics had got) and <c>result.json</c> at the end. A killed run resumed with <see cref="Resume"/>
/// first cuts the metrics back to its checkpoint and removes stale checkpoint temporaries, so its metrics (timing
/// aside), result and parameters equal an uninterrupted run's. With no folder nothing is written.
/// </summary>
public sealed class TrainingRun : IDisposable
{
    /// <summary>The metrics file's name in a run folder.</summary>
    public const string MetricsFileName = "metrics.jsonl";

    /// <summary>The result file's name in a run folder.</summary>
    public const string ResultFileName = "result.json";

    /// <summary>How <c>result.json</c> is written: camelCase, indented, non-finite numbers as strings.</summary>
    public static readonly JsonSerializerOptions ResultJson = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        WriteIndented = true,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.CamelCase) },
    };

    private readonly List<EpochResult> _epochs;
    private readonly List<double> _losses;
    private readonly List<string> _notes;
    private MetricsWriter? _metrics;

    private TrainingRun(Trainer trainer, string name, string? folder, MetricsWriter? metrics, List<EpochResult> epochs, List<double> losses, List<string> notes)
    {
        Trainer = trainer;
        Name = name;
        Folder = folder;
        _metrics = metrics;
        _epochs = epochs;
        _losses = losses;
        _notes = notes;
    }

    /// <summary>The trainer.</summary>
    public Trainer Trainer { get; }

    /// <summary>The run's name.</summary>
    public string Name { get; }

    /// <summary>The run folder (full path), or null when nothing is written.</summary>
    public string? Folder { get; }

    /// <summary>What starting or resuming did that a user should hear about: options changed, bytes cut, files removed.</summary>
    public IReadOnlyList<string> Notes => _notes;

    /// <summary>The checkpoint path, or null without a folder.</summary>
    public string? CheckpointPath => Folder is null ? null : Path.Combine(Folder, Checkpoint.FileName);

    /// <summary>The result so far: every epoch since the run began (resumed ones included).</summary>
    public RunResult Result => new(Name, Trainer.Options, [.. _epochs], [.. _losses], _epochs.Sum(static e => e.Seconds));

    /// <summary>
    /// Starts a new run. A folder holds one run: the metrics file, checkpoint and result of an earlier run in
    /// <paramref name="folder"/> are replaced (the checkpoint and result are deleted at once, so that a resume can
    /// never pair the old checkpoint with the new metrics), and <see cref="Notes"/> says so.
    /// </summary>
    public static TrainingRun Start(Cifar10Dataset data, TrainOptions options, string name, string? folder, ModelSpec? spec = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        var trainer = new Trainer(data, options, spec);
        var notes = new List<string>();
        MetricsWriter? metrics = null;
        try
        {
            if (folder is not null)
            {
                folder = Path.GetFullPath(folder);
                Directory.CreateDirectory(folder);
                RemoveStale(folder, notes);
                foreach (string old in new[] { Checkpoint.FileName, ResultFileName })
                {
                    if (File.Exists(Path.Combine(folder, old)))
                    {
                        File.Delete(Path.Combine(folder, old));
                        notes.Add($"replaced the earlier run in {folder} (its {old} is deleted; use --resume to continue a run)");
                    }
                }

                metrics = new MetricsWriter(Path.Combine(folder, MetricsFileName));
                metrics.Write(new RunMetadata(name, Settings(options)));
            }

            return new TrainingRun(trainer, name, folder, metrics, [], [], notes);
        }
        catch
        {
            metrics?.Dispose();
            trainer.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The data folder a checkpoint remembers, checked before it is used as a path: a full, normalised path of an
    /// existing folder. Null for a version-1 checkpoint.
    /// </summary>
    /// <exception cref="CheckpointException">The recorded text is not such a path.</exception>
    public static string? RememberedDataFolder(CheckpointContents contents, string path)
    {
        ArgumentNullException.ThrowIfNull(contents);
        string? folder = contents.Header.DataFolder;
        if (folder is null)
        {
            return null;
        }

        if (folder.Length == 0 || folder.Any(char.IsControl) || !Path.IsPathFullyQualified(folder) || Path.GetFullPath(folder) != folder)
        {
            throw new CheckpointException($"{path}: the recorded data folder '{folder}' is not a full, normalised path; pass --data.");
        }

        return Directory.Exists(folder)
            ? folder
            : throw new CheckpointException($"{path}: the run's data folder {folder} no longer exists; pass --data with the same images.");
    }

    /// <summary>
    /// Continues the run whose checkpoint is <paramref name="checkpointPath"/>, in the checkpoint's folder:
    /// <paramref name="options"/> (default: the checkpoint's) may change only epochs, threads, ISA, step mode and
    /// keep-going (anything else is refused, naming it); an ISA this machine lacks falls back to the widest it has
    /// (every path gives the same bits). The metrics file is cut back to the checkpoint atomically, stale checkpoint
    /// temporaries are removed, and the history before the checkpoint is read back so the result is complete.
    /// </summary>
    public static TrainingRun Resume(Cifar10Dataset data, string checkpointPath, CheckpointContents? contents = null, TrainOptions? options = null, ModelSpec? spec = null)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentException.ThrowIfNullOrWhiteSpace(checkpointPath);
        string path = Path.GetFullPath(checkpointPath);
        contents ??= Checkpoint.Read(path);
        var saved = contents.Header.Options;
        options ??= saved;
        if (options.Epochs < contents.Header.Epoch)
        {
            throw new ArgumentException($"--epochs {options.Epochs}: the run has already completed {contents.Header.Epoch} epochs; a resumed run can only go on (give --epochs {contents.Header.Epoch} or more).");
        }

        var notes = new List<string>();
        if (options.Isa is { } isa && !IsaSupport.IsSupported(isa) && isa == saved.Isa)
        {
            notes.Add($"isa {IsaSupport.Name(isa)} is not supported here; training on with {IsaSupport.Name(IsaSupport.Resolve())} (every path gives the same bits)");
            options = options with { Isa = null };
        }

        Note(notes, "epochs", saved.Epochs, options.Epochs);
        Note(notes, "threads", saved.Threads, options.Threads);
        Note(notes, "isa", saved.Isa is { } a ? IsaSupport.Name(a) : "auto", options.Isa is { } b ? IsaSupport.Name(b) : "auto");
        Note(notes, "step", saved.StepMode, options.StepMode);
        Note(notes, "keep-going", saved.KeepGoing, options.KeepGoing);

        string folder = Path.GetDirectoryName(path)!;
        string metricsPath = Path.Combine(folder, MetricsFileName);
        var trainer = Trainer.Resume(data, contents, path, options, spec);
        MetricsWriter? metrics = null;
        try
        {
            RemoveStale(folder, notes);
            var epochs = new List<EpochResult>();
            var losses = new List<double>();
            if (File.Exists(metricsPath))
            {
                long keep = contents.Header.MetricsBytes ?? MetricsFile.LengthThroughEpoch(metricsPath, contents.Header.Epoch);
                long cut = MetricsFile.CutBack(metricsPath, keep);
                if (cut > 0)
                {
                    notes.Add($"cut {MetricsFileName} back by {cut:N0} bytes to the checkpoint (after epoch {contents.Header.Epoch})");
                }

                ReadHistory(metricsPath, epochs, losses);
            }
            else if (contents.Header.MetricsBytes is > 0)
            {
                throw new CheckpointException($"{path}: the run's {MetricsFileName} is missing; it holds the history a resumed run continues.");
            }

            metrics = new MetricsWriter(metricsPath, append: true);
            return new TrainingRun(trainer, Path.GetFileName(folder), folder, metrics, epochs, losses, notes);
        }
        catch
        {
            metrics?.Dispose();
            trainer.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Trains until <see cref="TrainOptions.Epochs"/> are done: after each epoch a checkpoint (with the metrics
    /// length), then <paramref name="epochCompleted"/>. A non-finite loss ends the run early with
    /// <see cref="RunResult.Diverged"/> set (unless <see cref="TrainOptions.KeepGoing"/>). Writes <c>result.json</c>.
    /// </summary>
    public RunResult Run(IProgress<TrainProgress>? progress = null, Action<EpochResult>? epochCompleted = null)
    {
        var report = new Reporter(this, progress);
        string? diverged = null;
        try
        {
            while (Trainer.Epoch < Trainer.Options.Epochs)
            {
                var result = Trainer.RunEpoch(_metrics, report);
                _epochs.Add(result);
                if (CheckpointPath is not null)
                {
                    Trainer.SaveCheckpoint(CheckpointPath, _metrics?.Position);
                }

                epochCompleted?.Invoke(result);
            }
        }
        catch (TrainingDivergedException e)
        {
            diverged = e.Message;
        }

        var run = Result with { Diverged = diverged };
        if (Folder is not null && (run.Epochs.Count > 0 || diverged is not null))
        {
            string file = Path.Combine(Folder, ResultFileName);
            AtomicFile.WriteAllText(file, JsonSerializer.Serialize(run, ResultJson));
        }

        return run;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _metrics?.Dispose();
        _metrics = null;
        Trainer.Dispose();
    }

    /// <summary>The settings a metrics file's first line records.</summary>
    public static Dictionary<string, string> Settings(TrainOptions o)
    {
        ArgumentNullException.ThrowIfNull(o);
        var settings = new Dictionary<string, string>
        {
            ["model"] = ModelCatalog.Get(o.Model).ScalesWithWidth ? o.Model : $"{o.Model} [{string.Join(",", o.Hidden)}]",
            ["optimizer"] = o.Optimizer,
            ["hyperparameters"] = string.Join(",", o.Hyperparameters.Select(static kv => string.Create(CultureInfo.InvariantCulture, $"{kv.Key}={kv.Value}"))),
            ["epochs"] = o.Epochs.ToString(CultureInfo.InvariantCulture),
            ["batch"] = o.BatchSize.ToString(CultureInfo.InvariantCulture),
            ["schedule"] = o.Schedule,
            ["seed"] = o.Seed.ToString(CultureInfo.InvariantCulture),
            ["threads"] = o.Threads.ToString(CultureInfo.InvariantCulture),
            ["step"] = o.StepMode.ToString(),
            ["states"] = o.StatesLabel(),
        };
        if (o.StepInBackward)
        {
            settings["step"] = o.StepMode + " (inside backward)";
        }

        if (o.Width != 1)
        {
            settings["width"] = o.Width.ToString(CultureInfo.InvariantCulture);
        }

        if (o.WeightDecay != 0)
        {
            settings["weightDecay"] = string.Create(CultureInfo.InvariantCulture, $"{o.WeightDecay} ({o.DecayMode.ToString().ToLowerInvariant()})");
        }

        return settings;
    }

    private static void Note<TValue>(List<string> notes, string what, TValue saved, TValue now)
    {
        if (!EqualityComparer<TValue>.Default.Equals(saved, now))
        {
            notes.Add(string.Create(CultureInfo.InvariantCulture, $"{what} {saved} → {now}"));
        }
    }

    private static void RemoveStale(string folder, List<string> notes)
    {
        var removed = Checkpoint.RemoveStaleTemporaries(Path.Combine(folder, Checkpoint.FileName));
        if (removed.Count > 0)
        {
            notes.Add($"removed {removed.Count} unfinished checkpoint file(s) of a killed run: {string.Join(", ", removed)}");
        }
    }

    /// <summary>Rebuilds the epochs and iteration losses before the checkpoint from the (cut-back) metrics file.</summary>
    private static void ReadHistory(string metricsPath, List<EpochResult> epochs, List<double> losses)
    {
        foreach (var record in MetricsReader.ReadAll(metricsPath))
        {
            switch (record)
            {
                case IterationMetrics i:
                    losses.Add(i.Loss);
                    break;
                case EpochMetrics e:
                    epochs.Add(new EpochResult(
                        e.Epoch, e.Iteration, e.TrainLoss, e.TrainAccuracy,
                        new Evaluation(e.TestLoss ?? double.NaN, e.TestAccuracy ?? double.NaN, e.TestImages ?? 0),
                        e.Seconds ?? 0, e.ImagesPerSecond ?? 0, e.LearningRate));
                    break;
            }
        }
    }

    /// <summary>Collects each iteration's loss for the result, then passes the progress on (on the calling thread).</summary>
    private sealed class Reporter(TrainingRun run, IProgress<TrainProgress>? next) : IProgress<TrainProgress>
    {
        public void Report(TrainProgress value)
        {
            run._losses.Add(value.Loss);
            next?.Report(value);
        }
    }
}

using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using FusedOpt.Models.Data;
using FusedOpt.Models.Training;
using FusedOpt.Models.Training.Metrics;
using Spectre.Console;

namespace FusedOpt.Cli.Commands;

/// <summary>The outcome of one training run, as <c>result.json</c> records it.</summary>
/// <param name="Name">Run name (the output folder's name).</param>
/// <param name="Options">The options.</param>
/// <param name="Epochs">Every epoch.</param>
/// <param name="Iterations">Per-iteration loss, for the curves.</param>
/// <param name="Seconds">Training time (evaluation excluded).</param>
internal sealed record RunResult(string Name, TrainOptions Options, IReadOnlyList<EpochResult> Epochs, IReadOnlyList<double> Iterations, double Seconds)
{
    public double FinalTestAccuracy => Epochs.Count == 0 ? double.NaN : Epochs[^1].Test.Accuracy;

    public double ImagesPerSecond => Epochs.Count == 0 ? 0 : Epochs.Average(static e => e.ImagesPerSecond);
}

/// <summary>
/// Runs training for the CLI: finds and loads CIFAR-10 (downloading it with a progress bar when needed), trains with
/// a progress display, writes <c>metrics.jsonl</c>, a checkpoint per epoch, <c>result.json</c> and the loss/accuracy
/// PNGs. The loop itself is <see cref="Trainer"/>; this class only renders and stores.
/// </summary>
/// <param name="context">Where to write.</param>
/// <param name="quiet">With --json: informational lines go to stderr, so that stdout holds only the JSON.</param>
internal sealed class TrainingRunner(CliContext context, bool quiet = false)
{
    /// <summary>Writes an informational line: to the console, or to stderr when the command prints JSON.</summary>
    public void Info(FormattableString markup)
    {
        if (quiet)
        {
            // The markup with its arguments escaped, then the tags removed: plain text.
            var args = markup.GetArguments().Select(static a => (object?)Markup.Escape(Convert.ToString(a, System.Globalization.CultureInfo.InvariantCulture) ?? "")).ToArray();
            context.Error.WriteLine(Markup.Remove(string.Format(System.Globalization.CultureInfo.InvariantCulture, markup.Format, args)));
        }
        else
        {
            context.Console.MarkupLineInterpolated(markup);
        }
    }

    private readonly Dictionary<string, Cifar10Dataset> _loaded = new(StringComparer.Ordinal);

    /// <summary>Finds the data folder (--data, FUSEDOPT_DATA, the cache, or a download) and loads the images the options ask for.</summary>
    public Cifar10Dataset LoadData(string? dataOption, TrainOptions options)
    {
        string directory = Cifar10.ResolveDirectoryAsync(dataOption, progress: DownloadReporter()).GetAwaiter().GetResult();
        var dataOptions = options.DataOptions();
        string key = $"{directory}|{dataOptions.Subset}|{dataOptions.Balanced}|{dataOptions.TestSubset}";
        if (!_loaded.TryGetValue(key, out var data))
        {
            data = Cifar10.Load(directory, dataOptions);
            _loaded[key] = data;
            Info($"[grey]CIFAR-10 from {directory}: {data.Train.Count:N0} training and {data.Test.Count:N0} test images; {data.Normalization}[/]");
        }

        return data;
    }

    /// <summary>Trains (or continues) a run until its epochs are done, writing everything under <paramref name="output"/>.</summary>
    public RunResult Run(Trainer trainer, string name, string? output, bool quiet = false)
    {
        string? metricsPath = output is null ? null : Path.Combine(output, "metrics.jsonl");
        if (output is not null)
        {
            Directory.CreateDirectory(output);
        }

        using var metrics = metricsPath is null ? null : new MetricsWriter(metricsPath, append: trainer.Epoch > 0);
        if (trainer.Epoch == 0)
        {
            metrics?.Write(new RunMetadata(name, Settings(trainer.Options)));
        }

        var epochs = new List<EpochResult>();
        var losses = new List<double>();
        double seconds = 0;
        void Train(Action<TrainProgress>? show)
        {
            var progress = new SynchronousProgress<TrainProgress>(p =>
            {
                losses.Add(p.Loss);
                show?.Invoke(p);
            });
            while (trainer.Epoch < trainer.Options.Epochs)
            {
                var result = trainer.RunEpoch(metrics, progress);
                epochs.Add(result);
                seconds += result.Seconds;
                if (output is not null)
                {
                    trainer.SaveCheckpoint(Path.Combine(output, "checkpoint.fopt"));
                }

                if (!quiet)
                {
                    context.Console.MarkupLineInterpolated(
                        $"epoch {result.Epoch,3}: train loss {result.TrainLoss:0.0000} acc {result.TrainAccuracy:P2} | test loss {result.Test.Loss:0.0000} acc [bold]{result.Test.Accuracy:P2}[/] | {result.ImagesPerSecond:N0} img/s | lr {result.LearningRate:G4}");
                }
            }
        }

        if (context.Console.Profile.Capabilities.Interactive && !quiet)
        {
            context.Console.Progress()
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
                .Start(ctx =>
                {
                    var task = ctx.AddTask(name, maxValue: (double)trainer.Options.Epochs * trainer.BatchesPerEpoch);
                    task.Value = (double)trainer.Epoch * trainer.BatchesPerEpoch;
                    Train(p =>
                    {
                        task.Increment(1);
                        task.Description = $"{Markup.Escape(name)} e{p.Epoch} loss {p.Loss:0.000} acc {p.Accuracy:P0} {p.ImagesPerSecond:N0} img/s";
                    });
                });
        }
        else
        {
            Train(null);
        }

        metrics?.Dispose();
        var run = new RunResult(name, trainer.Options, epochs, losses, seconds);
        if (output is not null && epochs.Count > 0)
        {
            File.WriteAllText(Path.Combine(output, "result.json"), Json.Serialize(run));
            Plot(output, [(name, output)]);
        }

        return run;
    }

    /// <summary>
    /// Loss per iteration and test accuracy per epoch, one line per run, from each run's whole metrics.jsonl (so a
    /// resumed run is plotted from its first iteration).
    /// </summary>
    public static void Plot(string output, IReadOnlyList<(string Name, string Folder)> runs, string? title = null)
    {
        var histories = runs.Select(static r => (r.Name, Records: MetricsReader.ReadAll(Path.Combine(r.Folder, "metrics.jsonl")))).ToList();
        Charts.Lines(Path.Combine(output, "loss.png"), title ?? "training loss", "iteration", "cross-entropy, mean of 10 iterations (log)",
            histories.Select(static h =>
            {
                var iterations = h.Records.OfType<IterationMetrics>().ToList();
                return new Charts.Series(h.Name, [.. iterations.Select(static i => (double)i.Iteration)], Smooth([.. iterations.Select(static i => i.Loss)], 10));
            }), logY: true);
        Charts.Lines(Path.Combine(output, "accuracy.png"), title ?? "test accuracy", "epoch", "test accuracy (%)",
            histories.Select(static h =>
            {
                var epochs = h.Records.OfType<EpochMetrics>().Where(static e => e.TestAccuracy is not null).ToList();
                return new Charts.Series(h.Name, [.. epochs.Select(static e => (double)e.Epoch)], [.. epochs.Select(static e => 100 * e.TestAccuracy!.Value)]);
            }));
    }

    private static List<double> Smooth(IReadOnlyList<double> values, int window)
    {
        var result = new List<double>(values.Count);
        double sum = 0;
        for (int i = 0; i < values.Count; i++)
        {
            sum += values[i];
            if (i >= window)
            {
                sum -= values[i - window];
            }

            result.Add(sum / Math.Min(i + 1, window));
        }

        return result;
    }

    private static Dictionary<string, string> Settings(TrainOptions o) => new()
    {
        ["model"] = $"{o.Model} [{string.Join(",", o.Hidden)}]",
        ["optimizer"] = o.Optimizer,
        ["hyperparameters"] = string.Join(",", o.Hyperparameters.Select(static kv => $"{kv.Key}={kv.Value}")),
        ["epochs"] = o.Epochs.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["batch"] = o.BatchSize.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["schedule"] = o.Schedule,
        ["seed"] = o.Seed.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["threads"] = o.Threads.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["step"] = o.StepMode.ToString(),
    };

    /// <summary>One line per stage and tenth of the way: downloads are rare and long, and logs stay readable.</summary>
    private IProgress<DownloadProgress> DownloadReporter()
    {
        var last = (Stage: (DownloadStage)(-1), Tenth: -1);
        return new SynchronousProgress<DownloadProgress>(p =>
        {
            int tenth = p.Fraction is { } f ? (int)(f * 10) : 0;
            if (p.Stage == DownloadStage.Done || (p.Stage, tenth) == last)
            {
                return;
            }

            last = (p.Stage, tenth);
            string size = p.TotalBytes is { } total ? $" of {total / 1e6:N0} MB" : "";
            Info($"[grey]{p.Stage.ToString().ToLowerInvariant()} {Path.GetFileName(p.Item)}: {tenth * 10}%{size}[/]");
        });
    }

    /// <summary>An <see cref="IProgress{T}"/> that reports on the calling thread (Progress&lt;T&gt; posts to the thread pool).</summary>
    private sealed class SynchronousProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}

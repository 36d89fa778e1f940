using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using FusedOpt.Models.Data;
using FusedOpt.Models.Training;
using FusedOpt.Models.Training.Metrics;
using Spectre.Console;

namespace FusedOpt.Cli.Commands;

/// <summary>
/// The CLI's side of training: finds and loads CIFAR-10 (downloading it with a progress bar when needed), shows
/// progress and epoch lines, and draws the loss/accuracy PNGs. The epoch loop with its metrics, checkpoints and
/// result.json is the library's <see cref="TrainingRun"/>.
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
            // The markup with its arguments formatted (keeping their format specifiers, e.g. {n:N0}) and escaped, then
            // the tags removed: plain text.
            var args = markup.GetArguments().Select(static a => (object?)new EscapedArgument(a)).ToArray();
            context.Error.WriteLine(Markup.Remove(string.Format(System.Globalization.CultureInfo.InvariantCulture, markup.Format, args)));
        }
        else
        {
            context.Console.MarkupLineInterpolated(markup);
        }
    }

    /// <summary>An interpolation argument formatted invariantly with its own format string, then markup-escaped.</summary>
    private sealed class EscapedArgument(object? value) : IFormattable
    {
        public string ToString(string? format, IFormatProvider? formatProvider) =>
            Markup.Escape(value is IFormattable f ? f.ToString(format, System.Globalization.CultureInfo.InvariantCulture) : Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture) ?? "");

        public override string ToString() => ToString(null, null);
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

    /// <summary>Trains (or continues) <paramref name="run"/> until its epochs are done, rendering progress; then plots.</summary>
    public RunResult Run(TrainingRun run, bool quiet = false)
    {
        foreach (string note in run.Notes)
        {
            Info($"[grey]{note}[/]");
        }

        var trainer = run.Trainer;
        void Epoch(EpochResult result)
        {
            if (!quiet)
            {
                context.Console.MarkupLineInterpolated(
                    $"epoch {result.Epoch,3}: train loss {result.TrainLoss:0.0000} acc {result.TrainAccuracy:P2} | test loss {result.Test.Loss:0.0000} acc [bold]{result.Test.Accuracy:P2}[/] | {result.ImagesPerSecond:N0} img/s | lr {result.LearningRate:G4}");
            }
        }

        RunResult outcome;
        if (context.Console.Profile.Capabilities.Interactive && !quiet)
        {
            outcome = null!;
            context.Console.Progress()
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
                .Start(ctx =>
                {
                    var task = ctx.AddTask(run.Name, maxValue: (double)trainer.Options.Epochs * trainer.BatchesPerEpoch);
                    task.Value = (double)trainer.Epoch * trainer.BatchesPerEpoch;
                    var progress = new SynchronousProgress<TrainProgress>(p =>
                    {
                        task.Increment(1);
                        task.Description = $"{Markup.Escape(run.Name)} e{p.Epoch} loss {p.Loss:0.000} acc {p.Accuracy:P0} {p.ImagesPerSecond:N0} img/s";
                    });
                    outcome = run.Run(progress, Epoch);
                });
        }
        else
        {
            outcome = run.Run(epochCompleted: Epoch);
        }

        if (run.Folder is not null && File.Exists(Path.Combine(run.Folder, TrainingRun.MetricsFileName)))
        {
            Plot(run.Folder, [(run.Name, run.Folder)]);
        }

        return outcome;
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
                var iterations = h.Records.OfType<IterationMetrics>().Where(static i => double.IsFinite(i.Loss)).ToList();
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

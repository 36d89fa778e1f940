using System;
using System.Collections.Generic;
using System.CommandLine;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.Json;
using Spectre.Console;

namespace FusedOpt.Cli.Commands;

/// <summary>
/// <c>fusedopt plot</c>: several finished or unfinished <c>train</c> runs side by side — test accuracy and loss curves
/// per epoch, and a Markdown table of each run's best and final figures. Reads each run folder's <c>result.json</c>
/// (written when <c>train</c> ends); a folder without one is a run in progress (or stopped, to be resumed), read from
/// its <c>metrics.jsonl</c>: the run record's settings and every evaluated epoch so far.
/// </summary>
internal static class PlotCommand
{
    /// <summary>One run's figures, as the table and <c>--json</c> report them.</summary>
    internal sealed record RunSummary(
        string Label, string Folder, string Optimizer, string Hyperparameters, int Epochs, double BestTestAccuracy,
        int BestEpoch, double FinalTestAccuracy, double FinalTestLoss, double FinalTrainLoss, double? ImagesPerSecond);

    public static Command Create(CliContext context)
    {
        var runs = new Argument<string[]>("runs") { Description = "Run folders written by fusedopt train, each as DIR or LABEL=DIR.", Arity = ArgumentArity.OneOrMore };
        var output = new Option<string>("--out") { Description = "Path prefix of the PNGs: PREFIX-accuracy.png and PREFIX-loss.png.", DefaultValueFactory = static _ => "runs" };
        var table = new Option<string?>("--table") { Description = "Also write the Markdown table to this file." };
        var json = new Option<bool>("--json") { Description = "Print the summaries as JSON instead of the table." };
        var command = new Command("plot", "Plot train runs side by side: test accuracy and loss per epoch, and a table of best and final figures.") { runs, output, table, json };
        command.SetAction(parse => context.Guard(() =>
        {
            var loaded = parse.GetValue(runs)!.Select(Load).ToList();
            string prefix = parse.GetValue(output)!;
            string? tablePath = parse.GetValue(table);
            Charts.RequireWritable(prefix + "-accuracy.png", "--out");
            if (tablePath is not null)
            {
                Charts.RequireWritable(tablePath, "--table");
            }

            var accuracy = loaded.Select(static r => new Charts.Series(r.Summary.Label, r.Epochs, [.. r.TestAccuracy.Select(static a => 100 * a)]));
            var loss = loaded.SelectMany(static r => new[]
            {
                new Charts.Series(r.Summary.Label + " (test)", r.Epochs, r.TestLoss),
                new Charts.Series(r.Summary.Label + " (train)", r.Epochs, r.TrainLoss),
            });
            Charts.Lines(prefix + "-accuracy.png", "Test accuracy", "epoch", "test accuracy (%)", accuracy);
            Charts.Lines(prefix + "-loss.png", "Cross-entropy loss", "epoch", "loss (test: after the epoch; train: mean over the epoch)", loss);

            var summaries = loaded.Select(static r => r.Summary).ToList();
            string markdown = Markdown(summaries);
            if (tablePath is not null)
            {
                FusedOpt.IO.AtomicFile.WriteAllText(tablePath, markdown);
            }

            if (parse.GetValue(json))
            {
                context.WriteRaw(Json.Serialize(summaries));
            }
            else
            {
                context.WriteRaw(markdown);
                context.Console.WriteLine($"wrote {prefix}-accuracy.png and {prefix}-loss.png" + (tablePath is null ? "" : $" and {tablePath}"));
            }

            return 0;
        }));
        return command;
    }

    private sealed record LoadedRun(RunSummary Summary, double[] Epochs, double[] TestAccuracy, double[] TestLoss, double[] TrainLoss);

    private static LoadedRun Load(string argument)
    {
        int eq = argument.IndexOf('=', StringComparison.Ordinal);
        string folder = eq > 0 ? argument[(eq + 1)..] : argument;
        string path = Path.Combine(folder, "result.json");
        string label = eq > 0 ? argument[..eq] : Path.GetFileName(Path.GetFullPath(folder).TrimEnd(Path.DirectorySeparatorChar));
        if (!File.Exists(path))
        {
            string metrics = Path.Combine(folder, Models.Training.TrainingRun.MetricsFileName);
            return File.Exists(metrics)
                ? LoadInProgress(label, folder, metrics)
                : throw new UsageException($"plot: {path} does not exist, nor {metrics}; expected a run folder written by fusedopt train.");
        }

        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(path));
            var root = doc.RootElement;
            var options = root.GetProperty("options");
            var (x, acc, testLoss, trainLoss) = Epochs(root);
            if (x.Length == 0)
            {
                throw new UsageException($"plot: {path} has no evaluated epoch yet; expected at least one epoch with a test evaluation.");
            }

            var last = root.GetProperty("epochs").EnumerateArray().Last(static e => e.TryGetProperty("test", out var t) && t.ValueKind == JsonValueKind.Object);
            int best = Array.IndexOf(acc, acc.Max());
            var summary = new RunSummary(
                label, folder, options.GetProperty("optimizer").GetString() ?? "?", Settings(options), x.Length,
                acc[best], (int)x[best], acc[^1], testLoss[^1], trainLoss[^1],
                last.TryGetProperty("imagesPerSecond", out var ips) && ips.ValueKind == JsonValueKind.Number ? ips.GetDouble() : null);
            return new LoadedRun(summary, x, acc, testLoss, trainLoss);
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw new UsageException($"plot: {path} is not a train result ({e.Message}).");
        }
    }

    /// <summary>
    /// A run without result.json, from its metrics file: the optimizer and settings of the <c>run</c> record, and the
    /// epochs with a test evaluation (a resumed run's file was cut back to its checkpoint, so each epoch appears once;
    /// an unfinished last line is dropped).
    /// </summary>
    private static LoadedRun LoadInProgress(string label, string folder, string metrics)
    {
        IReadOnlyList<Models.Training.Metrics.MetricsRecord> records;
        try
        {
            records = Models.Training.Metrics.MetricsReader.ReadAll(metrics);
        }
        catch (InvalidDataException e)
        {
            throw new UsageException($"plot: {e.Message}");
        }

        var run = records.OfType<Models.Training.Metrics.RunMetadata>().FirstOrDefault()
            ?? throw new UsageException($"plot: {metrics} has no run record; expected a metrics file written by fusedopt train.");
        var epochs = records.OfType<Models.Training.Metrics.EpochMetrics>().Where(static e => e.TestAccuracy is not null).ToList();
        if (epochs.Count == 0)
        {
            throw new UsageException($"plot: {metrics} has no evaluated epoch yet; expected at least one epoch with a test evaluation.");
        }

        double[] x = [.. epochs.Select(static e => (double)e.Epoch)];
        double[] acc = [.. epochs.Select(static e => e.TestAccuracy!.Value)];
        double[] testLoss = [.. epochs.Select(static e => e.TestLoss ?? double.NaN)];
        double[] trainLoss = [.. epochs.Select(static e => e.TrainLoss)];
        int best = Array.IndexOf(acc, acc.Max());
        var settings = run.Settings;
        string Setting(string name) => settings.TryGetValue(name, out var value) ? value : "";
        string described = string.Join(", ", new[]
        {
            Setting("hyperparameters").Replace("=", " ", StringComparison.Ordinal).Replace(",", ", ", StringComparison.Ordinal),
            settings.ContainsKey("weightDecay") ? "wd " + Setting("weightDecay") : "",
            Setting("schedule") is { Length: > 0 } schedule && schedule != "constant" ? schedule : "",
            "in progress",
        }.Where(static part => part.Length > 0));
        var summary = new RunSummary(
            label, folder, Setting("optimizer") is { Length: > 0 } optimizer ? optimizer : "?", described, x.Length,
            acc[best], (int)x[best], acc[^1], testLoss[^1], trainLoss[^1], epochs[^1].ImagesPerSecond);
        return new LoadedRun(summary, x, acc, testLoss, trainLoss);
    }

    /// <summary>
    /// The evaluated epochs of a <c>train</c> result.json (<paramref name="root"/>): epoch numbers, test accuracy, test
    /// loss and mean training loss, one entry per epoch that has a test evaluation (also read by <c>gadam plot</c>).
    /// </summary>
    internal static (double[] Epoch, double[] TestAccuracy, double[] TestLoss, double[] TrainLoss) Epochs(JsonElement root)
    {
        var epochs = root.GetProperty("epochs").EnumerateArray()
            .Where(static e => e.TryGetProperty("test", out var t) && t.ValueKind == JsonValueKind.Object)
            .ToList();
        return (
            [.. epochs.Select(static e => (double)e.GetProperty("epoch").GetInt32())],
            [.. epochs.Select(static e => e.GetProperty("test").GetProperty("accuracy").GetDouble())],
            [.. epochs.Select(static e => Number(e.GetProperty("test").GetProperty("loss")))],
            [.. epochs.Select(static e => Number(e.GetProperty("trainLoss")))]);
    }

    /// <summary>A loss as written by the metrics writer: a number, or "NaN"/"Infinity" for a diverged run.</summary>
    private static double Number(JsonElement e) => e.ValueKind == JsonValueKind.String
        ? double.Parse(e.GetString()!, NumberStyles.Float, CultureInfo.InvariantCulture)
        : e.GetDouble();

    /// <summary>The settings that tell runs apart: hyperparameters, weight decay and its mode, schedule, augmentation.</summary>
    private static string Settings(JsonElement options)
    {
        var parts = new List<string>();
        if (options.TryGetProperty("hyperparameters", out var h) && h.ValueKind == JsonValueKind.Object)
        {
            parts.AddRange(h.EnumerateObject().Select(static p => $"{p.Name} {p.Value.GetRawText()}"));
        }

        if (options.TryGetProperty("weightDecay", out var wd) && wd.ValueKind == JsonValueKind.Number && wd.GetDouble() != 0)
        {
            string mode = options.TryGetProperty("decayMode", out var m) ? m.GetString() ?? "" : "";
            parts.Add($"wd {wd.GetRawText()} ({mode})");
        }

        if (options.TryGetProperty("schedule", out var s) && s.GetString() is { } schedule && schedule != "constant")
        {
            parts.Add(schedule);
        }

        if (options.TryGetProperty("augment", out var a) && a.ValueKind == JsonValueKind.True)
        {
            parts.Add("crop+flip");
        }

        return string.Join(", ", parts);
    }

    internal static string Markdown(IReadOnlyList<RunSummary> runs)
    {
        var sb = new StringBuilder();
        sb.AppendLine("| run | optimizer | settings | epochs | best test acc (epoch) | final test acc | final test loss | final train loss | img/s |");
        sb.AppendLine("|---|---|---|---:|---:|---:|---:|---:|---:|");
        foreach (var r in runs)
        {
            sb.AppendLine(CultureInfo.InvariantCulture,
                $"| {r.Label} | {r.Optimizer} | {r.Hyperparameters} | {r.Epochs} | {100 * r.BestTestAccuracy:0.00}% ({r.BestEpoch}) | {100 * r.FinalTestAccuracy:0.00}% | {r.FinalTestLoss:0.000} | {r.FinalTrainLoss:0.000} | {(r.ImagesPerSecond is { } ips ? ips.ToString("0", CultureInfo.InvariantCulture) : "")} |");
        }

        return sb.ToString();
    }
}

using System;
using System.Collections.Generic;
using System.CommandLine;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using FusedOpt.Models.Training;
using Spectre.Console;

namespace FusedOpt.Cli.Commands;

/// <summary>
/// <c>fusedopt compare</c>: trains one model per optimizer on the same data, seed and initial weights, then writes one
/// comparison plot (loss per iteration, test accuracy per epoch), a Markdown table and every run's outputs. A run
/// that diverges stops (unless --keep-going), the others still train, and the command exits with 1.
/// </summary>
internal static class CompareCommand
{
    public static Command Create(CliContext context)
    {
        var set = new TrainOptionSet();
        var optimizers = new Option<string>("--optimizers") { Description = "Comma-separated optimizer names.", DefaultValueFactory = static _ => "sgd,sgd-momentum,sgd-nesterov,rmsprop,adam" };
        var lr = new Option<string?>("--lr") { Description = "Learning rate for all (1e-3) or per optimizer (sgd=0.01,adam=1e-4); default: each optimizer's." };
        var naive = new Option<bool>("--also-naive") { Description = "Also train each optimizer with the naive multi-pass step: same accuracy, compare the time." };
        var output = new Option<string>("--out") { Description = "Output folder.", DefaultValueFactory = static _ => Path.Combine("runs", "compare") };
        var json = new Option<bool>("--json") { Description = "Print the summary as JSON." };
        var command = new Command("compare", "Train several optimizers on the same data, seed and initial weights; one plot and a Markdown table.") { optimizers, lr, naive, output, json };
        set.AddTo(command);
        command.SetAction(parse => context.Guard(() =>
        {
            var names = parse.GetValue(optimizers)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            if (names.Length == 0)
            {
                throw new ArgumentException("--optimizers is empty; give one or more optimizer names, e.g. --optimizers sgd,adam (see fusedopt list).");
            }

            var twice = names.GroupBy(static n => n, StringComparer.OrdinalIgnoreCase).FirstOrDefault(static g => g.Count() > 1);
            if (twice is not null)
            {
                throw new ArgumentException($"--optimizers names {twice.Key} twice; each optimizer trains once, into its own folder.");
            }

            var rates = TrainOptionSet.ParseLearningRates(parse.GetValue(lr), names);
            var plans = new List<(string Name, TrainOptions Options)>();
            foreach (var name in names)
            {
                plans.Add((name, set.Build(parse, name, rates(name))));
                if (parse.GetValue(naive))
                {
                    plans.Add((name + " (naive step)", set.Build(parse, name, rates(name), naive: true)));
                }
            }

            string folder = parse.GetValue(output)!;
            bool quiet = parse.GetValue(json);
            var runner = new TrainingRunner(context, quiet);
            var data = runner.LoadData(parse.GetValue(set.Data), plans[0].Options);
            var results = new List<RunResult>();
            var folders = new List<(string Name, string Folder)>();
            foreach (var (name, options) in plans)
            {
                runner.Info($"[bold]{name}[/] lr {LearningRate(options):G4}; states: {options.StatesLabel()}");
                folders.Add((name, Path.Combine(folder, Slug(name))));
                using var run = TrainingRun.Start(data, options, name, folders[^1].Folder);
                var result = runner.Run(run, quiet);
                results.Add(result);
                if (result.Diverged is { } message)
                {
                    context.Error.WriteLine($"{name}: {message}");
                }
            }

            Directory.CreateDirectory(folder);
            // A naive-step run draws exactly over its fused twin: the plots show the fused runs, the table shows both.
            TrainingRunner.Plot(folder, [.. folders.Where(static f => !f.Name.EndsWith("(naive step)", StringComparison.Ordinal))], $"{plans[0].Options.Model} on {data.Train.Count:N0} CIFAR-10 images, batch {plans[0].Options.BatchSize}");
            string table = Table(results);
            File.WriteAllText(Path.Combine(folder, "compare.md"), table);
            File.WriteAllText(Path.Combine(folder, "compare.json"), Json.Serialize(results));
            if (quiet)
            {
                context.WriteRaw(Json.Serialize(results.Select(static r => new { r.Name, states = r.Options.StatesLabel(), r.FinalTestAccuracy, finalTrainLoss = r.FinalTrainLoss, r.Seconds, r.ImagesPerSecond, r.Diverged })));
            }
            else
            {
                context.Console.Write(new Text(table));
                context.Console.MarkupLineInterpolated($"plots and tables in {Path.GetFullPath(folder)}");
            }

            return results.Any(static r => r.Diverged is not null) ? 1 : 0;
        }));
        return command;
    }

    /// <summary>The Markdown table of the comparison.</summary>
    private static string Table(IReadOnlyList<RunResult> results)
    {
        var sb = new StringBuilder();
        sb.AppendLine("| optimizer | learning rate | final train loss | final train accuracy | test accuracy | best test accuracy | training time (s) | img/s |");
        sb.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var r in results)
        {
            if (r.Epochs.Count == 0)
            {
                sb.AppendLine(CultureInfo.InvariantCulture, $"| {r.Name} | {LearningRate(r.Options):G4} | diverged in epoch 1 | | | | | |");
                continue;
            }

            var last = r.Epochs[^1];
            double lr = LearningRate(r.Options);
            sb.AppendLine(CultureInfo.InvariantCulture,
                $"| {r.Name}{(r.Diverged is null ? "" : " (diverged)")} | {lr:G4} | {last.TrainLoss:0.000} | {100 * last.TrainAccuracy:0.0}% | {100 * last.Test.Accuracy:0.00}% | {100 * r.Epochs.Max(static e => e.Test.Accuracy):0.00}% | {r.Seconds:0.0} | {r.ImagesPerSecond:N0} |");
        }

        return sb.ToString();
    }

    private static double LearningRate(TrainOptions options)
    {
        var rule = OptimizerCatalog.Create(options.Optimizer, options.Hyperparameters);
        return rule.GetHyperparameters()[rule.Descriptor.IndexOfHyperparameter("lr")];
    }

    private static string Slug(string name) => new([.. name.Select(static c => char.IsLetterOrDigit(c) || c == '-' ? c : '_')]);
}

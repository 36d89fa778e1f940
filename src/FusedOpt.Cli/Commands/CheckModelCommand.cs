using System;
using System.CommandLine;
using System.Globalization;
using System.IO;
using System.Linq;
using FusedOpt.Models.Checks;
using Spectre.Console;

namespace FusedOpt.Cli.Commands;

/// <summary>
/// <c>fusedopt check-model FILE|DIR</c>: replays recorded PyTorch forward/backward cases of a VGG-BN (the format of
/// shared/reference/vgg) on the float32 runtime and compares logits, loss, every gradient, the updated running
/// statistics and the evaluation logits per tensor; exits 1 when any is beyond max |ours − ref| ≤ 1e-3·max |ref| + 1e-5.
/// </summary>
internal static class CheckModelCommand
{
    public static Command Create(CliContext context)
    {
        var path = new Argument<string>("path") { Description = "A case file (.json) or a folder of them." };
        var threads = new Option<int>("--threads") { Description = "GEMM threads.", DefaultValueFactory = static _ => 1 };
        var json = new Option<bool>("--json") { Description = "Print JSON instead of a table." };
        var output = new Option<string?>("--out") { Description = "Write what was computed, in the case's format (a folder when PATH is a folder)." };
        var command = new Command("check-model", "Replay recorded PyTorch forward/backward cases of VGG-BN and compare every tensor.") { path, threads, json, output };
        command.SetAction(parse => context.Guard(() =>
        {
            string target = parse.GetValue(path)!;
            int threadCount = ReplayCommand.CheckThreads(parse.GetValue(threads));
            bool folder = Directory.Exists(target);
            string[] files = folder
                ? [.. Directory.EnumerateFiles(target, "*.json").Order(StringComparer.Ordinal)]
                : File.Exists(target) ? [target] : throw new FileNotFoundException($"check-model: '{target}' is neither a case file nor a folder.");
            if (files.Length == 0)
            {
                throw new FileNotFoundException($"check-model: the folder '{target}' holds no .json case.");
            }

            string? outPath = parse.GetValue(output);
            var reports = files.Select(file =>
            {
                var c = ModelCase.Load(file);
                var ours = c.Run(threadCount);
                if (outPath is not null)
                {
                    string destination = folder ? Path.Combine(Directory.CreateDirectory(outPath).FullName, Path.GetFileName(file)) : outPath;
                    c.Write(ours, destination);
                }

                return c.Check(ours);
            }).ToList();
            bool passed = reports.All(static r => r.Passed);
            if (parse.GetValue(json))
            {
                context.WriteRaw(Json.Serialize(reports.Select(static r => new
                {
                    r.Case, r.Passed, r.WorstRatio,
                    Tensors = r.Tensors.Select(static t => new { t.Field, t.Name, t.Count, t.MaxAbsError, t.MaxAbsReference, t.Tolerance, t.Passed }),
                })));
                return passed ? 0 : 1;
            }

            foreach (var report in reports)
            {
                var table = new Table().Border(TableBorder.Rounded)
                    .Title($"{report.Case}: max |ours − PyTorch| ≤ {ModelCase.RelativeTolerance:0e0}·max |ref| + {ModelCase.AbsoluteTolerance:0e0}");
                foreach (var column in new[] { "field", "tensor", "values", "max |error|", "max |ref|", "tolerance", "" })
                {
                    table.AddColumn(column);
                }

                foreach (var t in report.Tensors)
                {
                    table.AddRow(new Text(t.Field), new Text(t.Name), new Text(t.Count.ToString("N0", CultureInfo.InvariantCulture)),
                        new Text(t.MaxAbsError.ToString("0.00e+0", CultureInfo.InvariantCulture)), new Text(t.MaxAbsReference.ToString("0.00e+0", CultureInfo.InvariantCulture)),
                        new Text(t.Tolerance.ToString("0.00e+0", CultureInfo.InvariantCulture)), new Markup(t.Passed ? "[green]ok[/]" : "[red]FAIL[/]"));
                }

                context.Console.Write(table);
                context.Console.MarkupLine(
                    $"{Markup.Escape(report.Case)}: {(report.Passed ? "[green]passed[/]" : "[red]FAILED[/]")} (worst error / tolerance {report.WorstRatio.ToString("0.000", CultureInfo.InvariantCulture)})");
            }

            return passed ? 0 : 1;
        }));
        return command;
    }
}

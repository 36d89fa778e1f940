using System;
using System.CommandLine;
using System.Globalization;
using System.Linq;
using FusedOpt.Models;
using FusedOpt.Models.Checks;
using FusedOpt.Models.Losses;
using Spectre.Console;

namespace FusedOpt.Cli.Commands;

/// <summary>
/// <c>fusedopt gradcheck</c>: central differences in float64 against the analytic gradients of every layer and loss
/// (seed 001's check), relative error |a − n| / max(|a|, |n|); exits 1 when any exceeds the tolerance.
/// </summary>
internal static class GradcheckCommand
{
    public static Command Create(CliContext context)
    {
        var allModels = GradientCheck.StandardModels.Concat(GradientCheck.ConvModels).ToArray();
        var models = new Option<string>("--models") { Description = "Comma-separated models, or all: " + string.Join(", ", allModels.Select(static m => m.Name)), DefaultValueFactory = static _ => "all" };
        var losses = new Option<string>("--losses") { Description = "Comma-separated losses, or all: " + string.Join(", ", LossCatalog.All.Select(static l => l.Name)), DefaultValueFactory = static _ => "all" };
        var tolerance = new Option<double>("--tolerance") { Description = "Largest acceptable relative error.", DefaultValueFactory = static _ => 1e-4 };
        var seed = new Option<ulong>("--seed") { Description = "Seed of weights, inputs and labels.", DefaultValueFactory = static _ => 1UL };
        var json = new Option<bool>("--json") { Description = "Print JSON instead of a table." };
        var command = new Command("gradcheck", "Check every layer's and loss's backward pass against float64 central differences.") { models, losses, tolerance, seed, json };
        command.SetAction(parse => context.Guard(() =>
        {
            var modelList = Select(parse.GetValue(models)!, allModels.Select(static m => m.Name).ToArray(), "--models");
            string lossText = parse.GetValue(losses)!;
            var lossList = lossText.Trim().Equals("all", StringComparison.OrdinalIgnoreCase)
                ? LossCatalog.All.Select(static l => l.Name).ToArray()
                : lossText.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(static l => LossCatalog.Get(l).Name).ToArray();
            double limit = parse.GetValue(tolerance);
            var reports = (from m in allModels
                           where modelList.Contains(m.Name)
                           from l in lossList
                           select (Model: m.Name, Report: GradientCheck.Run(m.Spec, LossCatalog.Get(l), new GradientCheckOptions { Seed = parse.GetValue(seed) }))).ToList();
            bool passed = reports.All(r => r.Report.MaxRelError <= limit);
            if (parse.GetValue(json))
            {
                context.WriteRaw(Json.Serialize(reports.Select(static r => new { model = r.Model, r.Report.Loss, r.Report.MaxRelError, r.Report.MaxFloat32Error, r.Report.Checked, r.Report.Tensors })));
                return passed ? 0 : 1;
            }

            var table = new Table().Border(TableBorder.Rounded).Title($"Gradient check (float64 central differences, tolerance {limit:0e0})");
            foreach (var column in new[] { "model", "loss", "tensors", "elements", "max rel. error", "float32 vs float64", "" })
            {
                table.AddColumn(column);
            }

            foreach (var (model, report) in reports)
            {
                table.AddRow(new Text(model), new Text(report.Loss), new Text(report.Tensors.Length.ToString(CultureInfo.InvariantCulture)),
                    new Text(report.Checked.ToString("N0", CultureInfo.InvariantCulture)), new Text(report.MaxRelError.ToString("0.0e+0", CultureInfo.InvariantCulture)),
                    new Text(report.MaxFloat32Error?.ToString("0.0e+0", CultureInfo.InvariantCulture) ?? "-"),
                    new Markup(report.MaxRelError <= limit ? "[green]ok[/]" : "[red]FAIL[/]"));
            }

            context.Console.Write(table);
            foreach (var (_, report) in reports.Where(r => r.Report.MaxRelError > limit))
            {
                context.Console.WriteLine(report.Describe());
            }

            return passed ? 0 : 1;
        }));
        return command;
    }

    private static string[] Select(string text, string[] known, string option)
    {
        if (text.Trim().Equals("all", StringComparison.OrdinalIgnoreCase))
        {
            return known;
        }

        var chosen = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var unknown = chosen.Where(c => !known.Contains(c, StringComparer.OrdinalIgnoreCase)).ToList();
        return unknown.Count == 0 ? chosen : throw new ArgumentException($"{option}: unknown {string.Join(", ", unknown)}; known: {string.Join(", ", known)}.");
    }
}

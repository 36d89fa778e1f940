using System;
using System.Collections.Generic;
using System.CommandLine;
using System.Globalization;
using FusedOpt.Benchmarks;
using FusedOpt.Kernels;
using Spectre.Console;

namespace FusedOpt.Cli.Commands;

/// <summary>
/// <c>fusedopt bench step</c>: times the fused step against the naive multi-pass and the scalar path on the same
/// buffers, beside a same-traffic probe, copy and triad, all in one run.
/// </summary>
internal static class BenchStepCommand
{
    public static Command Create(CliContext context)
    {
        var optimizer = new Option<string>("--optimizer") { Description = "Optimizer name (see fusedopt list).", DefaultValueFactory = static _ => "adam" };
        var size = new Option<string>("--size") { Description = "Parameters: 16M, 64K, 1000003 (K/M/G are binary multiples).", DefaultValueFactory = static _ => "16M" };
        var threads = new Option<int>("--threads") { Description = "Threads per step and per probe.", DefaultValueFactory = static _ => Math.Min(2, Environment.ProcessorCount) };
        var isa = new Option<string?>("--isa") { Description = "Fused path: avx512, avx2, scalar or auto." };
        var tensors = new Option<int>("--tensors") { Description = "Split the parameters into this many tensors in one arena.", DefaultValueFactory = static _ => 1 };
        var rounds = new Option<int>("--rounds") { Description = "Measurement rounds (variants interleaved; best round counts).", DefaultValueFactory = static _ => 5 };
        var hyper = new Option<string[]>("--set") { Description = "Hyperparameter overrides, e.g. --set weight_decay=0.01 --set amsgrad=true.", AllowMultipleArgumentsPerToken = true };
        var json = new Option<bool>("--json") { Description = "Print JSON instead of a table." };
        var command = new Command("step", "Time one optimizer step: fused vs naive multi-pass vs scalar, against the memory limit.")
        {
            optimizer, size, threads, isa, tensors, rounds, hyper, json,
        };
        command.SetAction(parse => context.Guard(() =>
        {
            var options = new StepBenchOptions(
                parse.GetValue(optimizer)!,
                StepBenchmark.ParseSize(parse.GetValue(size)!),
                ReplayCommand.CheckThreads(parse.GetValue(threads)),
                IsaSupport.Parse(parse.GetValue(isa), "--isa"),
                Math.Max(1, parse.GetValue(rounds)),
                Tensors: parse.GetValue(tensors),
                Hyperparameters: ParseAssignments(parse.GetValue(hyper) ?? []));
            OptimizerCatalog.Get(options.Optimizer);
            StepBenchResult result = null!;
            if (parse.GetValue(json))
            {
                result = StepBenchmark.Run(options);
                context.WriteRaw(Json.Serialize(new
                {
                    result.Options,
                    result.Machine,
                    result.Isa,
                    variants = new[] { result.Fused, result.Naive, result.Scalar, result.SameTraffic, result.Copy, result.Triad },
                    result.SpeedupVsNaive,
                    result.SpeedupVsScalar,
                    result.FractionOfProbe,
                    result.NaivePasses,
                    result.Operations,
                    result.OpCosts,
                    result.ElementsPerCycle,
                    result.ArithmeticLimit,
                    result.FractionOfArithmeticLimit,
                }));
                return 0;
            }

            if (context.Console.Profile.Capabilities.Interactive)
            {
                context.Console.Status().Start("measuring", status =>
                {
                    result = StepBenchmark.Run(options, new Progress<string>(s => status.Status(Markup.Escape(s))));
                });
            }
            else
            {
                result = StepBenchmark.Run(options);
            }

            Render(context.Console, result);
            return 0;
        }));
        return command;
    }

    /// <summary>Parses <c>name=value</c> pairs; <c>true</c>/<c>false</c> are 1/0.</summary>
    internal static Dictionary<string, double> ParseAssignments(IEnumerable<string> items)
    {
        var result = new Dictionary<string, double>(StringComparer.OrdinalIgnoreCase);
        foreach (var item in items)
        {
            int eq = item.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0)
            {
                throw new FormatException($"--set '{item}': expected name=value, e.g. weight_decay=0.01.");
            }

            string name = item[..eq].Trim(), text = item[(eq + 1)..].Trim();
            result[name] = text.ToLowerInvariant() switch
            {
                "true" => 1,
                "false" => 0,
                _ when double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) => v,
                _ => throw new FormatException($"--set {name}: '{text}' is not a number or true/false."),
            };
        }

        return result;
    }

    private static void Render(IAnsiConsole console, StepBenchResult r)
    {
        var o = r.Options;
        console.MarkupLineInterpolated($"[bold]{o.Optimizer}[/], {o.Size:N0} parameters in {o.Tensors} tensor(s), {o.Threads} thread(s), {r.Machine.Cpu} ({r.Machine.Runtime})");
        var table = new Table().Border(TableBorder.Rounded);
        table.AddColumn("variant");
        table.AddColumn(new TableColumn("B/param").RightAligned());
        table.AddColumn(new TableColumn("best ms").RightAligned());
        table.AddColumn(new TableColumn("median ms").RightAligned());
        table.AddColumn(new TableColumn("ns/param").RightAligned());
        table.AddColumn(new TableColumn("GB/s").RightAligned());
        foreach (var v in new[] { r.Fused, r.Naive, r.Scalar, r.SameTraffic, r.Copy, r.Triad })
        {
            table.AddRow(v.Name, v.BytesPerParameter.ToString(CultureInfo.InvariantCulture), (v.BestSeconds * 1e3).ToString("0.000", CultureInfo.InvariantCulture),
                (v.MedianSeconds * 1e3).ToString("0.000", CultureInfo.InvariantCulture), v.NsPerParameter.ToString("0.000", CultureInfo.InvariantCulture),
                v.GBps.ToString("0.0", CultureInfo.InvariantCulture));
        }

        console.Write(table);
        console.MarkupLineInterpolated($"fused vs naive ({r.NaivePasses} passes): [bold]{r.SpeedupVsNaive:0.00}×[/]   fused vs scalar: [bold]{r.SpeedupVsScalar:0.00}×[/]   fused / same-traffic probe: [bold]{r.FractionOfProbe:0.00}[/]");
        if (r.OpCosts is { } c)
        {
            console.MarkupLineInterpolated(
                $"[grey]core clock {c.FrequencyGHz:0.00} GHz; {c.Isa} cycles/op: add {c.Add:0.00}, mul {c.Mul:0.00}, div {c.Div:0.00}, sqrt {c.Sqrt:0.00}; rule: {r.Operations}[/]");
            console.MarkupLineInterpolated(
                $"elements/cycle/core: [bold]{r.ElementsPerCycle:0.000}[/] of an arithmetic limit of {r.ArithmeticLimit:0.000} ([bold]{r.FractionOfArithmeticLimit:0.00}[/]; meaningful when the buffers fit in cache)");
        }
    }
}

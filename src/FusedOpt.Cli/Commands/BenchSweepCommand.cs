using System;
using System.Collections.Generic;
using System.CommandLine;
using System.Globalization;
using System.Linq;
using FusedOpt.Benchmarks;
using FusedOpt.Kernels;
using Spectre.Console;

namespace FusedOpt.Cli.Commands;

/// <summary>
/// <c>fusedopt bench sweep</c>: <c>bench step</c> over a range of sizes, as a table, JSON and a PNG of ns/param against
/// size for fused, naive, scalar and the same-traffic probe (the plot in docs/benchmarks.md).
/// </summary>
internal static class BenchSweepCommand
{
    public static Command Create(CliContext context)
    {
        var optimizer = new Option<string>("--optimizer") { Description = "Optimizer name.", DefaultValueFactory = static _ => "adam" };
        var sizes = new Option<string>("--sizes") { Description = "Comma-separated sizes (K/M/G binary).", DefaultValueFactory = static _ => "16K,64K,256K,1M,4M,16M,64M" };
        var threads = new Option<int>("--threads") { Description = "Threads.", DefaultValueFactory = static _ => Math.Min(2, Environment.ProcessorCount) };
        var rounds = new Option<int>("--rounds") { Description = "Measurement rounds per size.", DefaultValueFactory = static _ => 3 };
        var plot = new Option<string?>("--plot") { Description = "Write a PNG of ns/param against size to this path." };
        var json = new Option<bool>("--json") { Description = "Print JSON instead of a table." };
        var command = new Command("sweep", "Run bench step over sizes; table, JSON and an ns/param-vs-size PNG.") { optimizer, sizes, threads, rounds, plot, json };
        command.SetAction(parse => context.Guard(() =>
        {
            string name = parse.GetValue(optimizer)!;
            OptimizerCatalog.Get(name);
            var sizeList = parse.GetValue(sizes)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(StepBenchmark.ParseSize).ToList();
            if (sizeList.Count == 0)
            {
                throw new UsageException($"--sizes '{parse.GetValue(sizes)}': expected comma-separated sizes, e.g. 64K,1M,16M.");
            }

            int t = ReplayCommand.CheckThreads(parse.GetValue(threads));
            int roundCount = CliContext.Require("--rounds", parse.GetValue(rounds), 1, 10_000);
            string? png = parse.GetValue(plot);
            if (png is not null)
            {
                // Checked before the measurements, so that minutes of work are not lost to a bad path at the end.
                Charts.RequireWritable(png, "--plot");
            }

            // Every size's memory is checked before the first is measured.
            foreach (long size in sizeList)
            {
                var sizeOptions = new StepBenchOptions(name, size, t, Rounds: roundCount);
                FusedOpt.Memory.MemoryBudget.Require(StepBenchmark.RequiredBytes(sizeOptions), $"bench sweep {name} at {size:N0} parameters");
            }

            var results = new List<StepBenchResult>();
            void RunAll(Action<string>? report)
            {
                foreach (long size in sizeList)
                {
                    report?.Invoke($"{name}: {size:N0} parameters");
                    results.Add(StepBenchmark.Run(new StepBenchOptions(name, size, t, Rounds: roundCount)));
                }
            }

            if (context.Console.Profile.Capabilities.Interactive && !parse.GetValue(json))
            {
                context.Console.Status().Start("measuring", status => RunAll(s => status.Status(Markup.Escape(s))));
            }
            else
            {
                RunAll(null);
            }

            if (png is not null)
            {
                var x = results.Select(static r => (double)r.Options.Size).ToList();
                Charts.Lines(png, $"{name}: time per parameter ({t} thread{(t == 1 ? "" : "s")}, {results[0].Machine.Cpu})", "parameters", "ns per parameter (log)",
                [
                    new("fused " + results[0].Isa, x, [.. results.Select(static r => r.Fused.NsPerParameter)]),
                    new("naive multi-pass", x, [.. results.Select(static r => r.Naive.NsPerParameter)]),
                    new("fused scalar", x, [.. results.Select(static r => r.Scalar.NsPerParameter)]),
                    new("same-traffic probe", x, [.. results.Select(static r => r.SameTraffic.NsPerParameter)]),
                ], logX: true, logY: true);
            }

            if (parse.GetValue(json))
            {
                context.WriteRaw(Json.Serialize(results.Select(static r => new
                {
                    r.Options.Size,
                    r.Options.Threads,
                    r.Isa,
                    fusedNsPerParam = r.Fused.NsPerParameter,
                    naiveNsPerParam = r.Naive.NsPerParameter,
                    scalarNsPerParam = r.Scalar.NsPerParameter,
                    probeNsPerParam = r.SameTraffic.NsPerParameter,
                    fusedGBps = r.Fused.GBps,
                    r.FractionOfProbe,
                    r.SpeedupVsNaive,
                    r.SpeedupVsScalar,
                    r.ElementsPerCycle,
                    r.ArithmeticLimit,
                })));
                return 0;
            }

            var table = BenchTables.Create($"{name}, {t} thread(s)", 0, "size", "fused ns/p", "naive ns/p", "scalar ns/p", "probe ns/p", "fused GB/s", "÷probe", "×naive", "el/cycle/core");
            foreach (var r in results)
            {
                table.AddRow(r.Options.Size.ToString("N0", CultureInfo.InvariantCulture), F(r.Fused.NsPerParameter), F(r.Naive.NsPerParameter), F(r.Scalar.NsPerParameter),
                    F(r.SameTraffic.NsPerParameter), BenchTables.Number(r.Fused.GBps, "0.0"), BenchTables.Number(r.FractionOfProbe, "0.00"),
                    BenchTables.Number(r.SpeedupVsNaive, "0.00"), r.ElementsPerCycle is { } e ? BenchTables.Number(e, "0.000") : "-");
            }

            context.Console.Write(table);
            return 0;
        }));
        return command;
    }

    private static string F(double v) => BenchTables.Number(v, "0.000");
}

using System;
using System.Collections.Generic;
using System.CommandLine;
using System.IO;
using System.Linq;
using FusedOpt.Gpu;
using FusedOpt.Kernels;
using FusedOpt.Reference;
using Spectre.Console;

namespace FusedOpt.Cli.Commands;

/// <summary>
/// <c>fusedopt replay CASE.json|DIR</c>: replays PyTorch reference trajectories and prints the maximum relative error
/// per case; exits with 1 when any case exceeds the reference tolerance (1e-4). <c>--device</c> replays with the
/// generated GPU kernels on CUDA, OpenCL or ILGPU's CPU accelerator instead of the fused CPU kernels.
/// </summary>
internal static class ReplayCommand
{
    public static Command Create(CliContext context)
    {
        var path = new Argument<string>("path") { Description = "A reference case (*.json) or a folder of them." };
        var isa = new Option<string?>("--isa") { Description = "Instruction set: avx512, avx2, scalar or auto (default: FUSEDOPT_ISA or the widest)." };
        var threads = new Option<int>("--threads") { Description = "Threads per step.", DefaultValueFactory = static _ => 1 };
        var naive = new Option<bool>("--naive") { Description = "Replay with the naive multi-pass step instead of the fused kernel." };
        var output = new Option<string?>("--out") { Description = "Write {\"final\":[…],\"trajectory\":[[…],…]} to this file (a folder when PATH is a folder)." };
        var device = new Option<string>("--device") { Description = $"Where the steps run: {DeviceSpec.Choices} (cuda:1 for the second GPU); see fusedopt devices.", DefaultValueFactory = static _ => "cpu" };
        var json = new Option<bool>("--json") { Description = "Print JSON instead of a table." };
        var command = new Command("replay", "Replay PyTorch reference trajectories and compare, step by step.") { path, isa, threads, naive, device, output, json };
        command.SetAction(parse => context.Guard(() =>
        {
            var where = DeviceSpec.Parse(parse.GetValue(device));
            string input = parse.GetValue(path)!;
            var files = Directory.Exists(input)
                ? Directory.GetFiles(input, "*.json").OrderBy(static f => f, StringComparer.Ordinal).ToList()
                : File.Exists(input) ? [input] : throw new FileNotFoundException($"{input}: no such file or folder.");
            if (files.Count == 0)
            {
                throw new FileNotFoundException($"{input}: the folder holds no *.json reference cases.");
            }

            var options = new OptimizerOptions
            {
                Isa = IsaSupport.Parse(parse.GetValue(isa), "--isa"),
                Threads = CheckThreads(parse.GetValue(threads)),
                Mode = parse.GetValue(naive) ? StepMode.Naive : StepMode.Fused,
            };
            RequireHostOptions(where, options);
            using var session = where.IsHost ? null : GpuDevices.Open(where);
            var results = files.Select(f =>
            {
                var reference = ReferenceCase.Load(f);
                return session is null ? reference.Replay(options) : reference.ReplayOnDevice(session.Accelerator, options);
            }).ToList();

            if (parse.GetValue(output) is { } target)
            {
                WriteTrajectories(results, target, Directory.Exists(input));
            }

            if (parse.GetValue(json))
            {
                context.WriteRaw(Json.Serialize(results.Select(r => new
                {
                    r.Case.Name,
                    r.Optimizer,
                    isa = where.IsHost ? IsaSupport.Name(r.Isa) : null,
                    device = where.IsHost ? "cpu" : $"{where} ({r.Device})",
                    steps = r.Trajectory.Length,
                    r.MaxRelativeError,
                    r.Passed,
                })));
            }
            else
            {
                Render(context.Console, results, options, where);
            }

            return results.All(static r => r.Passed) ? 0 : 1;
        }));
        return command;
    }

    /// <summary>Refuses host-only options (<c>--isa</c>, <c>--naive</c>) with a GPU device.</summary>
    internal static void RequireHostOptions(DeviceSpec device, OptimizerOptions options)
    {
        if (device.IsHost)
        {
            return;
        }

        if (options.Isa is { } forced)
        {
            throw new ArgumentException($"--isa {IsaSupport.Name(forced)} chooses a CPU instruction set; it does not apply to --device {device}.");
        }

        if (options.Mode == StepMode.Naive)
        {
            throw new ArgumentException($"--naive is the CPU multi-pass baseline; it does not apply to --device {device}.");
        }
    }

    internal static int CheckThreads(int threads) =>
        threads is >= 1 and <= 1024 ? threads : throw new ArgumentOutOfRangeException(nameof(threads), threads, $"--threads must be between 1 and 1024, got {threads}.");

    private static void Render(IAnsiConsole console, List<ReplayResult> results, OptimizerOptions options, DeviceSpec device)
    {
        string path = device.IsHost
            ? $"{(options.Mode == StepMode.Naive ? "naive" : "fused " + IsaSupport.Name(IsaSupport.Resolve(options.Isa)))}, {options.Threads} thread{(options.Threads == 1 ? "" : "s")}"
            : $"GPU kernel on {device}: {results.FirstOrDefault()?.Device}";
        var table = new Table().Border(TableBorder.Rounded)
            .Title($"Reference replay ({Markup.Escape(path)}; tolerance {ReferenceCase.Tolerance:0e0})");
        table.AddColumn("case");
        table.AddColumn("optimizer");
        table.AddColumn(new TableColumn("steps").RightAligned());
        table.AddColumn(new TableColumn("max rel. error").RightAligned());
        table.AddColumn("");
        foreach (var r in results)
        {
            table.AddRow(
                new Text(r.Case.Name),
                new Text(r.Optimizer),
                new Text(r.Trajectory.Length.ToString(System.Globalization.CultureInfo.InvariantCulture)),
                new Text(r.MaxRelativeError.ToString("0.00e+0", System.Globalization.CultureInfo.InvariantCulture)),
                new Markup(r.Passed ? "[green]ok[/]" : "[red]FAIL[/]"));
        }

        console.Write(table);
        foreach (var r in results.Where(static r => !r.Passed))
        {
            console.MarkupLineInterpolated($"[red]{r.Describe()}[/]");
        }

        int failed = results.Count(static r => !r.Passed);
        console.MarkupLine(failed == 0 ? $"[green]{results.Count} cases within tolerance.[/]" : $"[red]{failed} of {results.Count} cases exceed the tolerance.[/]");
    }

    private static void WriteTrajectories(List<ReplayResult> results, string target, bool inputIsFolder)
    {
        if (inputIsFolder)
        {
            Directory.CreateDirectory(target);
        }

        foreach (var r in results)
        {
            string file = inputIsFolder ? Path.Combine(target, r.Case.Name + ".json") : target;
            string? dir = Path.GetDirectoryName(Path.GetFullPath(file));
            if (dir is not null)
            {
                Directory.CreateDirectory(dir);
            }

            File.WriteAllText(file, System.Text.Json.JsonSerializer.Serialize(new { final = r.Trajectory[^1], trajectory = r.Trajectory }));
        }
    }
}

using System;
using System.Collections.Generic;
using System.CommandLine;
using System.IO;
using System.Linq;
using FusedOpt.Gpu;
using FusedOpt.IO;
using FusedOpt.Kernels;
using FusedOpt.Reference;
using FusedOpt.Storage;
using FusedOpt.Vulkan;
using Spectre.Console;

namespace FusedOpt.Cli.Commands;

/// <summary>
/// <c>fusedopt replay CASE.json|DIR</c>: replays PyTorch reference trajectories and prints the maximum relative error
/// per case; exits with 1 when any case exceeds the reference tolerance (1e-4; with <c>--state bf16|q8</c> plus a
/// share of the distance each element travelled, <see cref="ReferenceCase.DistanceTolerance"/>). <c>--device</c> replays with the
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
        var output = new Option<string?>("--out") { Description = "Write {\"final\":[…],\"trajectory\":[[…],…]} to this file; when PATH is a folder, to this folder, one file per case named after the case file." };
        var device = new Option<string>("--device") { Description = $"Where the steps run: {DeviceSpec.Choices} (cuda:1 for the second GPU); see fusedopt devices.", DefaultValueFactory = static _ => "cpu" };
        var state = StateOption("Replay with the states stored as fp32, bf16 or q8. PyTorch keeps them in fp32: with bf16 or q8 each element may also be off by a share of the distance it travelled (2^-5 bf16, 2^-1 q8; printed); fp32's 1e-4 is unchanged.");
        var rounding = StochasticRoundingOption();
        var json = new Option<bool>("--json") { Description = "Print JSON instead of a table." };
        var command = new Command("replay", "Replay PyTorch reference trajectories and compare, step by step.") { path, isa, threads, naive, device, state, rounding, output, json };
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
                StateStorage = StateStorages.Parse(parse.GetValue(state), "--state"),
            };
            options = WithRounding(options, parse.GetValue(rounding), seed: 1);
            RequireHostOptions(where, options);
            bool inputIsFolder = Directory.Exists(input);
            string[]? outputs = parse.GetValue(output) is { } target ? OutputPaths(files, target, inputIsFolder) : null;
            using var session = where.IsHost || where.IsVulkan ? null : GpuDevices.Open(where);
            using var vulkan = where.IsVulkan ? VulkanDevice.Open(where.Index) : null;
            var results = files.Select(f =>
            {
                var reference = ReferenceCase.Load(f);
                return vulkan is not null ? reference.ReplayOnVulkan(vulkan, VulkanShaders.Default, options)
                    : session is null ? reference.Replay(options) : reference.ReplayOnDevice(session.Accelerator, options);
            }).ToList();

            if (outputs is not null)
            {
                WriteTrajectories(results, outputs);
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
                    states = StateStorages.Name(options.StateStorage),
                    r.MaxRelativeError,
                    tolerance = ReferenceCase.Tolerance,
                    distanceTolerance = ReferenceCase.DistanceTolerance(options.StateStorage),
                    r.BoundRatio,
                    r.Passed,
                })));
            }
            else
            {
                Render(context.Console, results, options, where);
            }

            return results.All(static r => r.Passed) ? ExitCodes.Success : ExitCodes.CheckFailed;
        }));
        return command;
    }

    /// <summary><c>--state fp32|bf16|q8</c>, default fp32, with <paramref name="description"/>.</summary>
    internal static Option<string> StateOption(string description) => new("--state") { Description = description, DefaultValueFactory = static _ => "fp32" };

    /// <summary><c>--stochastic-rounding</c> (bf16 states only).</summary>
    internal static Option<bool> StochasticRoundingOption() => new("--stochastic-rounding") { Description = "With --state bf16: round the states stochastically (unbiased; rounding seed 1)." };

    /// <summary>
    /// <paramref name="options"/> with stochastic rounding seeded by <paramref name="seed"/> when asked; refused, naming
    /// both options, unless the states are bf16.
    /// </summary>
    internal static OptimizerOptions WithRounding(OptimizerOptions options, bool stochastic, ulong seed)
    {
        if (!stochastic)
        {
            return options;
        }

        return options.StateStorage == StateStorage.Bf16
            ? options with { StochasticRounding = true, RoundingSeed = seed }
            : throw new UsageException($"--stochastic-rounding rounds bf16 states; it does not apply to --state {StateStorages.Name(options.StateStorage)}.");
    }

    /// <summary>Refuses host-only options (<c>--isa</c>, <c>--naive</c>, <c>--state</c> other than fp32) with a GPU device.</summary>
    internal static void RequireHostOptions(DeviceSpec device, OptimizerOptions options)
    {
        if (device.IsHost)
        {
            return;
        }

        if (options.StateStorage != StateStorage.Fp32)
        {
            throw new UsageException($"--state {StateStorages.Name(options.StateStorage)} stores the states compressed on the CPU only; --device {device} keeps them in fp32 (leave --state at fp32, or drop --device).");
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

    internal static int CheckThreads(int threads) => CliContext.Require("--threads", threads, 1, 1024);

    private static void Render(IAnsiConsole console, List<ReplayResult> results, OptimizerOptions options, DeviceSpec device)
    {
        string path = device.IsHost
            ? $"{(options.Mode == StepMode.Naive ? "naive" : "fused " + IsaSupport.Name(IsaSupport.Resolve(options.Isa)))}, {options.Threads} thread{(options.Threads == 1 ? "" : "s")}"
            : $"{(device.IsVulkan ? "HLSL shader" : "GPU kernel")} on {device}: {results.FirstOrDefault()?.Device}";
        var table = new Table().Border(TableBorder.Rounded)
            .Title($"Reference replay ({Markup.Escape(path)}{States(options)}; tolerance {Tolerance(options.StateStorage)})");
        table.AddColumn("case");
        table.AddColumn("optimizer");
        table.AddColumn(new TableColumn("steps").RightAligned());
        table.AddColumn(new TableColumn("max rel. error").RightAligned());
        bool compressed = options.StateStorage != StateStorage.Fp32;
        if (compressed)
        {
            table.AddColumn(new TableColumn("error / bound").RightAligned());
        }

        table.AddColumn("");
        foreach (var r in results)
        {
            var cells = new List<Spectre.Console.Rendering.IRenderable>
            {
                new Text(r.Case.Name),
                new Text(r.Optimizer),
                new Text(r.Trajectory.Length.ToString(System.Globalization.CultureInfo.InvariantCulture)),
                new Text(r.MaxRelativeError.ToString("0.00e+0", System.Globalization.CultureInfo.InvariantCulture)),
            };
            if (compressed)
            {
                cells.Add(new Text((r.BoundRatio ?? double.NaN).ToString("0.00e+0", System.Globalization.CultureInfo.InvariantCulture)));
            }

            cells.Add(new Markup(r.Passed ? "[green]ok[/]" : "[red]FAIL[/]"));
            table.AddRow(cells);
        }

        console.Write(table);
        foreach (var r in results.Where(static r => !r.Passed))
        {
            console.MarkupLineInterpolated($"[red]{r.Describe()}[/]");
        }

        if (compressed)
        {
            console.MarkupLineInterpolated(
                $"[grey]states {StateStorages.Name(options.StateStorage)}: PyTorch keeps them in fp32, so each element is held to |ours − expected| ≤ {Tolerance(options.StateStorage)}, d its distance travelled in PyTorch's trajectory so far (fp32 states: {ReferenceCase.Tolerance:0e0}·(|x| + {ReferenceCase.ErrorFloor:0e0}) alone); see docs/compressed-states.md.[/]");
        }

        int failed = results.Count(static r => !r.Passed);
        console.MarkupLine(failed == 0 ? $"[green]{results.Count} cases within tolerance.[/]" : $"[red]{failed} of {results.Count} cases exceed the tolerance.[/]");
    }

    /// <summary>The bound replay holds each element to, in words: fp32's relative tolerance, plus κ·d with compressed states.</summary>
    private static string Tolerance(StateStorage storage) =>
        storage == StateStorage.Fp32
            ? ReferenceCase.Tolerance.ToString("0e0", System.Globalization.CultureInfo.InvariantCulture)
            : string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{ReferenceCase.Tolerance:0e0}·(|x| + {ReferenceCase.ErrorFloor:0e0}) + {ReferenceCase.DistanceTolerance(storage):G4}·d");

    private static string States(OptimizerOptions options) =>
        options.StateStorage == StateStorage.Fp32 ? "" : $", states {StateStorages.Name(options.StateStorage)}{(options.StochasticRounding ? " (stochastic rounding)" : "")}";

    /// <summary>
    /// Where each case's trajectory goes: <paramref name="target"/> itself for one case file; for a folder, a file
    /// inside <paramref name="target"/> named after the input file (never after the case's <c>name</c> field, which is
    /// untrusted text). Refuses an output that would overwrite an input or another output.
    /// </summary>
    internal static string[] OutputPaths(IReadOnlyList<string> inputs, string target, bool inputIsFolder)
    {
        if (target.Length == 0)
        {
            throw new UsageException("--out '': expected a file (or a folder when PATH is a folder).");
        }

        string[] outputs = inputIsFolder
            ? [.. inputs.Select(f => Path.Combine(Path.GetFullPath(target), Path.GetFileName(f)))]
            : [Path.GetFullPath(target)];
        var inputSet = new HashSet<string>(inputs.Select(Path.GetFullPath), StringComparer.Ordinal);
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        for (int i = 0; i < outputs.Length; i++)
        {
            if (inputSet.Contains(outputs[i]))
            {
                throw new UsageException($"--out {target}: the trajectory of {inputs[i]} would overwrite the case file itself; choose another --out.");
            }

            if (!seen.Add(outputs[i]))
            {
                throw new UsageException($"--out {target}: two cases would write {outputs[i]}.");
            }
        }

        if (inputIsFolder && File.Exists(target))
        {
            throw new UsageException($"--out {target}: is a file; with a folder of cases --out names a folder.");
        }

        if (!inputIsFolder && Directory.Exists(target))
        {
            throw new UsageException($"--out {target}: is a folder; with one case file --out names the output file.");
        }

        return outputs;
    }

    private static readonly System.Text.Json.JsonSerializerOptions TrajectoryJson = new() { NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals };

    private static void WriteTrajectories(List<ReplayResult> results, string[] outputs)
    {
        for (int i = 0; i < results.Count; i++)
        {
            var r = results[i];
            string file = outputs[i];
            Directory.CreateDirectory(Path.GetDirectoryName(file)!);

            // Written beside the target and moved over it, so an interrupted run never leaves half a file.
            // Named literals: a replay that blew up (q8 states can) still writes its NaN and ±∞ values.
            AtomicFile.WriteAllText(file, System.Text.Json.JsonSerializer.Serialize(new { final = r.Trajectory.Length > 0 ? r.Trajectory[^1] : r.Case.Initial, trajectory = r.Trajectory }, TrajectoryJson));
        }
    }
}

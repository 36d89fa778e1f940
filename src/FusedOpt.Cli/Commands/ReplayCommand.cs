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
        var minElements = Q8MinElementsOption("With --state q8: cases with fewer elements keep fp32 states, as bitsandbytes' min_8bit_size does (every shared case has under 4096: says so and holds them to fp32's 1e-4); 0 quantizes every case.");
        var keepPositive = Q8KeepPositiveOption("With --state q8: never store a positive value of a non-negative state (Adam's v) as 0, but as the smallest nonzero code (default: bitsandbytes' quantizer exactly).");
        var json = new Option<bool>("--json") { Description = "Print JSON instead of a table." };
        var command = new Command("replay", "Replay PyTorch reference trajectories and compare, step by step.") { path, isa, threads, naive, device, state, rounding, minElements, keepPositive, output, json };
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
            options = options with { Q8MinElements = Q8Threshold(parse, minElements, options.StateStorage) ?? options.Q8MinElements };
            options = WithKeepPositive(options, parse.GetValue(keepPositive));
            RequireHostOptions(where, options);
            bool inputIsFolder = Directory.Exists(input);
            string[]? outputs = parse.GetValue(output) is { } target ? OutputPaths(files, target, inputIsFolder) : null;
            using var session = where.IsHost || where.IsVulkan ? null : GpuDevices.Open(where);
            using var vulkan = where.IsVulkan ? VulkanDevice.Open(where.Index) : null;
            var results = files.Select(f =>
            {
                var reference = ReferenceCase.Load(f);
                return vulkan is not null ? reference.ReplayOnVulkan(vulkan, VulkanShaders.Default, options)
                    : session is null ? HeldToItsStorage(reference, reference.Replay(options), options) : reference.ReplayOnDevice(session.Accelerator, options);
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
                    elements = r.Case.Initial.Length,
                    states = StateStorages.Name(options.StateStorage),
                    q8MinElements = options.StateStorage == StateStorage.Q8 ? options.Q8MinElements : (long?)null,
                    q8KeepPositive = options.StateStorage == StateStorage.Q8 ? options.Q8KeepPositive : (bool?)null,
                    storedAs = StateStorages.Name(r.Storage),
                    r.MaxRelativeError,
                    tolerance = ReferenceCase.Tolerance,
                    distanceTolerance = ReferenceCase.DistanceTolerance(r.Storage),
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

    /// <summary>
    /// A host replay scored against the storage its states really had: with q8, a case of fewer elements than
    /// <see cref="OptimizerOptions.Q8MinElements"/> kept fp32 states (the optimizer stores a small tensor's states as
    /// float32, as bitsandbytes does), so q8's loosened bound does not apply and the case is held to fp32's tolerance.
    /// </summary>
    internal static ReplayResult HeldToItsStorage(ReferenceCase reference, ReplayResult result, OptimizerOptions options) =>
        options.StateStorage == StateStorage.Q8 && reference.Initial.Length < options.Q8MinElements
            ? reference.Score(result.Optimizer, result.Isa, result.Trajectory, StateStorage.Fp32)
            : result;

    /// <summary><c>--state fp32|bf16|q8</c>, default fp32, with <paramref name="description"/>.</summary>
    internal static Option<string> StateOption(string description) => new("--state") { Description = description, DefaultValueFactory = static _ => "fp32" };

    /// <summary><c>--stochastic-rounding</c> (bf16 states only).</summary>
    internal static Option<bool> StochasticRoundingOption() => new("--stochastic-rounding") { Description = "With --state bf16: round the states stochastically (unbiased; rounding seed 1)." };

    /// <summary>
    /// <c>--q8-min-elements N</c> (default <see cref="OptimizerOptions.Q8MinElements"/>'s, 4096), with
    /// <paramref name="description"/>.
    /// </summary>
    internal static Option<long> Q8MinElementsOption(string description) =>
        new("--q8-min-elements") { Description = description, DefaultValueFactory = static _ => new OptimizerOptions().Q8MinElements };

    /// <summary><c>--q8-keep-positive</c> (q8 states only; <see cref="OptimizerOptions.Q8KeepPositive"/>), with <paramref name="description"/>.</summary>
    internal static Option<bool> Q8KeepPositiveOption(string description) => new("--q8-keep-positive") { Description = description };

    /// <summary>
    /// <paramref name="options"/> with q8's keep-positive rule when asked; refused, naming both options, unless the states
    /// are q8.
    /// </summary>
    internal static OptimizerOptions WithKeepPositive(OptimizerOptions options, bool keepPositive)
    {
        if (!keepPositive)
        {
            return options;
        }

        return options.StateStorage == StateStorage.Q8
            ? options with { Q8KeepPositive = true }
            : throw new UsageException(KeepPositiveWithout(StateStorages.Name(options.StateStorage)));
    }

    /// <summary>The refusal of <c>--q8-keep-positive</c> with <c>--state <paramref name="state"/></c>.</summary>
    internal static string KeepPositiveWithout(string state) =>
        $"--q8-keep-positive codes the non-negative states of q8 storage; it does not apply to --state {state}.";

    /// <summary>
    /// The threshold written on the command line, or null when <paramref name="option"/> was left at its default;
    /// refused when negative, and when given with a <paramref name="storage"/> other than q8 (it would change nothing).
    /// </summary>
    internal static long? Q8Threshold(ParseResult parse, Option<long> option, StateStorage storage)
    {
        if (!TrainOptionSet.Given(parse, option))
        {
            return null;
        }

        long value = parse.GetValue(option);
        if (value < 0)
        {
            throw new UsageException($"--q8-min-elements must be ≥ 0 (0 quantizes every tensor), got {value}.");
        }

        return storage == StateStorage.Q8
            ? value
            : throw new UsageException($"--q8-min-elements keeps the small tensors of q8 states in fp32; it does not apply to --state {StateStorages.Name(storage)}.");
    }

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

        // With q8, cases under the threshold kept fp32 states and are scored as fp32: the bound column and the
        // title's bound are those of the storage some case really used.
        bool compressed = results.Any(static r => r.Storage != StateStorage.Fp32);
        bool q8 = options.StateStorage == StateStorage.Q8;
        var table = new Table().Border(TableBorder.Rounded)
            .Title($"Reference replay ({Markup.Escape(path)}{States(options)}; tolerance {Tolerance(compressed ? options.StateStorage : StateStorage.Fp32)})");
        table.AddColumn("case");
        table.AddColumn("optimizer");
        table.AddColumn(new TableColumn("steps").RightAligned());
        if (q8)
        {
            table.AddColumn(new TableColumn("elements").RightAligned());
            table.AddColumn("states stored as");
        }

        table.AddColumn(new TableColumn("max rel. error").RightAligned());
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
            };
            if (q8)
            {
                cells.Add(new Text(r.Case.Initial.Length.ToString("N0", System.Globalization.CultureInfo.InvariantCulture)));
                cells.Add(new Text(r.Storage == StateStorage.Q8 ? "q8" : "fp32 (small)"));
            }

            cells.Add(new Text(r.MaxRelativeError.ToString("0.00e+0", System.Globalization.CultureInfo.InvariantCulture)));
            if (compressed)
            {
                cells.Add(new Text(r.BoundRatio is { } ratio ? ratio.ToString("0.00e+0", System.Globalization.CultureInfo.InvariantCulture) : "-"));
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

        var kept = results.Where(static r => r.Storage == StateStorage.Fp32).ToList();
        if (q8 && kept.Count > 0)
        {
            console.MarkupLine(string.Create(System.Globalization.CultureInfo.InvariantCulture,
                $"[yellow]states q8: {(kept.Count == results.Count ? "every case has" : $"{kept.Count} of {results.Count} cases have")} fewer elements than --q8-min-elements {options.Q8MinElements:N0} (the largest: {kept.Max(static r => r.Case.Initial.Length):N0}), so {(kept.Count == 1 ? "its" : "their")} states stayed fp32, as bitsandbytes' min_8bit_size keeps small tensors: q8 was not exercised there, and {(kept.Count == 1 ? "it is" : "they are")} held to fp32's {ReferenceCase.Tolerance:0e0}. --q8-min-elements 0 quantizes every case.[/]"));
        }

        int failed = results.Count(static r => !r.Passed);
        console.MarkupLine(failed == 0 ? $"[green]{results.Count} cases within tolerance.[/]" : $"[red]{failed} of {results.Count} cases exceed the tolerance.[/]");
    }

    /// <summary>The bound replay holds each element to, in words: fp32's relative tolerance, plus κ·d with compressed states.</summary>
    private static string Tolerance(StateStorage storage) =>
        storage == StateStorage.Fp32
            ? ReferenceCase.Tolerance.ToString("0e0", System.Globalization.CultureInfo.InvariantCulture)
            : string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{ReferenceCase.Tolerance:0e0}·(|x| + {ReferenceCase.ErrorFloor:0e0}) + {ReferenceCase.DistanceTolerance(storage):G4}·d");

    private static string States(OptimizerOptions options) => options.StateStorage switch
    {
        StateStorage.Fp32 => "",
        StateStorage.Q8 when options.Q8MinElements == 0 => ", states q8 (every case)" + (options.Q8KeepPositive ? ", keep positive" : ""),
        StateStorage.Q8 => string.Create(System.Globalization.CultureInfo.InvariantCulture, $", states q8 (cases under {options.Q8MinElements:N0} elements fp32)") + (options.Q8KeepPositive ? ", keep positive" : ""),
        _ => $", states {StateStorages.Name(options.StateStorage)}{(options.StochasticRounding ? " (stochastic rounding)" : "")}",
    };

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

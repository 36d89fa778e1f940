using System;
using System.Collections.Generic;
using System.CommandLine;
using System.Globalization;
using System.Linq;
using FusedOpt.Benchmarks;
using FusedOpt.Gpu;
using FusedOpt.Kernels;
using FusedOpt.Storage;
using Spectre.Console;

namespace FusedOpt.Cli.Commands;

/// <summary>
/// <c>fusedopt bench step</c>: times the fused step against the naive multi-pass and the scalar path on the same
/// buffers, beside a same-traffic probe, copy and triad, all in one run. With <c>--device cuda|opencl|ilgpu-cpu</c> it
/// times the generated GPU kernel's step beside a device-to-device copy of the same bytes instead. <c>--state</c> picks
/// the states' storage, or several to compare in one run.
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
        var device = new Option<string>("--device")
        {
            Description = $"Where the step runs: {DeviceSpec.Choices}. A GPU device times the kernel against a device-to-device copy of the same bytes.",
            DefaultValueFactory = static _ => "cpu",
        };
        var state = ReplayCommand.StateOption(
            "How the optimizers store their states: fp32, bf16 or q8, or several in one run (fp32,bf16,q8): one block of rows per storage, and each fused step against the fp32 fused step of the same run. The same-traffic probe moves the stored bytes.");
        var rounding = new Option<bool>("--stochastic-rounding") { Description = "bf16 states: round stochastically (rounding seed 1)." };
        var minElements = ReplayCommand.Q8MinElementsOption("With q8 among --state: tensors with fewer elements keep fp32 states (bitsandbytes' min_8bit_size); 0 quantizes every tensor.");
        var keepPositive = ReplayCommand.Q8KeepPositiveOption("With q8 among --state: never store a positive value of a non-negative state (Adam's v) as 0, but as the smallest nonzero code.");
        var json = new Option<bool>("--json") { Description = "Print JSON instead of a table." };
        var command = new Command("step", "Time one optimizer step: fused vs naive multi-pass vs scalar, against the memory limit.")
        {
            optimizer, size, threads, isa, tensors, rounds, hyper, device, state, rounding, minElements, keepPositive, json,
        };
        command.SetAction(parse => context.Guard(() =>
        {
            var storages = ParseStorages(parse.GetValue(state)!);
            long? threshold = storages.Contains(StateStorage.Q8) || !TrainOptionSet.Given(parse, minElements)
                ? ReplayCommand.Q8Threshold(parse, minElements, StateStorage.Q8)
                : throw new UsageException($"--q8-min-elements keeps the small tensors of q8 states in fp32; it does not apply to --state {parse.GetValue(state)}.");
            if (parse.GetValue(keepPositive) && !storages.Contains(StateStorage.Q8))
            {
                throw new UsageException(ReplayCommand.KeepPositiveWithout(parse.GetValue(state)!));
            }

            var options = new StepBenchOptions(
                parse.GetValue(optimizer)!,
                StepBenchmark.ParseSize(parse.GetValue(size)!),
                ReplayCommand.CheckThreads(parse.GetValue(threads)),
                IsaSupport.Parse(parse.GetValue(isa), "--isa"),
                CliContext.Require("--rounds", parse.GetValue(rounds), 1, 10_000),
                Tensors: CliContext.Require("--tensors", parse.GetValue(tensors), 1),
                Hyperparameters: ParseAssignments(parse.GetValue(hyper) ?? []),
                Storage: storages[0],
                StochasticRounding: parse.GetValue(rounding),
                Q8MinElements: threshold ?? new OptimizerOptions().Q8MinElements,
                Q8KeepPositive: parse.GetValue(keepPositive));
            OptimizerCatalog.Get(options.Optimizer);
            var where = DeviceSpec.Parse(parse.GetValue(device));
            if (!where.IsHost)
            {
                ReplayCommand.RequireHostOptions(where, new OptimizerOptions { Isa = options.Isa, StateStorage = storages.FirstOrDefault(static s => s != StateStorage.Fp32) });
                if (options.StochasticRounding)
                {
                    throw new UsageException($"--stochastic-rounding rounds bf16 states on the CPU; it does not apply to --device {where}.");
                }

                return RunOnDevice(context, options, where, parse.GetValue(json));
            }

            StepBenchmark.Validate(options, storages);
            IReadOnlyList<StepBenchResult> results = null!;
            if (parse.GetValue(json))
            {
                results = StepBenchmark.Run(options, storages);
                context.WriteRaw(results.Count == 1 ? Json.Serialize(JsonOf(results[0])) : Json.Serialize(new
                {
                    results[0].Machine,
                    results[0].Isa,
                    storages = results.Select(JsonOf),
                }));
                return 0;
            }

            if (context.Console.Profile.Capabilities.Interactive)
            {
                context.Console.Status().Start("measuring", status =>
                {
                    results = StepBenchmark.Run(options, storages, new Progress<string>(s => status.Status(Markup.Escape(s))));
                });
            }
            else
            {
                results = StepBenchmark.Run(options, storages);
            }

            foreach (var result in results)
            {
                Render(context.Console, result, results.Count > 1);
            }

            if (results.Count > 1)
            {
                RenderStorages(context.Console, results);
            }

            return 0;
        }));
        return command;
    }

    /// <summary>
    /// Parses <c>--state</c>: one storage or a comma-separated list (<c>fp32,bf16,q8</c>), each named once; a bad name is
    /// <see cref="StateStorages.Parse"/>'s error.
    /// </summary>
    internal static IReadOnlyList<StateStorage> ParseStorages(string text)
    {
        var storages = text.Split(',', StringSplitOptions.TrimEntries).Select(static t => StateStorages.Parse(t, "--state")).ToList();
        var twice = storages.GroupBy(static s => s).FirstOrDefault(static g => g.Count() > 1);
        return twice is null
            ? storages
            : throw new UsageException($"--state {text}: names {StateStorages.Name(twice.Key)} twice; each storage is measured once.");
    }

    /// <summary>One storage's result as --json prints it (alone, or as an item of <c>storages</c>).</summary>
    private static object JsonOf(StepBenchResult result) => new
    {
        result.Options,
        result.Machine,
        result.Isa,
        result.States,
        fusedBytesPerParameter = result.Fused.BytesPerParameter,
        variants = new[] { result.Fused, result.Naive, result.Scalar, result.SameTraffic, result.Copy, result.Triad },
        result.SpeedupVsNaive,
        result.SpeedupVsScalar,
        result.FractionOfProbe,
        targetOfProbe = StepBenchResult.TargetOfProbe,
        result.SpeedupVsFp32Fused,
        result.TargetVsFp32Fused,
        q8KeptFp32 = result.Options.Storage == StateStorage.Q8 ? Q8KeptFp32(result.Options, result.Options.Q8MinElements) : null,
        result.NaivePasses,
        result.Operations,
        result.OpCosts,
        result.ElementsPerCycle,
        result.ArithmeticLimit,
        result.FractionOfArithmeticLimit,
    };

    private static int RunOnDevice(CliContext context, StepBenchOptions options, DeviceSpec device, bool json)
    {
        DeviceStepBenchResult result = null!;
        if (json)
        {
            result = DeviceStepBenchmark.Run(options, device);
            context.WriteRaw(Json.Serialize(new
            {
                options = new { options.Optimizer, options.Size, options.Tensors, options.Rounds, options.Hyperparameters },
                device = new { spec = result.Device.Device.ToString(), result.Device.Name, result.Device.MemoryBytes, result.Device.Multiprocessors, result.Device.Details },
                host = result.Host,
                variants = new[] { result.Step, result.Copy },
                result.CopyFloats,
                result.Launches,
                result.FractionOfCopy,
                target = DeviceStepBenchResult.Target,
                result.MeetsTarget,
            }));
            return 0;
        }

        if (context.Console.Profile.Capabilities.Interactive)
        {
            context.Console.Status().Start("measuring", status =>
            {
                result = DeviceStepBenchmark.Run(options, device, new Progress<string>(s => status.Status(Markup.Escape(s))));
            });
        }
        else
        {
            result = DeviceStepBenchmark.Run(options, device);
        }

        RenderDevice(context.Console, result);
        return 0;
    }

    private static void RenderDevice(IAnsiConsole console, DeviceStepBenchResult r)
    {
        var o = r.Options;
        var d = r.Device;
        console.MarkupLineInterpolated(
            $"[bold]{o.Optimizer}[/], {o.Size:N0} parameters in {o.Tensors} tensor(s), {r.Launches} launch(es) per step, on [bold]{d.Device.ToString()}[/]: {d.Name} ({d.MemoryBytes / (double)(1L << 30):0.0} GiB; {d.Details})");
        console.MarkupLineInterpolated($"host: {r.Host.Cpu} ({r.Host.Runtime})");
        var table = BenchTables.Variants([r.Step, r.Copy], nsFormat: "0.0000");
        console.Write(table);
        string verdict = d.Device.Kind == DeviceKind.IlgpuCpu ? "ilgpu-cpu emulates the GPU to check the path; it is not measured against it"
            : r.MeetsTarget ? "[green]met[/]" : "[yellow]not met[/]";
        console.MarkupLine(string.Create(CultureInfo.InvariantCulture,
            $"step / device copy bandwidth: [bold]{r.FractionOfCopy:0.00}[/] (target ≥ {DeviceStepBenchResult.Target:0.00} on a data-centre GPU: {verdict})"));
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

    /// <summary>What q8 keeps in fp32 in the benchmark's arena: its tensors under the threshold and their parameters.</summary>
    /// <param name="Threshold">Tensors with fewer elements keep fp32 states.</param>
    /// <param name="Tensors">How many of the arena's tensors do.</param>
    /// <param name="Parameters">Their elements.</param>
    internal sealed record Q8Fp32Part(long Threshold, int Tensors, long Parameters);

    /// <summary>
    /// The tensors of <paramref name="options"/>' arena under <paramref name="threshold"/>: <c>StepBenchmark</c> cuts
    /// <see cref="StepBenchOptions.Size"/> into <see cref="StepBenchOptions.Tensors"/> tensors of Size / Tensors elements,
    /// the last taking the rest.
    /// </summary>
    internal static Q8Fp32Part Q8KeptFp32(StepBenchOptions options, long threshold)
    {
        long per = options.Size / options.Tensors, last = options.Size - (per * (options.Tensors - 1));
        int tensors = (per < threshold ? options.Tensors - 1 : 0) + (last < threshold ? 1 : 0);
        long parameters = (per < threshold ? per * (options.Tensors - 1) : 0) + (last < threshold ? last : 0);
        return new Q8Fp32Part(threshold, tensors, parameters);
    }

    private static void Render(IAnsiConsole console, StepBenchResult r, bool several)
    {
        var o = r.Options;
        console.MarkupLineInterpolated($"[bold]{o.Optimizer}[/], {o.Size:N0} parameters in {o.Tensors} tensor(s), {o.Threads} thread(s), states: [bold]{r.States}[/], {r.Machine.Cpu} ({r.Machine.Runtime})");
        var table = BenchTables.Variants([r.Fused, r.Naive, r.Scalar, r.SameTraffic, r.Copy, r.Triad]);
        console.Write(table);
        if (o.Storage == StateStorage.Q8 && Q8KeptFp32(o, o.Q8MinElements) is { Tensors: > 0 } kept)
        {
            // The steps' B/param and the probe count their float32 states: the row measures a mix, not q8.
            console.MarkupLine(string.Create(CultureInfo.InvariantCulture,
                $"[yellow]q8: {kept.Tensors} of {o.Tensors} tensor(s), {kept.Parameters:N0} of {o.Size:N0} parameters, have fewer than {kept.Threshold:N0} elements and keep fp32 states (bitsandbytes' min_8bit_size; --q8-min-elements): the B/param and the probe count them as fp32, so this row measures a mix. Measure q8 on tensors of at least {kept.Threshold:N0} elements.[/]"));
        }

        console.MarkupLineInterpolated($"fused vs naive ({r.NaivePasses} passes): [bold]{r.SpeedupVsNaive:0.00}×[/]   fused vs scalar: [bold]{r.SpeedupVsScalar:0.00}×[/]   fused / same-traffic probe: [bold]{r.FractionOfProbe:0.00}[/]");
        if (several)
        {
            // The op costs and the arithmetic limit are the run's, printed once after the comparison.
            return;
        }

        RenderOpCosts(console, r);
    }

    /// <summary>
    /// The storages side by side: each fused step against the fp32 fused step and against its own probe, measured in
    /// the same run, beside the targets (bf16 ≥ 1.3×, q8 ≥ 1.5× the fp32 fused step; each ≥ 0.9 of its probe).
    /// </summary>
    private static void RenderStorages(IAnsiConsole console, IReadOnlyList<StepBenchResult> results)
    {
        var table = BenchTables.Create("fused steps by state storage, one run", 1, "states", "B/param", "best ms", "vs fp32 fused", "target", "fused / own probe", "target");
        foreach (var r in results)
        {
            table.AddRow(
                Markup.Escape(r.States),
                BenchTables.Bytes(r.Fused.BytesPerParameter),
                BenchTables.Number(r.Fused.BestSeconds * 1e3, "0.000"),
                r.SpeedupVsFp32Fused is { } x ? BenchTables.Number(x, "0.00") + "×" : "-",
                r.TargetVsFp32Fused is { } t ? "≥ " + BenchTables.Number(t, "0.0") + "×" : "",
                BenchTables.Number(r.FractionOfProbe, "0.00"),
                "≥ " + BenchTables.Number(StepBenchResult.TargetOfProbe, "0.0"));
        }

        console.Write(table);
        RenderOpCosts(console, results[0]);
    }

    private static void RenderOpCosts(IAnsiConsole console, StepBenchResult r)
    {
        if (r.OpCosts is { } c)
        {
            console.MarkupLineInterpolated(
                $"[grey]core clock {c.FrequencyGHz:0.00} GHz; {c.Isa} cycles/op: add {c.Add:0.00}, mul {c.Mul:0.00}, div {c.Div:0.00}, sqrt {c.Sqrt:0.00}; rule: {r.Operations}[/]");
            console.MarkupLineInterpolated(
                $"elements/cycle/core: [bold]{r.ElementsPerCycle:0.000}[/] of an arithmetic limit of {r.ArithmeticLimit:0.000} ([bold]{r.FractionOfArithmeticLimit:0.00}[/]; meaningful when the buffers fit in cache)");
        }
    }
}

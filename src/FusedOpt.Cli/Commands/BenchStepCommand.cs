using System;
using System.Collections.Generic;
using System.CommandLine;
using System.Globalization;
using FusedOpt.Benchmarks;
using FusedOpt.Gpu;
using FusedOpt.Kernels;
using Spectre.Console;

namespace FusedOpt.Cli.Commands;

/// <summary>
/// <c>fusedopt bench step</c>: times the fused step against the naive multi-pass and the scalar path on the same
/// buffers, beside a same-traffic probe, copy and triad, all in one run. With <c>--device cuda|opencl|ilgpu-cpu</c> it
/// times the generated GPU kernel's step beside a device-to-device copy of the same bytes instead.
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
        var json = new Option<bool>("--json") { Description = "Print JSON instead of a table." };
        var command = new Command("step", "Time one optimizer step: fused vs naive multi-pass vs scalar, against the memory limit.")
        {
            optimizer, size, threads, isa, tensors, rounds, hyper, device, json,
        };
        command.SetAction(parse => context.Guard(() =>
        {
            var options = new StepBenchOptions(
                parse.GetValue(optimizer)!,
                StepBenchmark.ParseSize(parse.GetValue(size)!),
                ReplayCommand.CheckThreads(parse.GetValue(threads)),
                IsaSupport.Parse(parse.GetValue(isa), "--isa"),
                CliContext.Require("--rounds", parse.GetValue(rounds), 1, 10_000),
                Tensors: CliContext.Require("--tensors", parse.GetValue(tensors), 1),
                Hyperparameters: ParseAssignments(parse.GetValue(hyper) ?? []));
            OptimizerCatalog.Get(options.Optimizer);
            var where = DeviceSpec.Parse(parse.GetValue(device));
            if (!where.IsHost)
            {
                ReplayCommand.RequireHostOptions(where, new OptimizerOptions { Isa = options.Isa });
                return RunOnDevice(context, options, where, parse.GetValue(json));
            }

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

    private static void Render(IAnsiConsole console, StepBenchResult r)
    {
        var o = r.Options;
        console.MarkupLineInterpolated($"[bold]{o.Optimizer}[/], {o.Size:N0} parameters in {o.Tensors} tensor(s), {o.Threads} thread(s), {r.Machine.Cpu} ({r.Machine.Runtime})");
        var table = BenchTables.Variants([r.Fused, r.Naive, r.Scalar, r.SameTraffic, r.Copy, r.Triad]);
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

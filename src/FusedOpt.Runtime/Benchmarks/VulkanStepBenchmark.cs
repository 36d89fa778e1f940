using System;
using System.Diagnostics;
using System.Linq;
using FusedOpt.Gpu;
using FusedOpt.Memory;
using FusedOpt.Vulkan;

namespace FusedOpt.Benchmarks;

/// <summary>
/// <see cref="DeviceStepBenchmark"/> for a Vulkan device: the step (<see cref="VulkanOptimizer"/> with
/// <see cref="VulkanShaders.Default"/>) beside a device copy of the same bytes, interleaved round by round. Both are
/// timed on the device's clock (<see cref="VulkanOptimizer.LastGpuTime"/>, <see cref="VulkanDevice.TimeCopy"/>:
/// timestamps around the dispatches and the copy, without submission and the host's wait); on a queue without
/// timestamps, by the host's clock around each (waited) call.
/// </summary>
internal static class VulkanStepBenchmark
{
    /// <summary>Runs the benchmark on Vulkan device <paramref name="device"/>; <paramref name="progress"/> receives what is being measured.</summary>
    public static DeviceStepBenchResult Run(StepBenchOptions options, DeviceSpec device, IProgress<string>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        var rule = StepBenchmark.Validate(options);
        MemoryBudget.Require(MemoryBudget.Bytes(options.Size, 2 * sizeof(float), "the host arena"), $"bench step --device {device} --size {options.Size:N0} (the host's parameters and gradients)");
        progress?.Report($"opening {device}");
        using var vulkan = VulkanDevice.Open(device.Index);
        using var arena = StepBenchmark.CreateArena(options, progress);

        progress?.Report($"uploading and compiling the {rule.Descriptor.Name} shader");
        using var optimizer = new VulkanOptimizer(vulkan, arena, rule, VulkanShaders.Default);
        optimizer.Step(); // compiles the shader: a missing one is reported before anything is measured
        int bytes = optimizer.BytesPerParameter;
        long copyFloats = ((arena.ParameterCount * bytes) + 7) / 8;
        using var source = vulkan.CreateStorageBuffer(copyFloats);
        using var target = vulkan.CreateStorageBuffer(copyFloats);

        var variants = new (string Name, int Bytes, Func<double> Call)[]
        {
            ($"{rule.Descriptor.Name} step (vulkan)", bytes, () => Timed(() => optimizer.Step(), () => optimizer.LastGpuTime)),
            ("device copy, same bytes", bytes, () =>
            {
                TimeSpan? gpu = null;
                return Timed(() => gpu = vulkan.TimeCopy(source, target, copyFloats), () => gpu);
            }),
        };

        var measured = Measure(variants, options, arena.ParameterCount, progress);
        var info = vulkan.Info.ToDeviceInfo() with { Device = device };
        return new DeviceStepBenchResult(options, info, MachineInfo.Current, measured[0], measured[1], copyFloats, arena.Groups.Length);
    }

    /// <summary>Seconds of one call: the device's clock when it reports one, else the host's around the call.</summary>
    private static double Timed(Action call, Func<TimeSpan?> gpu)
    {
        long t0 = Stopwatch.GetTimestamp();
        call();
        double host = Stopwatch.GetElapsedTime(t0).TotalSeconds;
        return gpu() is { } t ? t.TotalSeconds : host;
    }

    private static BenchVariant[] Measure((string Name, int Bytes, Func<double> Call)[] variants, StepBenchOptions options, long parameters, IProgress<string>? progress)
    {
        int n = variants.Length;
        var calls = new int[n];
        for (int v = 0; v < n; v++)
        {
            progress?.Report($"warming up {variants[v].Name}");
            var wall = Stopwatch.StartNew();
            for (int k = 0; k < 3; k++)
            {
                variants[v].Call();
            }

            calls[v] = (int)Math.Clamp(options.SecondsPerRound / Math.Max(wall.Elapsed.TotalSeconds / 3, 1e-9), 1, 1_000);
        }

        return StepBenchmark.MeasureRounds([.. variants.Select(static x => (x.Name, (double)x.Bytes))], calls, v => variants[v].Call(), options, parameters, progress);
    }
}

using System;
using System.Globalization;
using FusedOpt.Gpu;
using FusedOpt.Memory;
using ILGPU;
using ILGPU.Runtime;

namespace FusedOpt.Benchmarks;

/// <summary>The outcome of <see cref="DeviceStepBenchmark.Run"/>.</summary>
/// <param name="Options">What was measured (<see cref="StepBenchOptions.Threads"/> and <see cref="StepBenchOptions.Isa"/> do not apply).</param>
/// <param name="Device">The device it ran on.</param>
/// <param name="Host">The host machine.</param>
/// <param name="Step">The device step: the kernel launches of one step, synchronised before and after.</param>
/// <param name="Copy">A device-to-device copy moving the same bytes as the step (read + write), in the same run.</param>
/// <param name="CopyFloats">Floats the copy reads (and writes): the step's bytes per parameter × parameters / 8.</param>
/// <param name="Launches">Kernel launches per step (one per parameter group).</param>
internal sealed record DeviceStepBenchResult(StepBenchOptions Options, GpuDeviceInfo Device, MachineInfo Host, BenchVariant Step, BenchVariant Copy, long CopyFloats, int Launches)
{
    /// <summary>The target of the GPU path on a data-centre GPU: the step at ≥ 90% of the copy bandwidth.</summary>
    public const double Target = 0.9;

    /// <summary>Step bandwidth as a fraction of the device-to-device copy bandwidth (1 = as fast as a copy of the same bytes).</summary>
    public double FractionOfCopy => Copy.BestSeconds / Step.BestSeconds;

    /// <summary>True when <see cref="FractionOfCopy"/> reaches <see cref="Target"/>.</summary>
    public bool MeetsTarget => FractionOfCopy >= Target;
}

/// <summary>
/// Times the device step beside a device-to-device copy of the same bytes, interleaved round by round in one run (as
/// <see cref="StepBenchmark"/> does on the CPU), so that the ratio of the two says how close the step is to the
/// memory limit of this device. Each call is synchronised before and after, so one call is one step's launches.
/// </summary>
internal static class DeviceStepBenchmark
{
    /// <summary>
    /// Runs the benchmark on <paramref name="device"/> (a Vulkan device through <see cref="VulkanStepBenchmark"/>);
    /// <paramref name="progress"/> receives what is being measured.
    /// </summary>
    public static DeviceStepBenchResult Run(StepBenchOptions options, DeviceSpec device, IProgress<string>? progress = null)
    {
        if (device.IsVulkan)
        {
            return VulkanStepBenchmark.Run(options, device, progress);
        }

        var rule = StepBenchmark.Validate(options);
        MemoryBudget.Require(MemoryBudget.Bytes(options.Size, 2 * sizeof(float), "the host arena"), $"bench step --device {device} --size {options.Size:N0} (the host's parameters and gradients)");
        progress?.Report($"opening {device}");
        using var session = GpuDevices.Open(device);
        var accelerator = session.Accelerator;
        using var arena = StepBenchmark.CreateArena(options, progress);

        progress?.Report($"uploading and compiling the {rule.Descriptor.Name} kernel");
        using var optimizer = new DeviceOptimizer(accelerator, arena, rule);
        int bytes = optimizer.BytesPerParameter;
        long copyFloats = ((arena.ParameterCount * bytes) + 7) / 8;
        using var source = Allocate(accelerator, copyFloats, "the copy source");
        using var target = Allocate(accelerator, copyFloats, "the copy target");
        source.MemSetToZero();
        accelerator.Synchronize();

        var variants = new (string Name, double Bytes, Action Call)[]
        {
            ($"{rule.Descriptor.Name} step ({DeviceSpec.Name(device.Kind)})", bytes, () =>
            {
                optimizer.Step();
                accelerator.Synchronize();
            }),
            ("device copy, same bytes", bytes, () =>
            {
                source.View.CopyTo(target.View);
                accelerator.Synchronize();
            }),
        };

        var measured = StepBenchmark.Measure(variants, options, arena.ParameterCount, progress);
        return new DeviceStepBenchResult(options, session.Info, MachineInfo.Current, measured[0], measured[1], copyFloats, arena.Groups.Length);
    }

    private static MemoryBuffer1D<float, Stride1D.Dense> Allocate(Accelerator accelerator, long length, string what)
    {
        try
        {
            return accelerator.Allocate1D<float>(length);
        }
        catch (Exception e) when (e is AcceleratorException or OutOfMemoryException)
        {
            throw new DeviceUnavailableException(
                string.Create(CultureInfo.InvariantCulture, $"{accelerator.Name}: cannot allocate {what} ({length * 4.0 / (1 << 30):0.00} GiB; the device has {accelerator.MemorySize / (double)(1L << 30):0.0} GiB in all); use a smaller --size."),
                e);
        }
    }
}

using System;

namespace FusedOpt.Gpu;

/// <summary>Where an optimizer step runs.</summary>
public enum DeviceKind
{
    /// <summary>The host: the generated fused CPU kernels (<see cref="Optimizer"/>); not an ILGPU device.</summary>
    Cpu,

    /// <summary>An NVIDIA GPU through ILGPU's CUDA backend (needs the NVIDIA driver, <c>libcuda</c>).</summary>
    Cuda,

    /// <summary>An OpenCL device through ILGPU's OpenCL backend (needs an OpenCL ICD).</summary>
    OpenCL,

    /// <summary>ILGPU's CPU accelerator: runs the GPU kernels on the host, for tests and debugging (slow).</summary>
    IlgpuCpu,

    /// <summary>
    /// A Vulkan device (needs the loader <c>libvulkan.so.1</c> and a driver; Mesa's lavapipe runs on the CPU): HLSL step
    /// shaders compiled to SPIR-V, run by <see cref="FusedOpt.Vulkan.VulkanStepKernel"/>, not through ILGPU.
    /// <c>fusedopt devices</c> lists these; <see cref="FusedOpt.Vulkan.VulkanOptimizer"/> runs steps there.
    /// </summary>
    Vulkan,
}

/// <summary>A device chosen on the command line: a kind and, for kinds with several devices, an index (<c>cuda:1</c>).</summary>
/// <param name="Kind">The kind.</param>
/// <param name="Index">Which device of that kind, 0 for the first.</param>
public readonly record struct DeviceSpec(DeviceKind Kind, int Index = 0)
{
    /// <summary>The names <see cref="Parse"/> accepts, in the order the help lists them.</summary>
    public const string Choices = "cpu, cuda, opencl, ilgpu-cpu or vulkan";

    /// <summary>The host CPU path.</summary>
    public static DeviceSpec Cpu => new(DeviceKind.Cpu);

    /// <summary>True for the host CPU path, which needs no ILGPU accelerator.</summary>
    public bool IsHost => Kind == DeviceKind.Cpu;

    /// <summary>True for a Vulkan device, opened with <see cref="FusedOpt.Vulkan.VulkanDevice.Open(int)"/> rather than through ILGPU.</summary>
    public bool IsVulkan => Kind == DeviceKind.Vulkan;

    /// <summary>The command-line name of a kind: <c>cpu</c>, <c>cuda</c>, <c>opencl</c>, <c>ilgpu-cpu</c>.</summary>
    public static string Name(DeviceKind kind) => kind switch
    {
        DeviceKind.Cpu => "cpu",
        DeviceKind.Cuda => "cuda",
        DeviceKind.OpenCL => "opencl",
        DeviceKind.IlgpuCpu => "ilgpu-cpu",
        DeviceKind.Vulkan => "vulkan",
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "Unknown device kind."),
    };

    /// <summary>How people write the kind in prose: CPU, CUDA, OpenCL, ILGPU CPU accelerator.</summary>
    public static string DisplayName(DeviceKind kind) => kind switch
    {
        DeviceKind.Cpu => "CPU",
        DeviceKind.Cuda => "CUDA",
        DeviceKind.OpenCL => "OpenCL",
        DeviceKind.IlgpuCpu => "ILGPU CPU accelerator",
        DeviceKind.Vulkan => "Vulkan",
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "Unknown device kind."),
    };

    /// <summary>
    /// Parses <c>cpu</c>, <c>cuda</c>, <c>opencl</c>, <c>ilgpu-cpu</c> or <c>vulkan</c> (case-insensitive), optionally followed by
    /// <c>:N</c> to pick the N-th device of that kind; null or empty is <c>cpu</c>. An unknown name throws a
    /// <see cref="FormatException"/> naming <paramref name="option"/>, the value and the accepted names.
    /// </summary>
    public static DeviceSpec Parse(string? text, string option = "--device")
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return Cpu;
        }

        string t = text.Trim();
        int index = 0;
        int colon = t.IndexOf(':', StringComparison.Ordinal);
        if (colon >= 0)
        {
            string number = t[(colon + 1)..];
            if (!int.TryParse(number, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out index))
            {
                throw new FormatException($"{option} '{text}': '{number}' is not a device index; expected a number ≥ 0 after the colon, e.g. cuda:1.");
            }

            t = t[..colon];
        }

        var kind = t.ToLowerInvariant() switch
        {
            "cpu" => DeviceKind.Cpu,
            "cuda" => DeviceKind.Cuda,
            "opencl" => DeviceKind.OpenCL,
            "ilgpu-cpu" => DeviceKind.IlgpuCpu,
            "vulkan" => DeviceKind.Vulkan,
            _ => throw new FormatException($"{option} '{text}' is not a device; expected {Choices} (optionally with :N, e.g. cuda:1). Run 'fusedopt devices' to list what is present."),
        };
        if (kind == DeviceKind.Cpu && index != 0)
        {
            throw new FormatException($"{option} '{text}': the host CPU path has no device index; write cpu.");
        }

        return new DeviceSpec(kind, index);
    }

    /// <inheritdoc />
    public override string ToString() => Index == 0 ? Name(Kind) : $"{Name(Kind)}:{Index}";
}

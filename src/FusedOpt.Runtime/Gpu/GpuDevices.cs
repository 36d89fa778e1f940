using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Runtime.Loader;
using System.Threading;
using FusedOpt.Benchmarks;
using FusedOpt.Kernels;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;
using ILGPU.Runtime.OpenCL;

namespace FusedOpt.Gpu;

/// <summary>One device a step can run on, as <c>fusedopt devices</c> lists it.</summary>
/// <param name="Device">The kind and index, e.g. <c>cuda:0</c>; what <c>--device</c> takes.</param>
/// <param name="Name">The device's own name, e.g. <c>NVIDIA H100 80GB HBM3</c>.</param>
/// <param name="MemoryBytes">Device memory in bytes; for the host paths, the memory available to this process.</param>
/// <param name="Multiprocessors">Streaming multiprocessors / compute units (for the host, logical cores).</param>
/// <param name="WarpSize">Threads per warp (1 for the host path).</param>
/// <param name="MaxThreadsPerGroup">Most threads in one group (1 for the host path).</param>
/// <param name="Float64">True when the device computes in float64, which the gradient-norm reduction needs.</param>
/// <param name="Details">Driver, architecture or ISA, in a few words.</param>
public sealed record GpuDeviceInfo(DeviceSpec Device, string Name, long MemoryBytes, int Multiprocessors, int WarpSize, int MaxThreadsPerGroup, bool Float64, string Details)
{
    /// <inheritdoc />
    public override string ToString() => $"{Device} ({Name})";
}

/// <summary>What device discovery found: the devices and, when a backend could not be probed, why.</summary>
/// <param name="Devices">The host CPU path first, then every device ILGPU sees.</param>
/// <param name="Notes">Backends that failed to initialise, with the error (never an exception).</param>
public sealed record DeviceReport(IReadOnlyList<GpuDeviceInfo> Devices, IReadOnlyList<string> Notes);

/// <summary>
/// Device discovery and opening. ILGPU's CPU accelerator is always present; CUDA devices appear when the NVIDIA
/// driver (<c>libcuda.so.1</c>) loads and OpenCL devices when an OpenCL ICD is installed. A backend that fails to
/// initialise is reported as a note, never as a crash; asking for a kind that is absent throws
/// <see cref="DeviceUnavailableException"/> naming what ILGPU saw.
/// </summary>
public static class GpuDevices
{
    private static int _resolverInstalled;

    /// <summary>
    /// The ILGPU CPU accelerator's shape: warps of 2 threads, 1 warp per group, one multiprocessor per core. The
    /// generated kernels use no groups or barriers, and ILGPU emulates each lane with an OS thread that synchronises
    /// per group, so the smallest groups run fastest: about 10× faster than <see cref="CPUDevice.Default"/>
    /// (4 × 4 threads) for a 1M-element Adam step on 2 cores.
    /// </summary>
    public static CPUDevice IlgpuCpuDevice { get; } = new(numThreadsPerWarp: 2, numWarpsPerMultiprocessor: 1, numMultiprocessors: Math.Max(1, Environment.ProcessorCount));

    /// <summary>Lists the host CPU path and every ILGPU device; backends that fail to initialise become notes.</summary>
    public static DeviceReport Discover()
    {
        var notes = new List<string>();
        var devices = new List<GpuDeviceInfo> { Host() };
        using var context = CreateContext(notes);
        foreach (var kind in new[] { DeviceKind.Cuda, DeviceKind.OpenCL, DeviceKind.IlgpuCpu })
        {
            var ofKind = DevicesOf(context, kind);
            for (int i = 0; i < ofKind.Count; i++)
            {
                devices.Add(Describe(ofKind[i], new DeviceSpec(kind, i)));
            }
        }

        return new DeviceReport(devices, notes);
    }

    /// <summary>
    /// Opens an accelerator for <paramref name="device"/>. Throws <see cref="DeviceUnavailableException"/> when no
    /// device of that kind is present (naming what ILGPU saw and what to install), when the index is past the last
    /// device, or when the driver refuses to open it; <see cref="ArgumentException"/> for the host CPU path, which
    /// runs on <see cref="Optimizer"/> without an accelerator.
    /// </summary>
    public static DeviceSession Open(DeviceSpec device)
    {
        if (device.IsHost)
        {
            throw new ArgumentException("--device cpu is the host fused path (Optimizer); it has no ILGPU accelerator to open. Use cuda, opencl or ilgpu-cpu.", nameof(device));
        }

        if (device.Kind == DeviceKind.Vulkan)
        {
            throw new ArgumentException($"{device} is a Vulkan device: open it with FusedOpt.Vulkan.VulkanDevice.Open, not through ILGPU.", nameof(device));
        }

        var notes = new List<string>();
        var context = CreateContext(notes);
        try
        {
            var ofKind = DevicesOf(context, device.Kind);
            if (ofKind.Count == 0)
            {
                throw new DeviceUnavailableException(
                    $"no {DeviceSpec.DisplayName(device.Kind)} device found (ILGPU saw: {Seen(context)}); {Hint(device.Kind)}{NotesText(notes)}");
            }

            if (device.Index >= ofKind.Count)
            {
                throw new DeviceUnavailableException(
                    $"--device {device}: only {ofKind.Count} {DeviceSpec.DisplayName(device.Kind)} device{(ofKind.Count == 1 ? "" : "s")} found ({string.Join(", ", ofKind.Select((d, i) => $"{i}: {d.Name}"))}).");
            }

            var chosen = ofKind[device.Index];
            Accelerator accelerator;
            try
            {
                accelerator = chosen is CPUDevice cpu ? cpu.CreateCPUAccelerator(context, CPUAcceleratorMode.Parallel) : chosen.CreateAccelerator(context);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                throw new DeviceUnavailableException($"--device {device}: ILGPU found {chosen.Name} but could not open it: {e.Message}", e);
            }

            return new DeviceSession(context, accelerator, Describe(chosen, device));
        }
        catch
        {
            context.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Creates an ILGPU context with the CPU accelerator (<see cref="IlgpuCpuDevice"/>), CUDA and OpenCL. When a
    /// backend throws while probing (a broken driver), it is left out and the error is added to <paramref name="notes"/>.
    /// </summary>
    public static Context CreateContext(List<string> notes)
    {
        ArgumentNullException.ThrowIfNull(notes);
        InstallDriverResolver();
        var attempts = new (string Label, Action<Context.Builder> Configure)[]
        {
            ("CUDA and OpenCL", static b => b.CPU(IlgpuCpuDevice).Cuda().OpenCL()),
            ("CUDA", static b => b.CPU(IlgpuCpuDevice).Cuda()),
            ("OpenCL", static b => b.CPU(IlgpuCpuDevice).OpenCL()),
        };
        foreach (var (label, configure) in attempts)
        {
            try
            {
                return Context.Create(configure);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                notes.Add($"probing {label} failed: {e.GetType().Name}: {e.Message}");
            }
        }

        return Context.Create(static b => b.CPU(IlgpuCpuDevice));
    }

    /// <summary>True when kernels on <paramref name="accelerator"/> may use float64 (always, except OpenCL devices without <c>cl_khr_fp64</c>).</summary>
    public static bool SupportsFloat64(Accelerator accelerator)
    {
        ArgumentNullException.ThrowIfNull(accelerator);
        return accelerator.Capabilities is not CLCapabilityContext cl || cl.Float64;
    }

    /// <summary>
    /// ILGPU imports the drivers as <c>cuda</c> and <c>OpenCL</c>, which .NET looks up on Linux as <c>libcuda.so</c> and
    /// <c>libOpenCL.so</c>: names only the development symlinks carry. Containers (the NVIDIA Container Toolkit mounts
    /// <c>libcuda.so.1</c>) and many driver installs have only the versioned names, so when the plain name is missing
    /// this loads <c>libcuda.so.1</c> / <c>libOpenCL.so.1</c> instead. Nothing changes where the plain names exist.
    /// </summary>
    private static void InstallDriverResolver()
    {
        if (OperatingSystem.IsLinux() && Interlocked.Exchange(ref _resolverInstalled, 1) == 0)
        {
            AssemblyLoadContext.Default.ResolvingUnmanagedDll += ResolveVersionedDriver;
        }
    }

    private static IntPtr ResolveVersionedDriver(Assembly assembly, string name)
    {
        if (assembly != typeof(Context).Assembly)
        {
            return IntPtr.Zero;
        }

        string? soname = name switch
        {
            "cuda" => "libcuda.so.1",
            "OpenCL" => "libOpenCL.so.1",
            _ => null,
        };
        return soname is not null && NativeLibrary.TryLoad(soname, out var handle) ? handle : IntPtr.Zero;
    }

    private static List<Device> DevicesOf(Context context, DeviceKind kind)
    {
        var type = kind switch
        {
            DeviceKind.Cuda => AcceleratorType.Cuda,
            DeviceKind.OpenCL => AcceleratorType.OpenCL,
            DeviceKind.IlgpuCpu => AcceleratorType.CPU,
            _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "The host CPU path is not an ILGPU device."),
        };
        return [.. context.Devices.Where(d => d.AcceleratorType == type)];
    }

    private static GpuDeviceInfo Host()
    {
        var machine = MachineInfo.Current;
        return new GpuDeviceInfo(DeviceSpec.Cpu, machine.Cpu, GC.GetGCMemoryInfo().TotalAvailableMemoryBytes, Environment.ProcessorCount, 1, 1, Float64: true,
            $"host fused kernels, {IsaSupport.Name(IsaSupport.Best)}, {machine.Runtime}");
    }

    private static GpuDeviceInfo Describe(Device d, DeviceSpec spec)
    {
        string details;
        bool float64 = true;
        long memory = d.MemorySize;
        switch (d)
        {
            case CudaDevice cuda:
                details = string.Create(CultureInfo.InvariantCulture, $"CUDA {cuda.Architecture}, driver {cuda.DriverVersion}, PTX ISA {cuda.InstructionSet}");
                break;
            case CLDevice cl:
                float64 = cl.Capabilities.Float64;
                details = $"{cl.VendorName}, {cl.DeviceVersion}, {cl.PlatformName}{(float64 ? "" : ", no cl_khr_fp64")}";
                break;
            default:
                // The CPU accelerator reports long.MaxValue: it allocates in host memory.
                memory = Math.Min(memory, GC.GetGCMemoryInfo().TotalAvailableMemoryBytes);
                details = string.Create(CultureInfo.InvariantCulture, $"runs the GPU kernels on the host ({d.NumMultiprocessors} × {d.MaxNumThreadsPerGroup} threads); for tests, slow");
                break;
        }

        return new GpuDeviceInfo(spec, d.Name, memory, d.NumMultiprocessors, d.WarpSize, d.MaxNumThreadsPerGroup, float64, details);
    }

    private static string Seen(Context context) =>
        context.Devices.Length == 0 ? "nothing" : string.Join(", ", context.Devices.Select(static d => $"{d.AcceleratorType} '{d.Name}'"));

    private static string Hint(DeviceKind kind) => kind switch
    {
        DeviceKind.Cuda => "CUDA needs an NVIDIA GPU and its driver (libcuda.so.1; nvidia-smi should list the GPU). Use --device cpu or ilgpu-cpu here, and 'fusedopt devices' to list what is present.",
        DeviceKind.OpenCL => "OpenCL needs an OpenCL ICD for the device (clinfo should list it). Use --device cpu or ilgpu-cpu here, and 'fusedopt devices' to list what is present.",
        _ => "run 'fusedopt devices' to list what is present.",
    };

    private static string NotesText(List<string> notes) => notes.Count == 0 ? "" : " (" + string.Join("; ", notes) + ")";
}

/// <summary>An open ILGPU context and accelerator; dispose it to release the device.</summary>
public sealed class DeviceSession : IDisposable
{
    internal DeviceSession(Context context, Accelerator accelerator, GpuDeviceInfo info)
    {
        Context = context;
        Accelerator = accelerator;
        Info = info;
    }

    /// <summary>The ILGPU context.</summary>
    public Context Context { get; }

    /// <summary>The accelerator the kernels run on.</summary>
    public Accelerator Accelerator { get; }

    /// <summary>What was opened.</summary>
    public GpuDeviceInfo Info { get; }

    /// <inheritdoc />
    public void Dispose()
    {
        Accelerator.Dispose();
        Context.Dispose();
    }
}

using System;
using System.Collections.Generic;
using System.Globalization;
using System.Runtime.InteropServices;
using FusedOpt.Gpu;
using Silk.NET.Core.Native;
using Silk.NET.Vulkan;

namespace FusedOpt.Vulkan;

/// <summary>One Vulkan physical device, as <c>fusedopt devices</c> lists it.</summary>
/// <param name="Index">Its position in the loader's enumeration: what <see cref="VulkanDevice.Open(int)"/> takes.</param>
/// <param name="Name">The device's own name, e.g. <c>llvmpipe (LLVM 15.0.6, 256 bits)</c>.</param>
/// <param name="Type">Discrete, integrated, virtual or CPU (Mesa's lavapipe is a CPU device).</param>
/// <param name="ApiVersion">The Vulkan version the driver implements, e.g. <c>1.3.230</c>.</param>
/// <param name="Driver">The driver's name and version text, e.g. <c>llvmpipe, Mesa 22.3.6 (LLVM 15.0.6)</c>.</param>
/// <param name="DeviceLocalBytes">The largest device-local memory heap, in bytes.</param>
/// <param name="HasComputeQueue">True when some queue family supports compute.</param>
/// <param name="SubgroupSize">Threads per subgroup (a warp or wavefront); 0 when the driver does not say (Vulkan 1.0).</param>
/// <param name="MaxThreadsPerGroup">Most threads in one work group (<c>maxComputeWorkGroupInvocations</c>).</param>
/// <param name="Float64">True when shaders may use float64 (<c>shaderFloat64</c>).</param>
public sealed record VulkanDeviceInfo(int Index, string Name, PhysicalDeviceType Type, string ApiVersion, string Driver, long DeviceLocalBytes, bool HasComputeQueue,
    int SubgroupSize, int MaxThreadsPerGroup, bool Float64)
{
    /// <summary>The type in a word: discrete GPU, integrated GPU, virtual GPU, CPU, other.</summary>
    public string TypeName => Type switch
    {
        PhysicalDeviceType.DiscreteGpu => "discrete GPU",
        PhysicalDeviceType.IntegratedGpu => "integrated GPU",
        PhysicalDeviceType.VirtualGpu => "virtual GPU",
        PhysicalDeviceType.Cpu => "CPU",
        _ => "other",
    };

    /// <summary>The row <c>fusedopt devices</c> shows beside the ILGPU devices (no compute-unit count: Vulkan does not give one).</summary>
    public GpuDeviceInfo ToDeviceInfo() =>
        new(new DeviceSpec(DeviceKind.Vulkan, Index), Name, DeviceLocalBytes, 0, SubgroupSize, MaxThreadsPerGroup, Float64,
            $"Vulkan {ApiVersion}, {TypeName}, {Driver}{(HasComputeQueue ? "" : ", no compute queue")}");

    /// <inheritdoc />
    public override string ToString() => $"vulkan:{Index} ({Name}, {TypeName})";
}

/// <summary>What Vulkan discovery found: the devices and, when the loader or the instance failed, why.</summary>
/// <param name="Devices">Every physical device the loader enumerates, in its order.</param>
/// <param name="Notes">Why nothing could be listed (no loader, no driver), never an exception.</param>
public sealed record VulkanReport(IReadOnlyList<VulkanDeviceInfo> Devices, IReadOnlyList<string> Notes);

/// <summary>
/// Vulkan discovery: loads the loader (<c>libvulkan.so.1</c> on Linux, <c>vulkan-1.dll</c> on Windows), creates an
/// instance and lists the physical devices. Mesa's software driver (lavapipe, Debian <c>mesa-vulkan-drivers</c>) shows as
/// a CPU device, so the Vulkan path runs without a GPU.
/// </summary>
public static class VulkanDevices
{
    /// <summary>The loader's file name on this operating system.</summary>
    public static string LoaderName { get; } =
        OperatingSystem.IsWindows() ? "vulkan-1.dll" : OperatingSystem.IsMacOS() ? "libvulkan.1.dylib" : "libvulkan.so.1";

    /// <summary>Lists the Vulkan devices; a missing loader or a failing instance becomes a note.</summary>
    public static VulkanReport Discover() => Discover(LoaderName);

    /// <summary><see cref="Discover()"/> with the loader looked up as <paramref name="loader"/> (tests name a missing one).</summary>
    internal static VulkanReport Discover(string loader)
    {
        try
        {
            using var instance = VulkanInstance.Create(loader);
            var devices = new List<VulkanDeviceInfo>();
            var physical = instance.PhysicalDevices();
            for (int i = 0; i < physical.Length; i++)
            {
                devices.Add(instance.Describe(physical[i], i));
            }

            var notes = devices.Count == 0 ? new[] { $"the Vulkan loader ({loader}) found no device; {NoDeviceHint}" } : [];
            return new VulkanReport(devices, notes);
        }
        catch (DeviceUnavailableException e)
        {
            return new VulkanReport([], [e.Message]);
        }
    }

    /// <summary>What to install when no device is present.</summary>
    internal const string NoDeviceHint =
        "install a Vulkan driver (Debian: mesa-vulkan-drivers for the lavapipe CPU driver, or the GPU vendor's driver); vulkaninfo --summary lists what the loader sees.";
}

/// <summary>A Vulkan instance and the API table it was created with; internal to the Vulkan backend.</summary>
internal sealed unsafe class VulkanInstance : IDisposable
{
    private bool _disposed;

    private VulkanInstance(Vk vk, Instance instance)
    {
        Vk = vk;
        Handle = instance;
    }

    public Vk Vk { get; }

    public Instance Handle { get; }

    /// <summary>
    /// Loads <paramref name="loader"/> and creates a Vulkan 1.1 instance. Throws <see cref="DeviceUnavailableException"/>
    /// naming the loader when it cannot be loaded, and the result code when the instance cannot be created.
    /// </summary>
    public static VulkanInstance Create(string loader)
    {
        if (!NativeLibrary.TryLoad(loader, out var handle))
        {
            throw new DeviceUnavailableException(
                $"the Vulkan loader {loader} could not be loaded; install it (Debian: libvulkan1) and a driver (mesa-vulkan-drivers for the lavapipe CPU driver).");
        }

        NativeLibrary.Free(handle);
        Vk vk;
        try
        {
            vk = Vk.GetApi();
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new DeviceUnavailableException($"the Vulkan loader {loader} loaded, but Silk.NET could not bind it: {e.Message}", e);
        }

        byte* name = (byte*)SilkMarshal.StringToPtr("FusedOpt");
        try
        {
            var app = new ApplicationInfo
            {
                SType = StructureType.ApplicationInfo,
                PApplicationName = name,
                ApplicationVersion = Vk.MakeVersion(0, 2, 0),
                PEngineName = name,
                EngineVersion = Vk.MakeVersion(0, 2, 0),
                ApiVersion = Vk.Version11,
            };
            var create = new InstanceCreateInfo { SType = StructureType.InstanceCreateInfo, PApplicationInfo = &app };
            var result = vk.CreateInstance(in create, null, out var instance);
            if (result != Result.Success)
            {
                vk.Dispose();
                throw new DeviceUnavailableException(
                    result == Result.ErrorIncompatibleDriver
                        ? $"the Vulkan loader {loader} found no driver supporting Vulkan 1.1 (vkCreateInstance: {result}); {VulkanDevices.NoDeviceHint}"
                        : $"vkCreateInstance failed with {result} (loader {loader}); {VulkanDevices.NoDeviceHint}");
            }

            return new VulkanInstance(vk, instance);
        }
        finally
        {
            SilkMarshal.Free((nint)name);
        }
    }

    public PhysicalDevice[] PhysicalDevices()
    {
        uint count = 0;
        Check(Vk.EnumeratePhysicalDevices(Handle, ref count, null), "vkEnumeratePhysicalDevices");
        var devices = new PhysicalDevice[count];
        if (count > 0)
        {
            fixed (PhysicalDevice* p = devices)
            {
                Check(Vk.EnumeratePhysicalDevices(Handle, ref count, p), "vkEnumeratePhysicalDevices");
            }
        }

        return devices[..(int)count];
    }

    public QueueFamilyProperties[] QueueFamilies(PhysicalDevice device)
    {
        uint count = 0;
        Vk.GetPhysicalDeviceQueueFamilyProperties(device, ref count, null);
        var families = new QueueFamilyProperties[count];
        fixed (QueueFamilyProperties* p = families)
        {
            Vk.GetPhysicalDeviceQueueFamilyProperties(device, ref count, p);
        }

        return families;
    }

    /// <summary>The first queue family with compute, preferring one without graphics (a dedicated compute queue); -1 when none.</summary>
    public int ComputeFamily(PhysicalDevice device)
    {
        var families = QueueFamilies(device);
        int any = -1;
        for (int i = 0; i < families.Length; i++)
        {
            var flags = families[i].QueueFlags;
            if ((flags & QueueFlags.ComputeBit) == 0 || families[i].QueueCount == 0)
            {
                continue;
            }

            if ((flags & QueueFlags.GraphicsBit) == 0)
            {
                return i;
            }

            any = any < 0 ? i : any;
        }

        return any;
    }

    public VulkanDeviceInfo Describe(PhysicalDevice device, int index)
    {
        Vk.GetPhysicalDeviceProperties(device, out var props);
        string name = SilkMarshal.PtrToString((nint)props.DeviceName) ?? "(unnamed)";
        string api = Version(props.ApiVersion);
        string driver = $"driver version {props.DriverVersion.ToString(CultureInfo.InvariantCulture)}";
        int subgroup = 0;
        if (Minor(props.ApiVersion) >= 1 || Major(props.ApiVersion) > 1)
        {
            // Vulkan 1.1 gives the subgroup size; 1.2 names the driver (VkPhysicalDeviceDriverProperties), where older
            // drivers give only a number.
            bool named = Minor(props.ApiVersion) >= 2 || Major(props.ApiVersion) > 1;
            var driverProps = new PhysicalDeviceDriverProperties { SType = StructureType.PhysicalDeviceDriverProperties };
            var subgroupProps = new PhysicalDeviceSubgroupProperties { SType = StructureType.PhysicalDeviceSubgroupProperties, PNext = named ? &driverProps : null };
            var props2 = new PhysicalDeviceProperties2 { SType = StructureType.PhysicalDeviceProperties2, PNext = &subgroupProps };
            Vk.GetPhysicalDeviceProperties2(device, &props2);
            subgroup = (int)subgroupProps.SubgroupSize;
            if (named)
            {
                string driverName = SilkMarshal.PtrToString((nint)driverProps.DriverName) ?? "";
                string driverInfo = SilkMarshal.PtrToString((nint)driverProps.DriverInfo) ?? "";
                driver = driverInfo.Length > 0 ? $"{driverName}, {driverInfo}" : driverName;
            }
        }

        Vk.GetPhysicalDeviceFeatures(device, out var features);

        Vk.GetPhysicalDeviceMemoryProperties(device, out var memory);
        long local = 0;
        for (int h = 0; h < memory.MemoryHeapCount; h++)
        {
            var heap = memory.MemoryHeaps[h];
            if ((heap.Flags & MemoryHeapFlags.DeviceLocalBit) != 0)
            {
                local = Math.Max(local, (long)heap.Size);
            }
        }

        return new VulkanDeviceInfo(index, name, props.DeviceType, api, driver, local, ComputeFamily(device) >= 0,
            subgroup, (int)Math.Min(props.Limits.MaxComputeWorkGroupInvocations, int.MaxValue), features.ShaderFloat64);
    }

    public static string Version(uint v) => string.Create(CultureInfo.InvariantCulture, $"{Major(v)}.{Minor(v)}.{v & 0xFFF}");

    private static uint Major(uint v) => (v >> 22) & 0x7F;

    private static uint Minor(uint v) => (v >> 12) & 0x3FF;

    public static void Check(Result result, string call)
    {
        if (result != Result.Success)
        {
            throw new VulkanException(call, result);
        }
    }

    public void Dispose()
    {
        if (!_disposed)
        {
            _disposed = true;
            Vk.DestroyInstance(Handle, null);
            Vk.Dispose();
        }
    }
}

/// <summary>A Vulkan call returned an error code; the message names the call and the code.</summary>
public sealed class VulkanException : InvalidOperationException
{
    /// <summary>Creates the exception for <paramref name="call"/> returning <paramref name="result"/>.</summary>
    public VulkanException(string call, Result result)
        : base($"{call} failed: {result}" + (result is Result.ErrorOutOfDeviceMemory or Result.ErrorOutOfHostMemory ? " (the buffers do not fit; use fewer parameters or another device)" : "") + ".")
    {
        Call = call;
        Result = result;
    }

    /// <summary>The Vulkan function that failed, e.g. <c>vkAllocateMemory</c>.</summary>
    public string Call { get; }

    /// <summary>What it returned.</summary>
    public Result Result { get; }
}

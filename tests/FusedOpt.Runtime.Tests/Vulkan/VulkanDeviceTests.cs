using System;
using System.Linq;
using FusedOpt.Gpu;
using FusedOpt.Vulkan;
using Silk.NET.Vulkan;
using Xunit;

namespace FusedOpt.Tests.Vulkan;

/// <summary>Vulkan discovery, opening, buffers, and the errors of a missing loader, device, queue or a bad shader.</summary>
[Collection(VulkanCollection.Name)]
public sealed class VulkanDeviceTests(VulkanFixture fixture)
{
    private const string MissingLoader = "libvulkan-fusedopt-missing.so.1";

    [Fact]
    public void Discover_ListsTheOpenedDevice_WithNameTypeVersionAndDriver()
    {
        var device = fixture.Device;
        var report = VulkanDevices.Discover();

        Assert.Empty(report.Notes);
        var first = report.Devices[0];
        Assert.Equal(device.Info, first);
        Assert.False(string.IsNullOrWhiteSpace(first.Name));
        Assert.Matches(@"^1\.\d+\.\d+$", first.ApiVersion);
        Assert.False(string.IsNullOrWhiteSpace(first.Driver));
        Assert.True(first.HasComputeQueue);
        if (first.Name.StartsWith("llvmpipe", StringComparison.Ordinal))
        {
            Assert.Equal(PhysicalDeviceType.Cpu, first.Type); // Mesa's lavapipe is a CPU device: host-visible buffers, no staging
            Assert.False(device.UsesStaging);
        }
    }

    [Fact]
    public void DevicesRow_IsTheVulkanKind_WithTheDevicesFacts()
    {
        var info = fixture.Device.Info;
        var row = info.ToDeviceInfo();

        Assert.Equal(new DeviceSpec(DeviceKind.Vulkan, 0), row.Device);
        Assert.Equal("vulkan", row.Device.ToString());
        Assert.Equal(info.Name, row.Name);
        Assert.Equal(info.DeviceLocalBytes, row.MemoryBytes);
        Assert.True(row.MaxThreadsPerGroup >= VulkanStepKernel.ThreadsPerGroup, "Vulkan guarantees at least 128 invocations; the kernels need 256");
        Assert.StartsWith($"Vulkan {info.ApiVersion}, {info.TypeName}, ", row.Details, StringComparison.Ordinal);
    }

    [Fact]
    public void VulkanKind_IsADeviceOption_ButNotAnIlgpuDevice()
    {
        Assert.Contains("open it with FusedOpt.Vulkan.VulkanDevice.Open",
            Assert.Throws<ArgumentException>(() => GpuDevices.Open(new DeviceSpec(DeviceKind.Vulkan))).Message, StringComparison.Ordinal);
        Assert.Equal(new DeviceSpec(DeviceKind.Vulkan, 0), DeviceSpec.Parse("vulkan"));
        Assert.True(DeviceSpec.Parse("vulkan").IsVulkan);
    }

    [Fact]
    public void Discover_WithoutLoader_ReportsANoteNamingIt()
    {
        var report = VulkanDevices.Discover(MissingLoader);

        Assert.Empty(report.Devices);
        var note = Assert.Single(report.Notes);
        Assert.Contains(MissingLoader, note, StringComparison.Ordinal);
        Assert.Contains("libvulkan1", note, StringComparison.Ordinal);
    }

    [Fact]
    public void Open_WithoutLoader_ThrowsDeviceUnavailable()
    {
        var e = Assert.Throws<DeviceUnavailableException>(() => VulkanDevice.Open(0, MissingLoader));
        Assert.Contains($"the Vulkan loader {MissingLoader} could not be loaded", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Open_IndexPastTheLastDevice_ThrowsListingTheDevices()
    {
        var device = fixture.Device;
        var e = Assert.Throws<DeviceUnavailableException>(() => VulkanDevice.Open(99));
        Assert.Contains("--device vulkan:99: only", e.Message, StringComparison.Ordinal);
        Assert.Contains(device.Info.Name, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Open_NoQueueFamilyWithTheCapability_ThrowsSayingItCannotRunCompute()
    {
        _ = fixture.Device;
        var e = Assert.Throws<DeviceUnavailableException>(() => VulkanDevice.Open(0, VulkanDevices.LoaderName, (QueueFlags)(1 << 30)));
        Assert.Contains("has no queue family with", e.Message, StringComparison.Ordinal);
        Assert.Contains("cannot run compute shaders", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Buffers_UploadFillDownload_RoundTripAtOffsets()
    {
        var device = fixture.Device;
        using var buffer = device.CreateStorageBuffer(1001);
        var data = Enumerable.Range(0, 333).Select(static i => i * 0.5f - 7f).ToArray();
        device.Upload(buffer, data, offset: 17);
        device.Fill(buffer, 500, 101, -2.5f);

        var all = new float[1001];
        device.Download(buffer, all);
        for (int i = 0; i < all.Length; i++)
        {
            float expected = i is >= 17 and < 350 ? data[i - 17] : i is >= 500 and < 601 ? -2.5f : 0f;
            Assert.True(expected == all[i], $"element {i}: expected {expected}, got {all[i]}");
        }

        Assert.Throws<ArgumentOutOfRangeException>(() => device.Upload(buffer, data, offset: 1000));
    }

    /// <summary>The copy that bandwidth is measured against copies, and is timed on the device's clock when it has one.</summary>
    [Fact]
    public void TimeCopy_CopiesTheElements_AndTimesThemWhenTheQueueHasTimestamps()
    {
        var device = fixture.Device;
        using var from = device.CreateStorageBuffer(4099);
        using var to = device.CreateStorageBuffer(4099);
        var data = Enumerable.Range(0, 4099).Select(static i => (float)i).ToArray();
        device.Upload(from, data);

        var time = device.TimeCopy(from, to, 4000);

        var copied = new float[4099];
        device.Download(to, copied);
        Assert.Equal(data[..4000], copied[..4000]);
        Assert.All(copied[4000..], static e => Assert.Equal(0f, e));
        Assert.Equal(device.HasTimestamps, time.HasValue);
        Assert.True(time is null || time.Value >= TimeSpan.Zero, $"a negative device time: {time}");
    }

    [Fact]
    public void Kernel_WrongNumThreads_IsRefusedNamingIt()
    {
        var device = fixture.Device;
        Requirements.Glslang();
        string hlsl = Shaders.Read("sgd_momentum.hlsl").Replace("[numthreads(256, 1, 1)]", "[numthreads(64, 1, 1)]", StringComparison.Ordinal);
        var spirv = fixture.Compiler.Compile(hlsl, "sgd64").Spirv.ToArray();

        var e = Assert.Throws<ArgumentException>(() => new VulkanStepKernel(device, spirv, 3, 32));
        Assert.Contains("work-group size is (64, 1, 1)", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Kernel_FewerBuffersThanTheShaderBinds_IsRefusedNamingTheBinding()
    {
        var device = fixture.Device;
        var spirv = fixture.Spirv("adam.hlsl");

        var e = Assert.Throws<ArgumentException>(() => new VulkanStepKernel(device, spirv, bufferCount: 2, uniformBytes: 48));
        Assert.Contains("StorageBuffer at set 0, binding 3", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Kernel_ConstantBufferSmallerThanTheShaders_IsRefusedNamingBoth()
    {
        var device = fixture.Device;
        var spirv = fixture.Spirv("adam.hlsl");

        var e = Assert.Throws<ArgumentException>(() => new VulkanStepKernel(device, spirv, bufferCount: 4, uniformBytes: 32));
        Assert.Contains("spans 36 bytes; the kernel was given 32", e.Message, StringComparison.Ordinal); // n + 8 floats
    }

    [Fact]
    public void Kernel_NotSpirv_ThrowsFormatException()
    {
        var device = fixture.Device;
        Assert.Throws<FormatException>(() => new VulkanStepKernel(device, new byte[64], 3, 32));
    }

    [Fact]
    public void Dispatch_BadArguments_AreRefusedBeforeAnythingRuns()
    {
        var device = fixture.Device;
        using var kernel = new VulkanStepKernel(device, fixture.Spirv("sgd_momentum.hlsl"), 3, 32);
        using var a = device.CreateStorageBuffer(64);
        using var b = device.CreateStorageBuffer(64);
        using var c = device.CreateStorageBuffer(64);
        var block = new byte[32];

        Assert.Contains("binds 3 storage buffers; 2 were given",
            Assert.Throws<ArgumentException>(() => kernel.Dispatch([a, b], [new VulkanRange(0, 64)], block)).Message, StringComparison.Ordinal);
        Assert.Contains("need 2 constant buffers of 32 bytes",
            Assert.Throws<ArgumentException>(() => kernel.Dispatch([a, b, c], [new VulkanRange(0, 16), new VulkanRange(16, 16)], block)).Message, StringComparison.Ordinal);
        Assert.Contains("outside the buffers",
            Assert.Throws<ArgumentException>(() => kernel.Dispatch([a, b, c], [new VulkanRange(0, 65)], block)).Message, StringComparison.Ordinal);
        if (device.StorageOffsetAlignment > 4)
        {
            Assert.Contains("minStorageBufferOffsetAlignment",
                Assert.Throws<ArgumentException>(() => kernel.Dispatch([a, b, c], [new VulkanRange(1, 16)], block)).Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void DefaultChunkLength_FitsTheDevicesLimits()
    {
        var device = fixture.Device;
        long chunk = VulkanStepKernel.DefaultChunkLength(device);

        Assert.True(chunk * sizeof(float) <= device.MaxStorageBufferRange, $"{chunk} floats exceed maxStorageBufferRange {device.MaxStorageBufferRange}");
        Assert.True((chunk + VulkanStepKernel.ThreadsPerGroup - 1) / VulkanStepKernel.ThreadsPerGroup <= device.MaxGroupsX);
        Assert.Equal(0, chunk % VulkanStepKernel.ThreadsPerGroup);
        Assert.Equal(0, chunk * sizeof(float) % device.StorageOffsetAlignment);
    }
}

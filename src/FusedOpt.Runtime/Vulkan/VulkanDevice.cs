using System;
using System.Linq;
using FusedOpt.Gpu;
using Silk.NET.Vulkan;
using Buffer = Silk.NET.Vulkan.Buffer;

namespace FusedOpt.Vulkan;

/// <summary>
/// An open Vulkan device: an instance, the chosen physical device, a logical device with one compute queue, a command
/// pool and a fence for the host's waits. Every submission waits for its fence, so the device is idle between calls
/// and buffers can be read and written from the host without further synchronisation. Not thread-safe.
/// </summary>
/// <remarks>
/// Memory placement: a discrete GPU keeps buffers in device-local memory and copies through a host-visible staging
/// buffer; a CPU device (lavapipe), an integrated or a virtual GPU keeps them in host-visible memory and maps them.
/// </remarks>
public sealed unsafe class VulkanDevice : IDisposable
{
    /// <summary>Default size of the staging buffer in bytes; longer uploads and downloads go in pieces of this size.</summary>
    internal const long DefaultStagingBytes = 64L << 20;

    private readonly long _stagingBytes;

    private readonly VulkanInstance _instance;
    private readonly PhysicalDeviceMemoryProperties _memory;
    private CommandPool _pool;
    private CommandBuffer _transfer;
    private Fence _fence;
    private VulkanBuffer? _staging;
    private VulkanTimestamps? _timestamps;
    private bool _disposed;

    private VulkanDevice(VulkanInstance instance, PhysicalDevice physical, VulkanDeviceInfo info, int family, bool forceStaging, long stagingBytes)
    {
        _stagingBytes = stagingBytes;
        _instance = instance;
        Physical = physical;
        Info = info;
        QueueFamily = family;
        Vk.GetPhysicalDeviceProperties(physical, out var props);
        Limits = props.Limits;
        Vk.GetPhysicalDeviceMemoryProperties(physical, out _memory);
        UsesStaging = forceStaging || info.Type == PhysicalDeviceType.DiscreteGpu;
        TimestampValidBits = (int)instance.QueueFamilies(physical)[family].TimestampValidBits;
    }

    internal Vk Vk => _instance.Vk;

    internal PhysicalDevice Physical { get; }

    internal Device Handle { get; private set; }

    internal Queue Queue { get; private set; }

    internal PhysicalDeviceLimits Limits { get; }

    /// <summary>What was opened.</summary>
    public VulkanDeviceInfo Info { get; }

    /// <summary>The queue family whose first queue runs the dispatches.</summary>
    public int QueueFamily { get; }

    /// <summary>True when buffers live in device-local memory and the host copies through a staging buffer (a discrete GPU).</summary>
    public bool UsesStaging { get; }

    /// <summary>Bits of the compute queue's timestamps; 0 when it has none.</summary>
    internal int TimestampValidBits { get; }

    /// <summary>True when the compute queue writes timestamps, so dispatches and copies can be timed on the device's clock.</summary>
    public bool HasTimestamps => TimestampValidBits > 0 && Limits.TimestampPeriod > 0;

    /// <summary>Most storage buffers one shader stage may bind (<c>maxPerStageDescriptorStorageBuffers</c>).</summary>
    public int MaxStorageBuffers => (int)Math.Min(Limits.MaxPerStageDescriptorStorageBuffers, int.MaxValue);

    /// <summary>Most bytes one storage-buffer descriptor may cover (<c>maxStorageBufferRange</c>).</summary>
    public long MaxStorageBufferRange => Limits.MaxStorageBufferRange;

    /// <summary>Most work groups one dispatch may have along x (<c>maxComputeWorkGroupCount[0]</c>).</summary>
    public long MaxGroupsX
    {
        get
        {
            var limits = Limits;
            return limits.MaxComputeWorkGroupCount[0];
        }
    }

    /// <summary>Alignment of a storage-buffer descriptor's offset in bytes (<c>minStorageBufferOffsetAlignment</c>).</summary>
    public long StorageOffsetAlignment => (long)Limits.MinStorageBufferOffsetAlignment;

    /// <summary>Alignment of a uniform-buffer descriptor's offset in bytes (<c>minUniformBufferOffsetAlignment</c>).</summary>
    public long UniformOffsetAlignment => (long)Limits.MinUniformBufferOffsetAlignment;

    /// <summary>
    /// Opens Vulkan device <paramref name="index"/> (the order of <see cref="VulkanDevices.Discover()"/>). Throws
    /// <see cref="DeviceUnavailableException"/> when the loader is missing, when no device or fewer than
    /// <paramref name="index"/> + 1 are present, or when the device has no compute queue.
    /// </summary>
    public static VulkanDevice Open(int index = 0) => Open(index, VulkanDevices.LoaderName);

    /// <summary><see cref="Open(int)"/> with the loader looked up as <paramref name="loader"/>.</summary>
    internal static VulkanDevice Open(int index, string loader) => Open(index, loader, requireQueue: null);

    /// <summary>
    /// <see cref="Open(int, string)"/> with test hooks: <paramref name="requireQueue"/> replaces the compute capability
    /// looked for (to reach the error of a device without such a queue); <paramref name="forceStaging"/> takes the
    /// discrete-GPU path (device-local buffers, staging copies of <paramref name="stagingBytes"/>) on any device.
    /// </summary>
    internal static VulkanDevice Open(int index, string loader, QueueFlags? requireQueue, bool forceStaging = false, long stagingBytes = DefaultStagingBytes)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(stagingBytes, 4);
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        var instance = VulkanInstance.Create(loader);
        try
        {
            var physical = instance.PhysicalDevices();
            if (physical.Length == 0)
            {
                throw new DeviceUnavailableException($"no Vulkan device found (loader {loader}); {VulkanDevices.NoDeviceHint}");
            }

            if (index >= physical.Length)
            {
                throw new DeviceUnavailableException(
                    $"--device vulkan:{index}: only {physical.Length} Vulkan device{(physical.Length == 1 ? "" : "s")} found ({string.Join(", ", physical.Select((p, i) => instance.Describe(p, i).ToString()))}).");
            }

            var info = instance.Describe(physical[index], index);
            int family = requireQueue is { } flags ? FamilyWith(instance, physical[index], flags) : instance.ComputeFamily(physical[index]);
            if (family < 0)
            {
                throw new DeviceUnavailableException($"Vulkan device {info} has no queue family with {(requireQueue ?? QueueFlags.ComputeBit)}: it cannot run compute shaders.");
            }

            var device = new VulkanDevice(instance, physical[index], info, family, forceStaging, stagingBytes / 4 * 4);
            try
            {
                device.CreateLogicalDevice();
            }
            catch
            {
                device.Dispose();
                throw;
            }

            return device;
        }
        catch
        {
            instance.Dispose();
            throw;
        }
    }

    private static int FamilyWith(VulkanInstance instance, PhysicalDevice device, QueueFlags flags)
    {
        var families = instance.QueueFamilies(device);
        for (int i = 0; i < families.Length; i++)
        {
            if ((families[i].QueueFlags & flags) == flags && families[i].QueueCount > 0)
            {
                return i;
            }
        }

        return -1;
    }

    private void CreateLogicalDevice()
    {
        float priority = 1f;
        var queue = new DeviceQueueCreateInfo
        {
            SType = StructureType.DeviceQueueCreateInfo,
            QueueFamilyIndex = (uint)QueueFamily,
            QueueCount = 1,
            PQueuePriorities = &priority,
        };
        var create = new DeviceCreateInfo { SType = StructureType.DeviceCreateInfo, QueueCreateInfoCount = 1, PQueueCreateInfos = &queue };
        VulkanInstance.Check(Vk.CreateDevice(Physical, in create, null, out var device), "vkCreateDevice");
        Handle = device;
        Vk.GetDeviceQueue(device, (uint)QueueFamily, 0, out var q);
        Queue = q;

        var pool = new CommandPoolCreateInfo
        {
            SType = StructureType.CommandPoolCreateInfo,
            QueueFamilyIndex = (uint)QueueFamily,
            Flags = CommandPoolCreateFlags.ResetCommandBufferBit,
        };
        VulkanInstance.Check(Vk.CreateCommandPool(device, in pool, null, out _pool), "vkCreateCommandPool");
        _transfer = AllocateCommandBuffer();
        var fence = new FenceCreateInfo { SType = StructureType.FenceCreateInfo };
        VulkanInstance.Check(Vk.CreateFence(device, in fence, null, out _fence), "vkCreateFence");
    }

    internal CommandBuffer AllocateCommandBuffer()
    {
        var alloc = new CommandBufferAllocateInfo
        {
            SType = StructureType.CommandBufferAllocateInfo,
            CommandPool = _pool,
            Level = CommandBufferLevel.Primary,
            CommandBufferCount = 1,
        };
        VulkanInstance.Check(Vk.AllocateCommandBuffers(Handle, in alloc, out var buffer), "vkAllocateCommandBuffers");
        return buffer;
    }

    internal void FreeCommandBuffer(CommandBuffer buffer) => Vk.FreeCommandBuffers(Handle, _pool, 1, in buffer);

    /// <summary>Submits <paramref name="commands"/> (recorded) and waits for it to finish.</summary>
    internal void SubmitAndWait(CommandBuffer commands)
    {
        var submit = new SubmitInfo { SType = StructureType.SubmitInfo, CommandBufferCount = 1, PCommandBuffers = &commands };
        VulkanInstance.Check(Vk.QueueSubmit(Queue, 1, in submit, _fence), "vkQueueSubmit");
        var fence = _fence;
        VulkanInstance.Check(Vk.WaitForFences(Handle, 1, in fence, true, ulong.MaxValue), "vkWaitForFences");
        VulkanInstance.Check(Vk.ResetFences(Handle, 1, in fence), "vkResetFences");
    }

    /// <summary>
    /// Creates a storage buffer of <paramref name="floats"/> float32 elements, zero-filled: device-local when
    /// <see cref="UsesStaging"/>, else host-visible and mapped.
    /// </summary>
    public VulkanBuffer CreateStorageBuffer(long floats)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentOutOfRangeException.ThrowIfNegative(floats);
        long bytes = Math.Max(floats, 1) * sizeof(float);
        var usage = BufferUsageFlags.StorageBufferBit | BufferUsageFlags.TransferSrcBit | BufferUsageFlags.TransferDstBit;
        var buffer = UsesStaging
            ? CreateBuffer(bytes, usage, MemoryPropertyFlags.DeviceLocalBit, floats)
            : CreateBuffer(bytes, usage, MemoryPropertyFlags.HostVisibleBit | MemoryPropertyFlags.HostCoherentBit, floats);
        Fill(buffer, 0, floats, 0f);
        return buffer;
    }

    /// <summary>Creates a host-visible, mapped uniform buffer of <paramref name="bytes"/> bytes.</summary>
    internal VulkanBuffer CreateUniformBuffer(long bytes) =>
        CreateBuffer(bytes, BufferUsageFlags.UniformBufferBit, MemoryPropertyFlags.HostVisibleBit | MemoryPropertyFlags.HostCoherentBit, 0);

    private VulkanBuffer CreateBuffer(long bytes, BufferUsageFlags usage, MemoryPropertyFlags wanted, long floats)
    {
        var info = new BufferCreateInfo { SType = StructureType.BufferCreateInfo, Size = (ulong)bytes, Usage = usage, SharingMode = SharingMode.Exclusive };
        VulkanInstance.Check(Vk.CreateBuffer(Handle, in info, null, out var buffer), "vkCreateBuffer");
        DeviceMemory memory = default;
        try
        {
            Vk.GetBufferMemoryRequirements(Handle, buffer, out var requirements);
            int type = MemoryType(requirements.MemoryTypeBits, wanted);
            if (type < 0)
            {
                throw new DeviceUnavailableException($"Vulkan device {Info} has no memory type with {wanted} for a {usage} buffer.");
            }

            var alloc = new MemoryAllocateInfo { SType = StructureType.MemoryAllocateInfo, AllocationSize = requirements.Size, MemoryTypeIndex = (uint)type };
            VulkanInstance.Check(Vk.AllocateMemory(Handle, in alloc, null, out memory), "vkAllocateMemory");
            VulkanInstance.Check(Vk.BindBufferMemory(Handle, buffer, memory, 0), "vkBindBufferMemory");
            void* mapped = null;
            if ((wanted & MemoryPropertyFlags.HostVisibleBit) != 0)
            {
                VulkanInstance.Check(Vk.MapMemory(Handle, memory, 0, Vk.WholeSize, 0, ref mapped), "vkMapMemory");
            }

            return new VulkanBuffer(this, buffer, memory, bytes, floats, (byte*)mapped);
        }
        catch
        {
            if (memory.Handle != 0)
            {
                Vk.FreeMemory(Handle, memory, null);
            }

            Vk.DestroyBuffer(Handle, buffer, null);
            throw;
        }
    }

    private int MemoryType(uint allowed, MemoryPropertyFlags wanted)
    {
        for (int i = 0; i < _memory.MemoryTypeCount; i++)
        {
            if ((allowed & (1u << i)) != 0 && (_memory.MemoryTypes[i].PropertyFlags & wanted) == wanted)
            {
                return i;
            }
        }

        return -1;
    }

    /// <summary>Copies <paramref name="source"/> into <paramref name="destination"/> from element <paramref name="offset"/>.</summary>
    public void Upload(VulkanBuffer destination, ReadOnlySpan<float> source, long offset = 0)
    {
        CheckRange(destination, offset, source.Length);
        if (destination.Mapped != null)
        {
            source.CopyTo(new Span<float>((float*)destination.Mapped + offset, source.Length));
            return;
        }

        var staging = Staging();
        for (long done = 0; done < source.Length;)
        {
            int count = (int)Math.Min(source.Length - done, _stagingBytes / sizeof(float));
            source.Slice((int)done, count).CopyTo(new Span<float>(staging.Mapped, count));
            Copy(staging, 0, destination, (offset + done) * sizeof(float), count * sizeof(float));
            done += count;
        }
    }

    /// <summary>Copies elements <paramref name="offset"/>… of <paramref name="source"/> into <paramref name="destination"/>.</summary>
    public void Download(VulkanBuffer source, Span<float> destination, long offset = 0)
    {
        CheckRange(source, offset, destination.Length);
        if (source.Mapped != null)
        {
            new ReadOnlySpan<float>((float*)source.Mapped + offset, destination.Length).CopyTo(destination);
            return;
        }

        var staging = Staging();
        for (long done = 0; done < destination.Length;)
        {
            int count = (int)Math.Min(destination.Length - done, _stagingBytes / sizeof(float));
            Copy(source, (offset + done) * sizeof(float), staging, 0, count * sizeof(float));
            new ReadOnlySpan<float>(staging.Mapped, count).CopyTo(destination.Slice((int)done, count));
            done += count;
        }
    }

    /// <summary>Sets elements [<paramref name="offset"/>, +<paramref name="count"/>) of <paramref name="buffer"/> to <paramref name="value"/>.</summary>
    public void Fill(VulkanBuffer buffer, long offset, long count, float value)
    {
        CheckRange(buffer, offset, count);
        if (count == 0)
        {
            return;
        }

        if (buffer.Mapped != null)
        {
            new Span<float>((float*)buffer.Mapped + offset, checked((int)count)).Fill(value);
            return;
        }

        Record(cb => Vk.CmdFillBuffer(cb, buffer.Handle, (ulong)(offset * sizeof(float)), (ulong)(count * sizeof(float)), BitConverter.SingleToUInt32Bits(value)));
    }

    private void CheckRange(VulkanBuffer buffer, long offset, long count)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(buffer);
        ObjectDisposedException.ThrowIf(buffer.IsDisposed, buffer);
        if (buffer.Device != this)
        {
            throw new ArgumentException("The buffer belongs to another Vulkan device.", nameof(buffer));
        }

        if (offset < 0 || count < 0 || offset + count > buffer.Length)
        {
            throw new ArgumentOutOfRangeException(nameof(offset), offset, $"Elements [{offset}, {offset + count}) are outside the buffer of {buffer.Length} floats.");
        }
    }

    private VulkanBuffer Staging() =>
        _staging ??= CreateBuffer(_stagingBytes, BufferUsageFlags.TransferSrcBit | BufferUsageFlags.TransferDstBit,
            MemoryPropertyFlags.HostVisibleBit | MemoryPropertyFlags.HostCoherentBit, _stagingBytes / sizeof(float));

    private void Copy(VulkanBuffer from, long fromOffset, VulkanBuffer to, long toOffset, long bytes)
    {
        var region = new BufferCopy((ulong)fromOffset, (ulong)toOffset, (ulong)bytes);
        Record(cb => Vk.CmdCopyBuffer(cb, from.Handle, to.Handle, 1, in region));
    }

    /// <summary>
    /// Copies the first <paramref name="floats"/> elements of <paramref name="from"/> into <paramref name="to"/> on the
    /// device (<c>vkCmdCopyBuffer</c>) and returns how long the copy took on the device's clock; null when the queue has no
    /// timestamps. The copy-bandwidth reference a step is measured against: it reads and writes 4 × floats bytes.
    /// </summary>
    public TimeSpan? TimeCopy(VulkanBuffer from, VulkanBuffer to, long floats)
    {
        CheckRange(from, 0, floats);
        CheckRange(to, 0, floats);
        if (floats == 0)
        {
            return TimeSpan.Zero;
        }

        _timestamps ??= VulkanTimestamps.Create(this);
        var region = new BufferCopy(0, 0, (ulong)(floats * sizeof(float)));
        Record(cb => Vk.CmdCopyBuffer(cb, from.Handle, to.Handle, 1, in region), _timestamps);
        return _timestamps?.Read();
    }

    private void Record(Action<CommandBuffer> commands, VulkanTimestamps? timestamps = null)
    {
        var begin = new CommandBufferBeginInfo { SType = StructureType.CommandBufferBeginInfo, Flags = CommandBufferUsageFlags.OneTimeSubmitBit };
        VulkanInstance.Check(Vk.BeginCommandBuffer(_transfer, in begin), "vkBeginCommandBuffer");

        // Earlier work (a step's shader writes, the host's writes to the staging buffer) before this copy or fill; then
        // the copy's writes visible to the host: a fence alone orders device accesses only, not the host's reads.
        var before = new MemoryBarrier(StructureType.MemoryBarrier, null, AccessFlags.MemoryWriteBit | AccessFlags.HostWriteBit, AccessFlags.TransferReadBit | AccessFlags.TransferWriteBit);
        Vk.CmdPipelineBarrier(_transfer, PipelineStageFlags.ComputeShaderBit | PipelineStageFlags.TransferBit | PipelineStageFlags.HostBit, PipelineStageFlags.TransferBit, 0, 1, in before, 0, null, 0, null);
        timestamps?.Begin(_transfer);
        commands(_transfer);
        timestamps?.End(_transfer);
        var after = new MemoryBarrier(StructureType.MemoryBarrier, null, AccessFlags.TransferWriteBit, AccessFlags.HostReadBit | AccessFlags.ShaderReadBit | AccessFlags.ShaderWriteBit);
        Vk.CmdPipelineBarrier(_transfer, PipelineStageFlags.TransferBit, PipelineStageFlags.HostBit | PipelineStageFlags.ComputeShaderBit, 0, 1, in after, 0, null, 0, null);
        VulkanInstance.Check(Vk.EndCommandBuffer(_transfer), "vkEndCommandBuffer");
        SubmitAndWait(_transfer);
    }

    internal void DestroyBuffer(Buffer buffer, DeviceMemory memory, bool mapped)
    {
        if (mapped)
        {
            Vk.UnmapMemory(Handle, memory);
        }

        Vk.DestroyBuffer(Handle, buffer, null);
        Vk.FreeMemory(Handle, memory, null);
    }

    /// <inheritdoc />
    public override string ToString() => Info.ToString();

    /// <summary>Waits for the device to finish, then destroys the staging buffer, the pool, the fence, the device and the instance.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        if (Handle.Handle != 0)
        {
            Vk.DeviceWaitIdle(Handle);
            _staging?.Dispose();
            _timestamps?.Dispose();
            _disposed = true;
            if (_fence.Handle != 0)
            {
                Vk.DestroyFence(Handle, _fence, null);
            }

            if (_pool.Handle != 0)
            {
                Vk.DestroyCommandPool(Handle, _pool, null);
            }

            Vk.DestroyDevice(Handle, null);
        }

        _disposed = true;
        _instance.Dispose();
    }

    internal bool IsDisposed => _disposed;
}

/// <summary>A Vulkan buffer and its memory; host-visible buffers stay mapped for their lifetime.</summary>
public sealed unsafe class VulkanBuffer : IDisposable
{
    internal VulkanBuffer(VulkanDevice device, Buffer handle, DeviceMemory memory, long bytes, long length, byte* mapped)
    {
        Device = device;
        Handle = handle;
        Memory = memory;
        Bytes = bytes;
        Length = length;
        Mapped = mapped;
    }

    /// <summary>The device that owns it.</summary>
    public VulkanDevice Device { get; }

    internal Buffer Handle { get; }

    internal DeviceMemory Memory { get; }

    internal byte* Mapped { get; }

    /// <summary>Its size in bytes.</summary>
    public long Bytes { get; }

    /// <summary>Its length in float32 elements (0 for a uniform buffer).</summary>
    public long Length { get; }

    /// <summary>True once disposed.</summary>
    public bool IsDisposed { get; private set; }

    /// <summary>Frees the buffer and its memory (the device must be idle, as it is between calls).</summary>
    public void Dispose()
    {
        if (!IsDisposed)
        {
            IsDisposed = true;
            if (!Device.IsDisposed)
            {
                Device.DestroyBuffer(Handle, Memory, Mapped != null);
            }
        }
    }
}

using System;
using System.Collections.Generic;
using System.Linq;
using Silk.NET.Vulkan;

namespace FusedOpt.Vulkan;

/// <summary>A run of elements one dispatch covers: [<paramref name="Start"/>, <paramref name="Start"/> + <paramref name="Length"/>).</summary>
/// <param name="Start">The first element, in floats from the start of every bound buffer.</param>
/// <param name="Length">The number of elements.</param>
public readonly record struct VulkanRange(long Start, long Length);

/// <summary>
/// One compute pipeline for a step shader, and its dispatch over ranges of the bound buffers: what a Vulkan optimizer
/// executor calls once per step.
/// </summary>
/// <remarks>
/// <para>The shader's contract (what the HLSL declares; <see cref="ShaderCompiler"/> maps the registers):</para>
/// <list type="bullet">
/// <item><c>cbuffer … : register(b0)</c> — descriptor binding 0, <see cref="UniformBytes"/> bytes, whose first member is
/// <c>uint n</c>: the kernel writes the element count of each dispatched range there; the caller fills the rest.</item>
/// <item><c>RWStructuredBuffer&lt;float&gt; … : register(uK)</c> for K = 0 … <see cref="BufferCount"/> − 1 — binding K + 1,
/// bound to element <c>range.Start</c> of the K-th buffer passed to <see cref="Dispatch"/>, so the shader indexes
/// 0 … n − 1.</item>
/// <item><c>[numthreads(256, 1, 1)] void main(uint3 id : SV_DispatchThreadID)</c> with <c>if (id.x &gt;= n) return;</c>:
/// the kernel dispatches ⌈n / 256⌉ groups.</item>
/// </list>
/// <para>A range longer than the device allows in one descriptor (<c>maxStorageBufferRange</c>, 128 MiB on lavapipe)
/// or one dispatch (<c>maxComputeWorkGroupCount[0]</c> × 256) is cut into chunks, each a dispatch of its own with its
/// own <c>n</c>; the shader cannot tell. All chunks of one call go in one submission, and the call waits for it.</para>
/// </remarks>
public sealed unsafe class VulkanStepKernel : IDisposable
{
    /// <summary>Threads per work group: the shader's <c>[numthreads(256, 1, 1)]</c>.</summary>
    public const int ThreadsPerGroup = 256;

    private readonly VulkanDevice _device;
    private ShaderModule _module;
    private DescriptorSetLayout _setLayout;
    private PipelineLayout _pipelineLayout;
    private Pipeline _pipeline;
    private CommandBuffer _commands;
    private DescriptorPool _pool;
    private VulkanBuffer? _uniforms;
    private VulkanTimestamps? _timestamps;
    private long _uniformStride;
    private (VulkanBuffer Buffer, long Length)[] _boundBuffers = [];
    private Chunk[] _chunks = [];
    private bool _disposed;

    private readonly record struct Chunk(int Range, long Start, long Length);

    /// <summary>
    /// Builds the pipeline for <paramref name="spirv"/> with <paramref name="bufferCount"/> storage buffers and a constant
    /// buffer of <paramref name="uniformBytes"/> bytes. Throws <see cref="FormatException"/> when the bytes are not
    /// SPIR-V; <see cref="ArgumentException"/> when the module has no compute entry point <c>main</c>, is not
    /// <c>[numthreads(256, 1, 1)]</c>, declares a binding the layout above does not have, or a constant buffer larger than
    /// <paramref name="uniformBytes"/>; <see cref="Gpu.DeviceUnavailableException"/> when the device allows fewer storage
    /// buffers per stage.
    /// </summary>
    public VulkanStepKernel(VulkanDevice device, ReadOnlySpan<byte> spirv, int bufferCount, int uniformBytes)
    {
        ArgumentNullException.ThrowIfNull(device);
        ObjectDisposedException.ThrowIf(device.IsDisposed, device);
        ArgumentOutOfRangeException.ThrowIfLessThan(bufferCount, 1);
        if (uniformBytes < 4 || uniformBytes % 4 != 0 || uniformBytes > device.Limits.MaxUniformBufferRange)
        {
            throw new ArgumentOutOfRangeException(nameof(uniformBytes), uniformBytes,
                $"The constant buffer must hold at least uint n: a multiple of 4 bytes from 4 to the device's maxUniformBufferRange ({device.Limits.MaxUniformBufferRange}).");
        }

        if (bufferCount > device.MaxStorageBuffers)
        {
            throw new Gpu.DeviceUnavailableException(
                $"Vulkan device {device.Info} binds at most {device.MaxStorageBuffers} storage buffers per shader stage; this step needs {bufferCount}.");
        }

        Check(SpirvModule.Read(spirv), bufferCount, uniformBytes);
        _device = device;
        BufferCount = bufferCount;
        UniformBytes = uniformBytes;
        ChunkLength = DefaultChunkLength(device);
        try
        {
            CreatePipeline(spirv);
            _commands = device.AllocateCommandBuffer();
            _timestamps = VulkanTimestamps.Create(device);
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>The number of storage buffers, bound at 1 … <see cref="BufferCount"/>.</summary>
    public int BufferCount { get; }

    /// <summary>The constant buffer's size in bytes.</summary>
    public int UniformBytes { get; }

    /// <summary>The longest run of elements one dispatch covers; longer ranges are cut into chunks of this length.</summary>
    public long ChunkLength { get; internal set; }

    /// <summary>The number of dispatches the last <see cref="Dispatch"/> recorded.</summary>
    public int LastDispatchCount => _chunks.Length;

    /// <summary>
    /// How long the last <see cref="Dispatch"/> ran on the device's clock (timestamps around its dispatches, without the
    /// submission and the host's wait); null before the first and on a device without timestamps.
    /// </summary>
    public TimeSpan? LastGpuTime { get; private set; }

    /// <summary>
    /// The longest chunk the device allows: within <c>maxStorageBufferRange</c> and <c>maxComputeWorkGroupCount[0]</c>
    /// groups, a multiple of 256 elements and of the storage offset alignment so that every chunk starts aligned.
    /// </summary>
    internal static long DefaultChunkLength(VulkanDevice device)
    {
        long unit = Math.Max(ThreadsPerGroup, device.StorageOffsetAlignment / sizeof(float));
        long limit = Math.Min(Math.Min(device.MaxStorageBufferRange / sizeof(float), device.MaxGroupsX * ThreadsPerGroup), int.MaxValue);
        return Math.Max(unit, limit / unit * unit);
    }

    private static void Check(SpirvModule module, int bufferCount, int uniformBytes)
    {
        if (!module.ComputeEntryPoints.Contains("main"))
        {
            throw new ArgumentException(
                $"The SPIR-V has no compute entry point 'main' (it has: {(module.ComputeEntryPoints.IsEmpty ? "none" : string.Join(", ", module.ComputeEntryPoints))}); compile with -S comp -e main.", "spirv");
        }

        if (module.LocalSize is not (ThreadsPerGroup, 1, 1))
        {
            throw new ArgumentException($"The shader's work-group size is {module.LocalSize?.ToString() ?? "not stated"}; the kernel dispatches [numthreads({ThreadsPerGroup}, 1, 1)].", "spirv");
        }

        foreach (var b in module.Bindings)
        {
            var expected = b.Binding == 0 ? SpirvBindingKind.UniformBuffer : SpirvBindingKind.StorageBuffer;
            if (b.Set != 0 || b.Binding > bufferCount || b.Kind != expected)
            {
                throw new ArgumentException(
                    $"The shader declares a {b.Kind} at set {b.Set}, binding {b.Binding}; the kernel's layout is set 0 with the constant buffer (register b0) at binding 0 " +
                    $"and {bufferCount} storage buffers (registers u0…u{bufferCount - 1}) at bindings 1…{bufferCount}. Compile with {string.Join(' ', ShaderCompiler.Flags)} " +
                    "and check the buffer count.", "spirv");
            }

            if (b.BlockBytes > uniformBytes)
            {
                throw new ArgumentException(
                    $"The shader's constant buffer (register b0) spans {b.BlockBytes} bytes; the kernel was given {uniformBytes}. Use the layout's Size (UniformLayout) for the same members.", "spirv");
            }
        }
    }

    private void CreatePipeline(ReadOnlySpan<byte> spirv)
    {
        var vk = _device.Vk;
        var device = _device.Handle;
        fixed (byte* code = spirv)
        {
            var info = new ShaderModuleCreateInfo { SType = StructureType.ShaderModuleCreateInfo, CodeSize = (nuint)spirv.Length, PCode = (uint*)code };
            VulkanInstance.Check(vk.CreateShaderModule(device, in info, null, out _module), "vkCreateShaderModule");
        }

        var bindings = new DescriptorSetLayoutBinding[BufferCount + 1];
        bindings[0] = new DescriptorSetLayoutBinding(0, DescriptorType.UniformBuffer, 1, ShaderStageFlags.ComputeBit);
        for (int k = 1; k <= BufferCount; k++)
        {
            bindings[k] = new DescriptorSetLayoutBinding((uint)k, DescriptorType.StorageBuffer, 1, ShaderStageFlags.ComputeBit);
        }

        fixed (DescriptorSetLayoutBinding* b = bindings)
        {
            var info = new DescriptorSetLayoutCreateInfo { SType = StructureType.DescriptorSetLayoutCreateInfo, BindingCount = (uint)bindings.Length, PBindings = b };
            VulkanInstance.Check(vk.CreateDescriptorSetLayout(device, in info, null, out _setLayout), "vkCreateDescriptorSetLayout");
        }

        var setLayout = _setLayout;
        var layoutInfo = new PipelineLayoutCreateInfo { SType = StructureType.PipelineLayoutCreateInfo, SetLayoutCount = 1, PSetLayouts = &setLayout };
        VulkanInstance.Check(vk.CreatePipelineLayout(device, in layoutInfo, null, out _pipelineLayout), "vkCreatePipelineLayout");

        byte* main = stackalloc byte[] { (byte)'m', (byte)'a', (byte)'i', (byte)'n', 0 };
        var pipelineInfo = new ComputePipelineCreateInfo
        {
            SType = StructureType.ComputePipelineCreateInfo,
            Stage = new PipelineShaderStageCreateInfo { SType = StructureType.PipelineShaderStageCreateInfo, Stage = ShaderStageFlags.ComputeBit, Module = _module, PName = main },
            Layout = _pipelineLayout,
        };
        VulkanInstance.Check(vk.CreateComputePipelines(device, default, 1, in pipelineInfo, null, out _pipeline), "vkCreateComputePipelines");
    }

    /// <summary>
    /// Runs the shader over <paramref name="ranges"/> of <paramref name="buffers"/> (register uK is
    /// <c>buffers[K]</c>) and waits for it. <paramref name="uniforms"/> holds one constant buffer of
    /// <see cref="UniformBytes"/> bytes per range, in order; bytes 0…3 of each (<c>uint n</c>) are overwritten with the
    /// chunk's element count. Empty ranges dispatch nothing. Throws <see cref="ArgumentException"/> when the counts do
    /// not match, a range falls outside a buffer, or a range's start is not a multiple of the device's storage offset
    /// alignment (16 floats, the arena's alignment, always is on the devices seen so far).
    /// </summary>
    public void Dispatch(IReadOnlyList<VulkanBuffer> buffers, ReadOnlySpan<VulkanRange> ranges, ReadOnlySpan<byte> uniforms)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(buffers);
        if (buffers.Count != BufferCount)
        {
            throw new ArgumentException($"The kernel binds {BufferCount} storage buffers; {buffers.Count} were given.", nameof(buffers));
        }

        if (uniforms.Length != ranges.Length * UniformBytes)
        {
            throw new ArgumentException($"{ranges.Length} ranges need {ranges.Length} constant buffers of {UniformBytes} bytes ({ranges.Length * UniformBytes} bytes); {uniforms.Length} were given.", nameof(uniforms));
        }

        long alignment = Math.Max(1, _device.StorageOffsetAlignment / sizeof(float));
        for (int k = 0; k < buffers.Count; k++)
        {
            var buffer = buffers[k] ?? throw new ArgumentNullException(nameof(buffers), $"Buffer {k} is null.");
            ObjectDisposedException.ThrowIf(buffer.IsDisposed, buffer);
            if (buffer.Device != _device)
            {
                throw new ArgumentException($"Buffer {k} belongs to another Vulkan device.", nameof(buffers));
            }
        }

        var chunks = new List<Chunk>();
        for (int r = 0; r < ranges.Length; r++)
        {
            var (start, length) = ranges[r];
            if (start < 0 || length < 0 || buffers.Any(b => start + length > b.Length))
            {
                throw new ArgumentException($"Range {r} [{start}, {start + length}) is outside the buffers ({string.Join(", ", buffers.Select(static b => b.Length))} floats).", nameof(ranges));
            }

            if (start % alignment != 0)
            {
                throw new ArgumentException(
                    $"Range {r} starts at element {start}, not a multiple of {alignment} floats (the device's minStorageBufferOffsetAlignment, {_device.StorageOffsetAlignment} bytes).", nameof(ranges));
            }

            for (long done = 0; done < length; done += ChunkLength)
            {
                chunks.Add(new Chunk(r, start + done, Math.Min(ChunkLength, length - done)));
            }
        }

        if (chunks.Count == 0)
        {
            return;
        }

        if (!chunks.SequenceEqual(_chunks) || !SameBuffers(buffers))
        {
            Prepare(buffers, [.. chunks]);
        }

        for (int c = 0; c < _chunks.Length; c++)
        {
            var slot = new Span<byte>(_uniforms!.Mapped + c * _uniformStride, UniformBytes);
            uniforms.Slice(_chunks[c].Range * UniformBytes, UniformBytes).CopyTo(slot);
            BitConverter.TryWriteBytes(slot, (uint)_chunks[c].Length);
        }

        _device.SubmitAndWait(_commands);
        LastGpuTime = _timestamps?.Read();
    }

    private bool SameBuffers(IReadOnlyList<VulkanBuffer> buffers) =>
        _boundBuffers.Length == buffers.Count && _boundBuffers.Select(static b => b.Buffer).SequenceEqual(buffers);

    /// <summary>Allocates one descriptor set and one constant-buffer slot per chunk, and records the command buffer.</summary>
    private void Prepare(IReadOnlyList<VulkanBuffer> buffers, Chunk[] chunks)
    {
        var vk = _device.Vk;
        var device = _device.Handle;
        if (_pool.Handle != 0)
        {
            vk.DestroyDescriptorPool(device, _pool, null);
            _pool = default;
        }

        _chunks = [];
        _boundBuffers = [];
        long alignment = Math.Max(16, _device.UniformOffsetAlignment);
        _uniformStride = (UniformBytes + alignment - 1) / alignment * alignment;
        if (_uniforms is null || _uniforms.Bytes < _uniformStride * chunks.Length)
        {
            _uniforms?.Dispose();
            _uniforms = null;
            _uniforms = _device.CreateUniformBuffer(_uniformStride * chunks.Length);
        }

        var sizes = stackalloc DescriptorPoolSize[2];
        sizes[0] = new DescriptorPoolSize(DescriptorType.UniformBuffer, (uint)chunks.Length);
        sizes[1] = new DescriptorPoolSize(DescriptorType.StorageBuffer, (uint)(chunks.Length * BufferCount));
        var poolInfo = new DescriptorPoolCreateInfo { SType = StructureType.DescriptorPoolCreateInfo, MaxSets = (uint)chunks.Length, PoolSizeCount = 2, PPoolSizes = sizes };
        VulkanInstance.Check(vk.CreateDescriptorPool(device, in poolInfo, null, out _pool), "vkCreateDescriptorPool");

        var layouts = Enumerable.Repeat(_setLayout, chunks.Length).ToArray();
        var sets = new DescriptorSet[chunks.Length];
        fixed (DescriptorSetLayout* l = layouts)
        fixed (DescriptorSet* s = sets)
        {
            var alloc = new DescriptorSetAllocateInfo { SType = StructureType.DescriptorSetAllocateInfo, DescriptorPool = _pool, DescriptorSetCount = (uint)chunks.Length, PSetLayouts = l };
            VulkanInstance.Check(vk.AllocateDescriptorSets(device, in alloc, s), "vkAllocateDescriptorSets");
        }

        var infos = new DescriptorBufferInfo[BufferCount + 1];
        var writes = new WriteDescriptorSet[BufferCount + 1];
        fixed (DescriptorBufferInfo* info = infos)
        fixed (WriteDescriptorSet* write = writes)
        {
            for (int c = 0; c < chunks.Length; c++)
            {
                info[0] = new DescriptorBufferInfo(_uniforms.Handle, (ulong)(c * _uniformStride), (ulong)UniformBytes);
                for (int k = 0; k < BufferCount; k++)
                {
                    info[k + 1] = new DescriptorBufferInfo(buffers[k].Handle, (ulong)(chunks[c].Start * sizeof(float)), (ulong)(chunks[c].Length * sizeof(float)));
                }

                for (int k = 0; k <= BufferCount; k++)
                {
                    write[k] = new WriteDescriptorSet
                    {
                        SType = StructureType.WriteDescriptorSet,
                        DstSet = sets[c],
                        DstBinding = (uint)k,
                        DescriptorCount = 1,
                        DescriptorType = k == 0 ? DescriptorType.UniformBuffer : DescriptorType.StorageBuffer,
                        PBufferInfo = info + k,
                    };
                }

                vk.UpdateDescriptorSets(device, (uint)writes.Length, write, 0, null);
            }
        }

        Record(sets, chunks);
        _chunks = chunks;
        _boundBuffers = [.. buffers.Select(static b => (b, b.Length))];
    }

    private void Record(DescriptorSet[] sets, Chunk[] chunks)
    {
        var vk = _device.Vk;
        var begin = new CommandBufferBeginInfo { SType = StructureType.CommandBufferBeginInfo };
        VulkanInstance.Check(vk.BeginCommandBuffer(_commands, in begin), "vkBeginCommandBuffer");

        // Earlier submissions (uploads, the previous step) and the host's writes happen before this step's reads.
        var before = new MemoryBarrier(StructureType.MemoryBarrier, null, AccessFlags.MemoryWriteBit | AccessFlags.HostWriteBit, AccessFlags.ShaderReadBit | AccessFlags.ShaderWriteBit);
        vk.CmdPipelineBarrier(_commands, PipelineStageFlags.ComputeShaderBit | PipelineStageFlags.TransferBit | PipelineStageFlags.HostBit, PipelineStageFlags.ComputeShaderBit, 0, 1, in before, 0, null, 0, null);
        _timestamps?.Begin(_commands);
        vk.CmdBindPipeline(_commands, PipelineBindPoint.Compute, _pipeline);
        for (int c = 0; c < chunks.Length; c++)
        {
            var set = sets[c];
            vk.CmdBindDescriptorSets(_commands, PipelineBindPoint.Compute, _pipelineLayout, 0, 1, in set, 0, null);
            vk.CmdDispatch(_commands, (uint)((chunks[c].Length + ThreadsPerGroup - 1) / ThreadsPerGroup), 1, 1);
        }

        _timestamps?.End(_commands);

        // The shader's writes are visible to the host (mapped reads) and to later transfers (staging downloads).
        var after = new MemoryBarrier(StructureType.MemoryBarrier, null, AccessFlags.ShaderWriteBit, AccessFlags.HostReadBit | AccessFlags.TransferReadBit | AccessFlags.ShaderReadBit);
        vk.CmdPipelineBarrier(_commands, PipelineStageFlags.ComputeShaderBit, PipelineStageFlags.HostBit | PipelineStageFlags.TransferBit | PipelineStageFlags.ComputeShaderBit, 0, 1, in after, 0, null, 0, null);
        VulkanInstance.Check(vk.EndCommandBuffer(_commands), "vkEndCommandBuffer");
    }

    /// <summary>Destroys the pipeline, its layouts, the shader module, the descriptor pool and the constant buffer.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        if (_device is null || _device.IsDisposed)
        {
            return;
        }

        var vk = _device.Vk;
        var device = _device.Handle;
        vk.DeviceWaitIdle(device);
        if (_commands.Handle != 0)
        {
            _device.FreeCommandBuffer(_commands);
        }

        if (_pool.Handle != 0)
        {
            vk.DestroyDescriptorPool(device, _pool, null);
        }

        _uniforms?.Dispose();
        _timestamps?.Dispose();
        if (_pipeline.Handle != 0)
        {
            vk.DestroyPipeline(device, _pipeline, null);
        }

        if (_pipelineLayout.Handle != 0)
        {
            vk.DestroyPipelineLayout(device, _pipelineLayout, null);
        }

        if (_setLayout.Handle != 0)
        {
            vk.DestroyDescriptorSetLayout(device, _setLayout, null);
        }

        if (_module.Handle != 0)
        {
            vk.DestroyShaderModule(device, _module, null);
        }
    }
}

using System;
using Silk.NET.Vulkan;

namespace FusedOpt.Vulkan;

/// <summary>
/// Two timestamp queries around a stretch of recorded commands: the device's own clock for how long they ran, without
/// the submission and the host's wait. Absent (<see cref="Create"/> returns null) when the compute queue has no
/// timestamps (<c>timestampValidBits</c> = 0).
/// </summary>
internal sealed unsafe class VulkanTimestamps : IDisposable
{
    private readonly VulkanDevice _device;
    private readonly QueryPool _pool;
    private readonly ulong _mask;
    private readonly double _nanosecondsPerTick;

    private VulkanTimestamps(VulkanDevice device, QueryPool pool, int validBits, double nanosecondsPerTick)
    {
        _device = device;
        _pool = pool;
        _mask = validBits >= 64 ? ulong.MaxValue : (1UL << validBits) - 1;
        _nanosecondsPerTick = nanosecondsPerTick;
    }

    public static VulkanTimestamps? Create(VulkanDevice device)
    {
        if (device.TimestampValidBits == 0 || device.Limits.TimestampPeriod <= 0)
        {
            return null;
        }

        var info = new QueryPoolCreateInfo { SType = StructureType.QueryPoolCreateInfo, QueryType = QueryType.Timestamp, QueryCount = 2 };
        VulkanInstance.Check(device.Vk.CreateQueryPool(device.Handle, in info, null, out var pool), "vkCreateQueryPool");
        return new VulkanTimestamps(device, pool, device.TimestampValidBits, device.Limits.TimestampPeriod);
    }

    /// <summary>Records the reset and the first timestamp, after everything before it in the command buffer.</summary>
    public void Begin(CommandBuffer commands)
    {
        _device.Vk.CmdResetQueryPool(commands, _pool, 0, 2);
        _device.Vk.CmdWriteTimestamp(commands, PipelineStageFlags.TopOfPipeBit, _pool, 0);
    }

    /// <summary>Records the second timestamp, when every command before it has finished.</summary>
    public void End(CommandBuffer commands) => _device.Vk.CmdWriteTimestamp(commands, PipelineStageFlags.BottomOfPipeBit, _pool, 1);

    /// <summary>The time between the two, once the submission has finished.</summary>
    public TimeSpan Read()
    {
        var ticks = stackalloc ulong[2];
        VulkanInstance.Check(
            _device.Vk.GetQueryPoolResults(_device.Handle, _pool, 0, 2, 2 * sizeof(ulong), ticks, sizeof(ulong), QueryResultFlags.Result64Bit | QueryResultFlags.ResultWaitBit),
            "vkGetQueryPoolResults");
        ulong elapsed = ((ticks[1] & _mask) - (ticks[0] & _mask)) & _mask;
        return TimeSpan.FromTicks((long)Math.Round(elapsed * _nanosecondsPerTick / 100));
    }

    public void Dispose()
    {
        if (!_device.IsDisposed)
        {
            _device.Vk.DestroyQueryPool(_device.Handle, _pool, null);
        }
    }
}

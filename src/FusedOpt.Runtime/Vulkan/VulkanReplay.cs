using System;
using FusedOpt.Gpu;
using FusedOpt.Kernels;
using FusedOpt.Reference;

namespace FusedOpt.Vulkan;

/// <summary>Replays PyTorch reference trajectories with HLSL step shaders on a Vulkan device.</summary>
internal static class VulkanReplay
{
    /// <summary>
    /// Replays <paramref name="reference"/> on <paramref name="device"/> as <see cref="ReferenceCase.Replay"/> does on
    /// the CPU: each step uploads the gradient, dispatches the shader <paramref name="shaders"/> gives and downloads the
    /// parameters; the trajectory is scored against PyTorch's with the shared tolerance. The result's
    /// <see cref="ReplayResult.Device"/> names the device; its <see cref="ReplayResult.Isa"/> is <see cref="Isa.Scalar"/>
    /// (one element per thread). Throws <see cref="Gpu.DeviceUnavailableException"/> when there is no shader for the optimizer.
    /// </summary>
    public static ReplayResult ReplayOnVulkan(this ReferenceCase reference, VulkanDevice device, Func<IOptimizerRule, int, HlslShader?> shaders,
        OptimizerOptions? options = null, IOptimizerRule? rule = null, ShaderCompiler? compiler = null)
    {
        ArgumentNullException.ThrowIfNull(reference);
        ArgumentNullException.ThrowIfNull(device);
        return reference.ReplayWith(rule ?? reference.CreateRule(), device.Info.Name, (arena, r) => new VulkanOptimizer(device, arena, r, shaders, options, compiler));
    }
}

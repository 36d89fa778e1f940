using System;
using FusedOpt.Kernels;
using FusedOpt.Memory;
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
        rule ??= reference.CreateRule();
        using var arena = new ParameterArena();
        var tensor = arena.Add("x", reference.Initial.Length);
        arena.Build();
        reference.Initial.CopyTo(arena.Param(tensor));
        using var optimizer = new VulkanOptimizer(device, arena, rule, shaders, options, compiler);
        var trajectory = new float[reference.Gradients.Length][];
        for (int s = 0; s < reference.Gradients.Length; s++)
        {
            reference.Gradients[s].CopyTo(arena.Grad(tensor));
            optimizer.UploadGradients();
            optimizer.Step();
            optimizer.DownloadParameters();
            trajectory[s] = arena.Param(tensor).ToArray();
        }

        return reference.Score(optimizer.Descriptor.Name, Isa.Scalar, trajectory) with { Device = device.Info.Name };
    }
}

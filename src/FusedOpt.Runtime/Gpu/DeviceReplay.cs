using System;
using FusedOpt.Kernels;
using FusedOpt.Memory;
using FusedOpt.Reference;
using ILGPU.Runtime;

namespace FusedOpt.Gpu;

/// <summary>Replays PyTorch reference trajectories with the generated GPU kernels.</summary>
internal static class DeviceReplay
{
    /// <summary>
    /// Replays <paramref name="reference"/> on <paramref name="accelerator"/> as <see cref="ReferenceCase.Replay"/> does
    /// on the CPU: each step uploads the gradient, launches the kernel and downloads the parameters, then the trajectory
    /// is scored against PyTorch's with the shared tolerance. The result's <see cref="ReplayResult.Device"/> names the
    /// accelerator; its <see cref="ReplayResult.Isa"/> is <see cref="Isa.Scalar"/> (one element per thread).
    /// </summary>
    public static ReplayResult ReplayOnDevice(this ReferenceCase reference, Accelerator accelerator, OptimizerOptions? options = null, IOptimizerRule? rule = null)
    {
        ArgumentNullException.ThrowIfNull(reference);
        ArgumentNullException.ThrowIfNull(accelerator);
        rule ??= reference.CreateRule();
        using var arena = new ParameterArena();
        var tensor = arena.Add("x", reference.Initial.Length);
        arena.Build();
        reference.Initial.CopyTo(arena.Param(tensor));
        using var optimizer = new DeviceOptimizer(accelerator, arena, rule, options);
        var trajectory = new float[reference.Gradients.Length][];
        for (int s = 0; s < reference.Gradients.Length; s++)
        {
            reference.Gradients[s].CopyTo(arena.Grad(tensor));
            optimizer.UploadGradients();
            optimizer.Step();
            optimizer.DownloadParameters();
            trajectory[s] = arena.Param(tensor).ToArray();
        }

        return reference.Score(optimizer.Descriptor.Name, Isa.Scalar, trajectory) with { Device = accelerator.Name };
    }
}

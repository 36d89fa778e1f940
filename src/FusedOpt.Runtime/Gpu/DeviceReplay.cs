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
        return reference.ReplayWith(rule ?? reference.CreateRule(), accelerator.Name, (arena, r) => new DeviceOptimizer(accelerator, arena, r, options));
    }

    /// <summary>
    /// The replay loop every device shares: one tensor of the case's length, then per step the gradient uploaded, one
    /// step, the parameters downloaded; scored against PyTorch's trajectory with the shared tolerance.
    /// </summary>
    internal static ReplayResult ReplayWith(this ReferenceCase reference, IOptimizerRule rule, string device, Func<ParameterArena, IOptimizerRule, IDeviceSteps> open)
    {
        using var arena = new ParameterArena();
        var tensor = arena.Add("x", reference.Initial.Length);
        arena.Build();
        reference.Initial.CopyTo(arena.Param(tensor));
        using var optimizer = open(arena, rule);
        var trajectory = new float[reference.Gradients.Length][];
        for (int s = 0; s < reference.Gradients.Length; s++)
        {
            reference.Gradients[s].CopyTo(arena.Grad(tensor));
            optimizer.UploadGradients();
            optimizer.Step();
            optimizer.DownloadParameters();
            trajectory[s] = arena.Param(tensor).ToArray();
        }

        return reference.Score(optimizer.Descriptor.Name, Isa.Scalar, trajectory) with { Device = device };
    }
}

/// <summary>What a replay needs from a device executor: gradients up, one step, parameters down.</summary>
internal interface IDeviceSteps : IDisposable
{
    /// <summary>The optimizer being stepped.</summary>
    OptimizerDescriptor Descriptor { get; }

    /// <summary>Copies the arena's gradients to the device.</summary>
    void UploadGradients();

    /// <summary>One step on the device.</summary>
    StepResult Step(double lossScale = 1);

    /// <summary>Copies the device's parameters into the arena.</summary>
    void DownloadParameters();
}

using System;
using FusedOpt.Gpu;
using FusedOpt.Memory;
using FusedOpt.Optimizers;
using Xunit;

namespace FusedOpt.Tests;

/// <summary>The device path shares the optimizer core: a hyperparameter set every step reaches its kernel as on the CPU.</summary>
[Collection(IlgpuCpuCollection.Name)]
public sealed class GpuHyperparameterTests(IlgpuCpuFixture fixture)
{
    [Fact]
    public void LrSetEveryStep_AndAmsgradSwitchedOn_MatchCpuFused()
    {
        var (p, grads) = TestData.Inputs(777, 6, seed: 5);
        using var arena = new ParameterArena();
        var x = arena.Add("x", [400], group: 0);
        var y = arena.Add("y", [377], group: 1);
        arena.Build();

        void Load(int s)
        {
            grads[s].AsSpan(0, 400).CopyTo(arena.Grad(x));
            grads[s].AsSpan(400).CopyTo(arena.Grad(y));
        }

        p.AsSpan(0, 400).CopyTo(arena.Param(x));
        p.AsSpan(400).CopyTo(arena.Param(y));
        float[] cpu;
        using (var optimizer = new Optimizer(arena, new Adam(Lr: 1e-2f)))
        {
            var lr = optimizer.Hyperparameter("lr");
            for (int s = 0; s < grads.Length; s++)
            {
                lr.Set(1e-2 / (s + 1));
                if (s == 3)
                {
                    optimizer.SetHyperparameter("amsgrad", 1, group: 1);
                }

                Load(s);
                optimizer.Step();
            }

            cpu = [.. arena.Param(x).ToArray(), .. arena.Param(y).ToArray()];
        }

        p.AsSpan(0, 400).CopyTo(arena.Param(x));
        p.AsSpan(400).CopyTo(arena.Param(y));
        using var device = new DeviceOptimizer(fixture.Accelerator, arena, new Adam(Lr: 1e-2f));
        device.UploadParameters();
        var deviceLr = device.Hyperparameter("lr");
        for (int s = 0; s < grads.Length; s++)
        {
            deviceLr.Set(1e-2 / (s + 1));
            if (s == 3)
            {
                device.SetHyperparameter("amsgrad", 1, group: 1);
            }

            Load(s);
            device.UploadGradients();
            device.Step();
        }

        device.DownloadParameters();
        float[] gpu = [.. arena.Param(x).ToArray(), .. arena.Param(y).ToArray()];

        GpuTestData.AssertClose(cpu, gpu, 0, "lr set every step, AMSGrad from step 4 in group 1");
        Assert.NotNull(device.GetState(2));
        Assert.Equal(1, device.GetHyperparameter("amsgrad", 1));
        Assert.Equal(0, device.GetHyperparameter("amsgrad", 0));
        Assert.Equal((double)(float)(1e-2 / grads.Length), device.GetHyperparameter("lr"));
    }
}

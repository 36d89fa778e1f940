using System;
using System.Linq;
using FusedOpt.Gpu;
using FusedOpt.Memory;
using FusedOpt.Optimizers;
using Xunit;

namespace FusedOpt.Tests;

/// <summary>
/// Skip-on-non-finite on the device: one float64 reduction of the device gradients, read once, decides the step as
/// on the CPU. A skipped step touches no parameter, state, per-step state or step count, and the run then goes on
/// exactly as the CPU path does.
/// </summary>
[Collection(IlgpuCpuCollection.Name)]
public sealed class GpuSkipNonFiniteTests(IlgpuCpuFixture fixture)
{
    [Theory]
    [InlineData(float.NaN, 0)]
    [InlineData(float.PositiveInfinity, 1000)]
    [InlineData(float.NegativeInfinity, 1036)]
    public void NonFiniteGradient_SkipsTheStep_OnTheDevice_AndTouchesNothing(float bad, int index)
    {
        // Two groups; the bad element is in group 0 (index 0), at its last element (1000) or in group 1 (1036).
        var (p, grads) = TestData.Inputs(1037, 4, seed: 9);
        using var arena = new ParameterArena();
        var x = arena.Add("x", [1001], group: 0);
        var y = arena.Add("y", [36], group: 1);
        arena.Build();
        void Load(float[] source, Span<float> a, Span<float> b)
        {
            source.AsSpan(0, 1001).CopyTo(a);
            source.AsSpan(1001).CopyTo(b);
        }

        Load(p, arena.Param(x), arena.Param(y));
        var options = new OptimizerOptions { SkipNonFinite = true };
        using var device = new DeviceOptimizer(fixture.Accelerator, arena, [new NAdam(), new NAdam(Lr: 1e-3f)], options);
        using var host = new Optimizer(arena, [new NAdam(), new NAdam(Lr: 1e-3f)]);
        Load(grads[0], arena.Grad(x), arena.Grad(y));
        device.UploadGradients();
        device.Step();
        device.DownloadTo(host);
        var before = arena.Params.Span.ToArray();
        var m = host.GetState(0)!.Span.ToArray();
        double muProduct = device.GetStepStates()[0];

        Load(grads[1], arena.Grad(x), arena.Grad(y));
        (index < 1001 ? arena.Grad(x) : arena.Grad(y))[index < 1001 ? index : index - 1001] = bad;
        device.UploadGradients();
        var result = device.Step();
        device.DownloadTo(host);

        Assert.True(result.Skipped);
        Assert.Equal(0, result.GradScale);
        Assert.Equal(1, device.GetStepCount(0));
        Assert.Equal(1, device.GetStepCount(1));
        Assert.Equal(muProduct, device.GetStepStates()[0]);
        TestData.AssertBitwiseEqual(before, arena.Params.Span, "params");
        TestData.AssertBitwiseEqual(m, host.GetState(0)!.Span, "m");
    }

    [Fact]
    public void SkippedSteps_ThenFiniteOnes_FollowTheCpuPathBitwise()
    {
        var (p, grads) = TestData.Inputs(2049, 6, seed: 4);
        grads[1][17] = float.NaN;
        grads[4][2048] = float.PositiveInfinity;
        var options = new OptimizerOptions { SkipNonFinite = true };
        var rule = new Adam(Amsgrad: true);

        using var arena = new ParameterArena();
        var x = arena.Add("x", p.Length);
        arena.Build();
        p.CopyTo(arena.Param(x));
        using var device = new DeviceOptimizer(fixture.Accelerator, arena, rule, options);
        var skipped = grads.Select(g =>
        {
            g.CopyTo(arena.Grad(x));
            device.UploadGradients();
            return device.Step().Skipped;
        }).ToArray();
        device.DownloadParameters();
        var onDevice = arena.Param(x).ToArray();

        var cpu = TestData.Run(rule, p, grads, options);

        Assert.Equal([false, true, false, false, true, false], skipped);
        Assert.Equal(4, device.GetStepCount());
        TestData.AssertBitwiseEqual(cpu.Params, onDevice, "after skips");
    }

    [Fact]
    public void WithoutSkipNonFinite_TheNaNReachesTheParameter_AsOnTheCpu()
    {
        var (p, grads) = TestData.Inputs(33, 1);
        grads[0][5] = float.NaN;

        var cpu = TestData.Run(new Sgd(), p, grads, new OptimizerOptions());
        var gpu = GpuTestData.RunOnDevice(fixture.Accelerator, new Sgd(), p, grads);

        Assert.True(float.IsNaN(cpu.Params[5]));
        Assert.True(float.IsNaN(gpu.Params[5]));
        TestData.AssertBitwiseEqual(cpu.Params, gpu.Params, "NaN propagated");
    }
}

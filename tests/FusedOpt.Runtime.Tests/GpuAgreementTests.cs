using System;
using System.Collections.Generic;
using System.Linq;
using FusedOpt.Gpu;
using FusedOpt.Kernels;
using FusedOpt.Memory;
using FusedOpt.Optimizers;
using Xunit;

namespace FusedOpt.Tests;

/// <summary>
/// The generated GPU kernel on ILGPU's CPU accelerator against the CPU fused path, on every optimizer and switch
/// combination, at odd lengths, with parameter groups, several tensors, both sweeps, loss scaling, clipping and rule
/// changes. On this accelerator the kernel runs as .NET code doing the same float operations in the same order as
/// the fused kernels, so the bits agree and the tests ask for bitwise equality (where the clipping coefficient comes
/// from a differently ordered reduction they allow 1e-6). A real GPU may contract a·b + c into one FMA, so
/// <see cref="GpuCudaTests"/> holds CUDA to the shared reference tolerance instead.
/// </summary>
[Collection(IlgpuCpuCollection.Name)]
public sealed class GpuAgreementTests(IlgpuCpuFixture fixture)
{
    public static readonly int[] Lengths = [0, 1, 17, 1000, 4099];

    public static IEnumerable<TheoryDataRow<string, int>> Configurations() => TestData.ConfigurationRows();

    [Theory]
    [MemberData(nameof(Configurations))]
    public void EveryConfiguration_MatchesCpuFused_Bitwise_OnOddLengths(string name, int configuration)
    {
        var rule = OptimizerCatalog.Create(name, TestData.Configurations[name][configuration]);
        foreach (int length in Lengths)
        {
            // Enough steps for step-dependent switches (SGD's first step, RAdam's ρₜ > 5).
            var (p, grads) = TestData.Inputs(length, 8, seed: length);
            var cpu = TestData.Run(rule, p, grads, new OptimizerOptions { Threads = 2 });
            var gpu = GpuTestData.RunOnDevice(fixture.Accelerator, rule, p, grads);

            GpuTestData.AssertClose(cpu, gpu, 0, $"{name}#{configuration} n={length}");
        }
    }

    [Theory]
    [InlineData("adam", 1)]
    [InlineData("lion", 1)]
    public void LargeOddLength_MatchesCpuFused_Bitwise(string name, int configuration)
    {
        var rule = OptimizerCatalog.Create(name, TestData.Configurations[name][configuration]);
        var (p, grads) = TestData.Inputs(1_000_003, 2, seed: 3);

        var cpu = TestData.Run(rule, p, grads, new OptimizerOptions { Threads = 2 });
        var gpu = GpuTestData.RunOnDevice(fixture.Accelerator, rule, p, grads);

        GpuTestData.AssertClose(cpu, gpu, 0, $"{name}#{configuration} n=1000003");
    }

    [Theory]
    [InlineData(SweepMode.Arena)]
    [InlineData(SweepMode.PerTensor)]
    public void Groups_AndTensors_MatchCpuFused_Bitwise(SweepMode sweep)
    {
        // Three groups of odd-sized tensors with their own hyperparameters; Amsgrad only in group 2 (vMax is
        // allocated for the whole arena, used by group 2 alone).
        using var arena = new ParameterArena();
        var tensors = new List<TensorSlot>();
        for (int i = 0; i < 7; i++)
        {
            tensors.Add(arena.Add($"t{i}", [(37 * i) + 3], group: i % 3));
        }

        arena.Build();
        IOptimizerRule[] rules = [new Adam(Lr: 1e-2f), new Adam(Lr: 1e-3f, WeightDecay: 0.1f), new Adam(Lr: 3e-3f, Amsgrad: true)];
        var (p, grads) = TestData.Inputs((int)arena.Length, 5, seed: 7);
        var options = new OptimizerOptions { Sweep = sweep };

        p.CopyTo(arena.Params.Span);
        using (var device = new DeviceOptimizer(fixture.Accelerator, arena, rules, options))
        {
            foreach (var g in grads)
            {
                g.CopyTo(arena.Grads.Span);
                device.UploadGradients();
                device.Step();
            }

            device.DownloadParameters();
        }

        var onDevice = tensors.Select(t => arena.Param(t).ToArray()).ToList();

        p.CopyTo(arena.Params.Span);
        using (var cpu = new Optimizer(arena, rules, options with { Threads = 2 }))
        {
            foreach (var g in grads)
            {
                g.CopyTo(arena.Grads.Span);
                cpu.Step();
            }
        }

        for (int i = 0; i < tensors.Count; i++)
        {
            GpuTestData.AssertClose(arena.Param(tensors[i]), onDevice[i], 0, $"{sweep} {tensors[i]}");
        }
    }

    [Fact]
    public void LossScale_MatchesCpuFused_Bitwise()
    {
        var rule = OptimizerCatalog.Create("adabelief", TestData.Configurations["adabelief"][1]);
        var (p, grads) = TestData.Inputs(1037, 4);
        var scaled = grads.Select(static g => g.Select(static x => x * 8f).ToArray()).ToArray();

        var cpu = TestData.Run(rule, p, scaled, new OptimizerOptions(), lossScale: 8);
        var gpu = GpuTestData.RunOnDevice(fixture.Accelerator, rule, p, scaled, lossScale: 8);

        GpuTestData.AssertClose(cpu, gpu, 0, "loss scale 8");
    }

    [Fact]
    public void Clipping_MatchesCpuFused_AndReportsTheSameNorm()
    {
        var (p, grads) = TestData.Inputs(100_003, 3, seed: 11);
        using var arena = new ParameterArena();
        var x = arena.Add("x", p.Length);
        arena.Build();
        var options = new OptimizerOptions { MaxGradNorm = 1.0, SkipNonFinite = true };

        p.CopyTo(arena.Param(x));
        var deviceResults = new List<StepResult>();
        using (var device = new DeviceOptimizer(fixture.Accelerator, arena, new Sgd(Lr: 0.1f, Momentum: 0.9f), options))
        {
            foreach (var g in grads)
            {
                g.CopyTo(arena.Grad(x));
                device.UploadGradients();
                deviceResults.Add(device.Step(lossScale: 4));
            }

            device.DownloadParameters();
        }

        var onDevice = arena.Param(x).ToArray();
        p.CopyTo(arena.Param(x));
        using var cpu = new Optimizer(arena, new Sgd(Lr: 0.1f, Momentum: 0.9f), options with { Threads = 2 });
        for (int s = 0; s < grads.Length; s++)
        {
            grads[s].CopyTo(arena.Grad(x));
            var expected = cpu.Step(lossScale: 4);
            Assert.False(deviceResults[s].Skipped);
            Assert.Equal(expected.StepCount, deviceResults[s].StepCount);
            Assert.Equal(expected.GradNorm!.Value, deviceResults[s].GradNorm!.Value, expected.GradNorm.Value * 1e-12);
            Assert.True(expected.GradScale < 0.25, $"the case must clip: scale {expected.GradScale}");
            Assert.Equal(expected.GradScale, deviceResults[s].GradScale, expected.GradScale * 1e-12);
        }

        GpuTestData.AssertClose(arena.Param(x), onDevice, 1e-6, "clipped");
    }

    [Fact]
    public void GradSumOfSquares_IsDeterministic_AndMatchesTheCpu()
    {
        var (p, grads) = TestData.Inputs(300_007, 1, seed: 5);
        using var arena = new ParameterArena();
        var x = arena.Add("x", p.Length);
        arena.Build();
        grads[0].CopyTo(arena.Grad(x));
        using var device = new DeviceOptimizer(fixture.Accelerator, arena, new Sgd());
        using var cpu = new Optimizer(arena, new Sgd());

        double first = device.GradSumOfSquares();
        double second = device.GradSumOfSquares();
        double expected = cpu.GradSumOfSquares();

        Assert.Equal(BitConverter.DoubleToInt64Bits(first), BitConverter.DoubleToInt64Bits(second));
        Assert.Equal(expected, first, expected * 1e-12);
        Assert.Null(device.Step().GradNorm);   // without SkipNonFinite or MaxGradNorm a step computes no norm, as on the CPU
        Assert.Null(cpu.Step().GradNorm);
    }

    [Fact]
    public void SetRule_MidRun_AllocatesNewStates_AndMatchesCpuFused()
    {
        var (p, grads) = TestData.Inputs(999, 6, seed: 2);
        using var arena = new ParameterArena();
        var x = arena.Add("x", [500], group: 0);
        var y = arena.Add("y", [499], group: 1);
        arena.Build();

        float[] Run(Func<IOptimizerRule[], IStepper> create)
        {
            p.AsSpan(0, 500).CopyTo(arena.Param(x));
            p.AsSpan(500).CopyTo(arena.Param(y));
            var stepper = create([new Adam(), new Adam(Lr: 1e-2f)]);
            try
            {
                for (int s = 0; s < grads.Length; s++)
                {
                    if (s == 3)
                    {
                        stepper.SetRule(1, new Adam(Lr: 5e-3f, Amsgrad: true, WeightDecay: 0.01f));
                    }

                    grads[s].AsSpan(0, 500).CopyTo(arena.Grad(x));
                    grads[s].AsSpan(500).CopyTo(arena.Grad(y));
                    stepper.Step();
                }

                return [.. arena.Param(x).ToArray(), .. arena.Param(y).ToArray()];
            }
            finally
            {
                stepper.Dispose();
            }
        }

        var cpu = Run(rules => new CpuStepper(new Optimizer(arena, rules)));
        var gpu = Run(rules => new DeviceStepper(new DeviceOptimizer(fixture.Accelerator, arena, rules)));

        GpuTestData.AssertClose(cpu, gpu, 0, "SetRule at step 4");
    }

    [Fact]
    public void StepsAreQueued_AndTheHostCopyChangesOnlyOnDownload()
    {
        var (p, grads) = TestData.Inputs(64, 1);
        using var arena = new ParameterArena();
        var x = arena.Add("x", 64);
        arena.Build();
        p.CopyTo(arena.Param(x));
        grads[0].CopyTo(arena.Grad(x));
        using var device = new DeviceOptimizer(fixture.Accelerator, arena, new Sgd(Lr: 0.5f));

        device.Step();
        device.Synchronize();
        TestData.AssertBitwiseEqual(p, arena.Param(x), "host copy before download");
        device.DownloadParameters();

        Assert.NotEqual(p[0], arena.Param(x)[0]);
        Assert.Equal(1, device.GetStepCount());
        using var adam = new DeviceOptimizer(fixture.Accelerator, arena, new Adam());
        Assert.Equal(28, adam.BytesPerParameter);
    }

    private interface IStepper : IDisposable
    {
        void SetRule(int group, IOptimizerRule rule);

        void Step();
    }

    private sealed class CpuStepper(Optimizer optimizer) : IStepper
    {
        public void SetRule(int group, IOptimizerRule rule) => optimizer.SetRule(group, rule);

        public void Step() => optimizer.Step();

        public void Dispose() => optimizer.Dispose();
    }

    private sealed class DeviceStepper(DeviceOptimizer optimizer) : IStepper
    {
        public void SetRule(int group, IOptimizerRule rule) => optimizer.SetRule(group, rule);

        public void Step()
        {
            optimizer.UploadGradients();
            optimizer.Step();
            optimizer.DownloadParameters();
        }

        public void Dispose() => optimizer.Dispose();
    }
}

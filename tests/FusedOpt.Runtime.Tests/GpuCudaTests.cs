using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using FusedOpt.Gpu;
using FusedOpt.Memory;
using FusedOpt.Optimizers;
using FusedOpt.Reference;
using Xunit;

namespace FusedOpt.Tests;

/// <summary>
/// The same checks on a real GPU (CUDA, and OpenCL when an ICD is installed): every configuration against the CPU
/// fused path within the shared tolerance (1e-4; the GPU compiler may fuse a·b + c into one FMA, so the bits can
/// differ), every PyTorch reference case, and the gradient reduction, whose fixed order gives the same bits as on the
/// CPU accelerator. Each test skips with a message when its device is absent.
/// </summary>
[Collection(IlgpuCpuCollection.Name)]
public sealed class GpuCudaTests(IlgpuCpuFixture fixture)
{
    public static TheoryData<DeviceKind> RealGpus() => new(DeviceKind.Cuda, DeviceKind.OpenCL);

    [Theory]
    [MemberData(nameof(RealGpus))]
    public void EveryConfiguration_MatchesCpuFused_WithinTolerance(DeviceKind kind)
    {
        using var session = OpenOrSkip(kind);
        foreach (var (name, configurations) in TestData.Configurations)
        {
            foreach (var hyperparameters in configurations)
            {
                var rule = OptimizerCatalog.Create(name, hyperparameters);
                foreach (int length in new[] { 1, 17, 1000, 1_000_003 })
                {
                    var (p, grads) = TestData.Inputs(length, length > 100_000 ? 3 : 8, seed: length);
                    var cpu = TestData.Run(rule, p, grads, new OptimizerOptions { Threads = 2 });
                    var gpu = GpuTestData.RunOnDevice(session.Accelerator, rule, p, grads);

                    GpuTestData.AssertClose(cpu, gpu, ReferenceCase.Tolerance, $"{session.Info.Name}: {name} {string.Join(",", hyperparameters)} n={length}");
                }
            }
        }
    }

    [Theory]
    [MemberData(nameof(RealGpus))]
    public void EveryReferenceCase_MatchesPyTorch(DeviceKind kind)
    {
        SharedData.RequireDirectory(SharedData.ReferenceOptimizers, "Reference trajectories");
        using var session = OpenOrSkip(kind);
        var failures = new List<string>();
        foreach (var file in Directory.GetFiles(SharedData.ReferenceOptimizers, "*.json").Order())
        {
            var result = ReferenceCase.Load(file).ReplayOnDevice(session.Accelerator);
            if (!result.Passed)
            {
                failures.Add(result.Describe());
            }
        }

        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    [Theory]
    [MemberData(nameof(RealGpus))]
    public void GradSumOfSquares_HasTheSameBits_AsOnTheCpuAccelerator(DeviceKind kind)
    {
        using var session = OpenOrSkip(kind);
        var (_, grads) = TestData.Inputs(3_000_017, 1, seed: 8);
        using var arena = new ParameterArena();
        var x = arena.Add("x", grads[0].Length);
        arena.Build();
        grads[0].AsSpan().CopyTo(arena.Grad(x));
        using var onGpu = new DeviceOptimizer(session.Accelerator, arena, new Sgd());
        using var onCpu = new DeviceOptimizer(fixture.Accelerator, arena, new Sgd());

        Assert.Equal(onCpu.GradSumOfSquares(), onGpu.GradSumOfSquares());
    }

    private static DeviceSession OpenOrSkip(DeviceKind kind)
    {
        var report = GpuDevices.Discover();
        if (!report.Devices.Any(d => d.Device.Kind == kind))
        {
            Assert.Skip($"No {DeviceSpec.DisplayName(kind)} device here (present: {string.Join(", ", report.Devices.Select(static d => d.Device))}); this test runs on a machine with one.");
        }

        return GpuDevices.Open(new DeviceSpec(kind));
    }
}

using System;
using System.Collections.Generic;
using FusedOpt.Gpu;
using FusedOpt.Memory;
using ILGPU.Runtime;
using Xunit;

namespace FusedOpt.Tests;

/// <summary>
/// One ILGPU CPU accelerator shared by every GPU test: opening it compiles nothing, but each kernel compiles once per
/// accelerator, and the accelerator's emulated lanes are OS threads, so the GPU tests run one at a time in this
/// collection rather than beside each other on a 2-core runner.
/// </summary>
[CollectionDefinition(Name)]
public sealed class IlgpuCpuCollection : ICollectionFixture<IlgpuCpuFixture>
{
    public const string Name = "ILGPU CPU accelerator";
}

/// <summary>The shared ILGPU CPU accelerator.</summary>
public sealed class IlgpuCpuFixture : IDisposable
{
    public DeviceSession Session { get; } = GpuDevices.Open(new DeviceSpec(DeviceKind.IlgpuCpu));

    public Accelerator Accelerator => Session.Accelerator;

    public void Dispose() => Session.Dispose();
}

/// <summary>Runs the same steps on the device and on the CPU fused path and compares, with evidence on failure.</summary>
internal static class GpuTestData
{
    /// <summary>Runs <paramref name="grads"/> on one tensor on the device; returns the final parameters and states.</summary>
    public static (float[] Params, float[]?[] States) RunOnDevice(Accelerator accelerator, IOptimizerRule rule, float[] initial, float[][] grads,
        OptimizerOptions? options = null, double lossScale = 1)
    {
        using var arena = new ParameterArena();
        var x = arena.Add("x", initial.Length);
        arena.Build();
        initial.CopyTo(arena.Param(x));
        using var device = new DeviceOptimizer(accelerator, arena, rule, options);
        foreach (var g in grads)
        {
            g.CopyTo(arena.Grad(x));
            device.UploadGradients();
            device.Step(lossScale);
        }

        using var host = new Optimizer(arena, rule);
        device.DownloadTo(host);
        var states = new float[]?[rule.Descriptor.States.Count];
        for (int s = 0; s < states.Length; s++)
        {
            states[s] = host.GetState(s) is { } b ? b.Slice(0, initial.Length).ToArray() : null;
        }

        return (arena.Param(x).ToArray(), states);
    }

    /// <summary>
    /// Asserts max |expected − actual| / (|expected| + 1e-3) ≤ <paramref name="tolerance"/>, printing the worst error and
    /// the first few elements beyond it with index, expected and actual.
    /// </summary>
    public static void AssertClose(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, double tolerance, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        double worst = 0;
        int worstIndex = -1;
        var mismatches = new List<string>();
        for (int i = 0; i < expected.Length; i++)
        {
            double error = Math.Abs((double)expected[i] - actual[i]) / (Math.Abs((double)expected[i]) + 1e-3);
            if (double.IsNaN(error))
            {
                error = float.IsNaN(expected[i]) && float.IsNaN(actual[i]) ? 0 : double.PositiveInfinity;
            }

            if (error > worst)
            {
                worst = error;
                worstIndex = i;
            }

            if (error > tolerance && mismatches.Count < 5)
            {
                mismatches.Add($"[{i}] expected {expected[i]:R} got {actual[i]:R}");
            }
        }

        Assert.True(mismatches.Count == 0, $"{what}: max relative error {worst:E3} at [{worstIndex}] > {tolerance:E1}; {string.Join("; ", mismatches)}");
    }

    /// <summary>Compares parameters and every state.</summary>
    public static void AssertClose((float[] Params, float[]?[] States) expected, (float[] Params, float[]?[] States) actual, double tolerance, string what)
    {
        AssertClose(expected.Params, actual.Params, tolerance, what + " params");
        for (int s = 0; s < expected.States.Length; s++)
        {
            Assert.True((expected.States[s] is null) == (actual.States[s] is null), $"{what}: state {s} allocated on one path only.");
            if (expected.States[s] is { } e)
            {
                AssertClose(e, actual.States[s], tolerance, $"{what} state {s}");
            }
        }
    }
}

using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using FusedOpt.Gpu;
using FusedOpt.Memory;
using FusedOpt.Reference;
using FusedOpt.Vulkan;
using Xunit;

namespace FusedOpt.Tests.Vulkan;

/// <summary>
/// <see cref="VulkanOptimizer"/> on Vulkan device 0 (lavapipe here) with the shaders of <see cref="ShaderSource"/>:
/// the PyTorch reference trajectories within the shared tolerance, agreement with the CPU fused path at odd lengths,
/// the gradient policy (clipping, skipping) and state files both ways. Each needs the device and glslang: without
/// them it skips, under <c>CI=true</c> it fails.
/// </summary>
[Collection(VulkanCollection.Name)]
public sealed class VulkanOptimizerTests(VulkanFixture fixture)
{
    /// <summary>The shaders under test: the generated ones, as <c>replay</c> and <c>bench step --device vulkan</c> use them.</summary>
    private static readonly Func<IOptimizerRule, int, HlslShader?> ShaderSource = VulkanShaders.Default;

    /// <summary>Allowed distance in units in the last place from the CPU fused path (the device may contract a·b + c into one FMA).</summary>
    private const int Ulps = 4;

    /// <summary>(optimizer, case) for every reference case: every one must have a shader.</summary>
    public static IEnumerable<TheoryDataRow<string, string>> ReferenceCases()
    {
        foreach (string name in ReferenceTrajectoryTests.CaseNames())
        {
            string path = Path.Combine(SharedData.ReferenceOptimizers, name + ".json");
            yield return new TheoryDataRow<string, string>(File.Exists(path) ? ReferenceCase.Load(path).CreateRule().Descriptor.Name : "(none)", name);
        }
    }

    /// <summary>Every configuration of every library and test optimizer (<see cref="TestData.Configurations"/>) at odd lengths.</summary>
    public static IEnumerable<TheoryDataRow<string, int, int>> CatalogueRows()
    {
        foreach (var row in TestData.ConfigurationRows())
        {
            var (name, configuration) = row.Data;
            foreach (int length in new[] { 1, 257, 10_007 })
            {
                yield return new TheoryDataRow<string, int, int>(name, configuration, length);
            }
        }
    }

    /// <summary>Rules (by a label) that exercise every switch of the hand-written shaders.</summary>
    public static IEnumerable<TheoryDataRow<string, int>> AgreementRules()
    {
        foreach (string label in Rules.Keys)
        {
            foreach (int length in new[] { 1, 257, 100_003 })
            {
                yield return new TheoryDataRow<string, int>(label, length);
            }
        }
    }

    private static readonly Dictionary<string, Func<IOptimizerRule>> Rules = new()
    {
        ["sgd momentum dampening wd"] = static () => new Optimizers.Sgd(Lr: 0.05f, Momentum: 0.9f, Dampening: 0.3f, WeightDecay: 0.01f),
        ["sgd nesterov"] = static () => new Optimizers.Sgd(Lr: 0.05f, Momentum: 0.8f, Nesterov: true),
        ["sgd plain"] = static () => new Optimizers.Sgd(Lr: 0.1f),
        ["adam wd"] = static () => new Optimizers.Adam(Lr: 3e-3f, Beta1: 0.85f, Beta2: 0.99f, WeightDecay: 0.02f),
        ["adam amsgrad"] = static () => new Optimizers.Adam(Lr: 1e-2f, Amsgrad: true),
    };

    [Theory]
    [MemberData(nameof(ReferenceCases))]
    public void Replay_OnVulkan_MatchesPyTorch(string optimizer, string name)
    {
        SharedData.RequireDirectory(SharedData.ReferenceOptimizers, "Reference trajectories");
        var reference = ReferenceCase.Load(Path.Combine(SharedData.ReferenceOptimizers, name + ".json"));
        var device = Device();

        var result = reference.ReplayOnVulkan(device, ShaderSource, compiler: fixture.Compiler);

        Assert.Equal(optimizer, result.Optimizer);
        Assert.True(result.Passed, result.Describe());
        Assert.Equal(device.Info.Name, result.Device);
    }

    [Theory]
    [MemberData(nameof(CatalogueRows))]
    public void GeneratedShader_EveryConfiguration_AgreesWithCpuFusedPathWithinUlps(string name, int configuration, int length)
    {
        var rule = OptimizerCatalog.Create(name, TestData.Configurations[name][configuration]);
        // Enough steps for step-dependent switches (SGD's first step, RAdam's ρₜ > 5); the last one loss-scaled.
        var (initial, grads) = TestData.Inputs(length, 8, seed: length);
        var cpu = RunCpu(rule, initial, grads, new OptimizerOptions());
        var (p, states) = RunVulkan(rule, initial, grads, new OptimizerOptions(), ShaderSource);

        AssertWithinUlps(cpu.Params, p, $"{name}#{configuration} parameters at length {length}");
        for (int s = 0; s < states.Length; s++)
        {
            Assert.Equal(cpu.States[s] is null, states[s] is null);
            if (states[s] is { } state)
            {
                AssertWithinUlps(cpu.States[s]!, state, $"{name}#{configuration} state {rule.Descriptor.States[s].Name} at length {length}");
            }
        }
    }

    [Theory]
    [MemberData(nameof(AgreementRules))]
    public void HandWrittenShader_AtOddLengths_AgreesWithCpuFusedPathWithinUlps(string label, int length)
    {
        var rule = Rules[label]();
        var (initial, grads) = TestData.Inputs(length, 4, seed: length);
        // The last step is loss-scaled: the shader for switch bit 0 (gradient scale) runs too.
        var cpu = RunCpu(rule, initial, grads, new OptimizerOptions());
        var (p, states) = RunVulkan(rule, initial, grads, new OptimizerOptions(), VulkanShaders.HandWritten);

        AssertWithinUlps(cpu.Params, p, $"{label} parameters at length {length}");
        for (int s = 0; s < states.Length; s++)
        {
            Assert.Equal(cpu.States[s] is null, states[s] is null);
            if (states[s] is { } state)
            {
                AssertWithinUlps(cpu.States[s]!, state, $"{label} state {rule.Descriptor.States[s].Name} at length {length}");
            }
        }
    }

    [Fact]
    public void Step_TwoGroupsWithDifferentSwitches_EachMatchesTheCpuPath()
    {
        var device = Device();
        using var arena = new ParameterArena();
        var a = arena.Add("a", [1000], group: 0);
        var b = arena.Add("b", [333], group: 1);
        arena.Build();
        using var cpuArena = CloneLayout(arena);
        Fill(arena, seed: 7);
        Fill(cpuArena, seed: 7);
        IOptimizerRule[] rules = [new Optimizers.Adam(Lr: 1e-2f, WeightDecay: 0.1f), new Optimizers.Adam(Lr: 2e-3f, Amsgrad: true)];
        using var vk = new VulkanOptimizer(device, arena, rules, ShaderSource, compiler: fixture.Compiler);
        using var cpu = new Optimizer(cpuArena, rules);
        for (int s = 0; s < 3; s++)
        {
            vk.Step();
            cpu.Step();
        }

        vk.DownloadParameters();
        AssertWithinUlps(cpuArena.Param(cpuArena.Tensors[0]).ToArray(), arena.Param(a).ToArray(), "group 0");
        AssertWithinUlps(cpuArena.Param(cpuArena.Tensors[1]).ToArray(), arena.Param(b).ToArray(), "group 1");
        Assert.Equal(2, vk.CompiledShaderCount);
    }

    [Fact]
    public void Step_WhenTheShaderSourceHasNone_ThrowsNamingTheOptimizer()
    {
        var device = Device();
        using var arena = new ParameterArena();
        arena.Add("x", 10);
        arena.Build();
        using var vk = new VulkanOptimizer(device, arena, new Optimizers.Sgd(Lr: 0.1f), static (_, _) => null, compiler: fixture.Compiler);

        var e = Assert.Throws<DeviceUnavailableException>(() => vk.Step());

        Assert.StartsWith("no HLSL shader for sgd yet", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("constants", "must declare gradScale as its first constant after n")]
    [InlineData("buffers", "binds 'momentum', which is not one of its states (buf)")]
    [InlineData("flags", "gave sgd's shader for switches 0x0 when asked for 0xc")]
    public void Step_WithAShaderThatBreaksTheContract_ThrowsNamingTheFault(string fault, string message)
    {
        var device = Device();
        using var arena = new ParameterArena();
        arena.Add("x", 10);
        arena.Build();
        Func<IOptimizerRule, int, HlslShader?> broken = (rule, flags) =>
        {
            var good = ShaderSource(rule, flags)!;
            return fault switch
            {
                "constants" => good with { Constants = [.. good.Constants.Skip(1)] },
                "buffers" => good with { Buffers = ["p", "g", "momentum"] },
                _ => good with { Flags = 0 },
            };
        };
        using var vk = new VulkanOptimizer(device, arena, new Optimizers.Sgd(Lr: 0.1f, Momentum: 0.9f), broken, compiler: fixture.Compiler);

        var e = Assert.Throws<ArgumentException>(() => vk.Step());

        Assert.Contains(message, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Step_WithMaxGradNorm_ClipsLikeTheCpuPath()
    {
        IOptimizerRule rule = new Optimizers.Adam(Lr: 1e-2f);
        var (initial, grads) = TestData.Inputs(4097, 3, seed: 3);
        var options = new OptimizerOptions { MaxGradNorm = 1e-3 };
        var cpu = RunCpu(rule, initial, grads, options);
        var (p, _) = RunVulkan(rule, initial, grads, options);

        AssertWithinUlps(cpu.Params, p, "clipped Adam parameters");
    }

    [Fact]
    public void Step_WithSkipNonFiniteAndANaNGradient_ChangesNothing()
    {
        var device = Device();
        using var arena = new ParameterArena();
        var x = arena.Add("x", 600);
        arena.Build();
        Fill(arena, seed: 5);
        arena.Grad(x)[599] = float.NaN;
        var before = arena.Param(x).ToArray();
        using var vk = new VulkanOptimizer(device, arena, new Optimizers.Sgd(Lr: 0.1f, Momentum: 0.9f), ShaderSource, new OptimizerOptions { SkipNonFinite = true }, fixture.Compiler);

        var result = vk.Step();

        Assert.True(result.Skipped);
        Assert.Equal(0, vk.GetStepCount());
        vk.DownloadParameters();
        TestData.AssertBitwiseEqual(before, arena.Param(x), "parameters after a skipped step");
    }

    [Fact]
    public void Save_OnVulkan_LoadsOnTheCpuPath_AndTheOtherWayRound()
    {
        var device = Device();
        IOptimizerRule rule = new Optimizers.Adam(Lr: 5e-3f, Amsgrad: true);
        var (initial, grads) = TestData.Inputs(515, 4, seed: 11);
        string file = Path.Combine(Path.GetTempPath(), $"fusedopt-vk-{Guid.NewGuid():N}.state");
        string back = file + ".back";
        try
        {
            using var arena = Arena(initial);
            using var vk = new VulkanOptimizer(device, arena, rule, ShaderSource, compiler: fixture.Compiler);
            for (int s = 0; s < 2; s++)
            {
                grads[s].CopyTo(arena.Grad(arena.Tensors[0]));
                vk.UploadGradients();
                vk.Step();
            }

            vk.Save(file);

            // The CPU path takes the file and continues; the Vulkan path continues from its own state.
            using var cpuArena = Arena(new float[initial.Length]);
            using var cpu = new Optimizer(cpuArena, rule);
            cpu.Load(file);
            Assert.Equal(2, cpu.GetStepCount());
            for (int s = 2; s < 4; s++)
            {
                grads[s].CopyTo(arena.Grad(arena.Tensors[0]));
                grads[s].CopyTo(cpuArena.Grad(cpuArena.Tensors[0]));
                vk.UploadGradients();
                vk.Step();
                cpu.Step();
            }

            vk.DownloadParameters();
            AssertWithinUlps(cpuArena.Param(cpuArena.Tensors[0]).ToArray(), arena.Param(arena.Tensors[0]).ToArray(), "parameters after a CPU resume");

            // And back: the CPU file loads on a fresh Vulkan optimizer with every state.
            cpu.Save(back);
            using var arena2 = Arena(new float[initial.Length]);
            using var vk2 = new VulkanOptimizer(device, arena2, new Optimizers.Adam(), ShaderSource, compiler: fixture.Compiler);
            vk2.Load(back);
            Assert.Equal(4, vk2.GetStepCount());
            Assert.Equal(5e-3f, ((Optimizers.Adam)vk2.GetRule(0)).Lr);
            for (int s = 0; s < rule.Descriptor.States.Count; s++)
            {
                var state = new float[arena2.Length];
                vk2.DownloadState(s, state);
                TestData.AssertBitwiseEqual(cpu.GetState(s)!.Span, state, $"state {rule.Descriptor.States[s].Name} loaded on Vulkan");
            }

            vk2.DownloadParameters();
            TestData.AssertBitwiseEqual(cpuArena.Params.Span, arena2.Params.Span, "parameters loaded on Vulkan");
        }
        finally
        {
            File.Delete(file);
            File.Delete(back);
        }
    }

    private VulkanDevice Device()
    {
        Requirements.Glslang();
        return fixture.Device;
    }

    private static (float[] Params, float[]?[] States) RunCpu(IOptimizerRule rule, float[] initial, float[][] grads, OptimizerOptions options)
    {
        using var arena = Arena(initial);
        using var optimizer = new Optimizer(arena, rule, options);
        for (int s = 0; s < grads.Length; s++)
        {
            grads[s].CopyTo(arena.Grad(arena.Tensors[0]));
            optimizer.Step(LossScale(s, grads.Length));
        }

        var states = new float[]?[rule.Descriptor.States.Count];
        for (int s = 0; s < states.Length; s++)
        {
            states[s] = optimizer.GetState(s) is { } b ? b.Span[..initial.Length].ToArray() : null;
        }

        return (arena.Param(arena.Tensors[0]).ToArray(), states);
    }

    private (float[] Params, float[]?[] States) RunVulkan(IOptimizerRule rule, float[] initial, float[][] grads, OptimizerOptions options, Func<IOptimizerRule, int, HlslShader?>? shaders = null)
    {
        var device = Device();
        using var arena = Arena(initial);
        using var optimizer = new VulkanOptimizer(device, arena, rule, shaders ?? ShaderSource, options, fixture.Compiler);
        for (int s = 0; s < grads.Length; s++)
        {
            grads[s].CopyTo(arena.Grad(arena.Tensors[0]));
            optimizer.UploadGradients();
            optimizer.Step(LossScale(s, grads.Length));
        }

        optimizer.DownloadParameters();
        var states = new float[]?[rule.Descriptor.States.Count];
        for (int s = 0; s < states.Length; s++)
        {
            if (optimizer.GetState(s) is not null)
            {
                var all = new float[arena.Length];
                optimizer.DownloadState(s, all);
                states[s] = all[..initial.Length];
            }
        }

        return (arena.Param(arena.Tensors[0]).ToArray(), states);
    }

    private static double LossScale(int step, int steps) => step == steps - 1 ? 4 : 1;

    private static ParameterArena Arena(float[] initial)
    {
        var arena = new ParameterArena();
        var x = arena.Add("x", initial.Length);
        arena.Build();
        initial.CopyTo(arena.Param(x));
        return arena;
    }

    private static ParameterArena CloneLayout(ParameterArena arena)
    {
        var clone = new ParameterArena();
        foreach (var t in arena.Tensors)
        {
            clone.Add(t.Name, t.Shape.AsSpan(), t.Group);
        }

        clone.Build();
        return clone;
    }

    private static void Fill(ParameterArena arena, int seed)
    {
        var rng = new Random(seed);
        foreach (var t in arena.Tensors)
        {
            var p = arena.Param(t);
            var g = arena.Grad(t);
            for (int i = 0; i < p.Length; i++)
            {
                p[i] = (float)(rng.NextDouble() * 2 - 1);
                g[i] = (float)(rng.NextDouble() * 2 - 1) * 0.1f;
            }
        }
    }

    /// <summary>Asserts every element within <see cref="Ulps"/> units in the last place, printing the worst.</summary>
    private static void AssertWithinUlps(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        long worst = 0;
        int at = -1;
        for (int i = 0; i < expected.Length; i++)
        {
            long d = UlpDistance(expected[i], actual[i]);
            if (d > worst)
            {
                worst = d;
                at = i;
            }
        }

        Assert.True(worst <= Ulps, $"{what}: {worst} ulps apart at [{at}] (expected {(at >= 0 ? expected[at] : 0):R}, got {(at >= 0 ? actual[at] : 0):R}); allowed {Ulps}.");
    }

    private static long UlpDistance(float a, float b)
    {
        if (float.IsNaN(a) || float.IsNaN(b))
        {
            return float.IsNaN(a) && float.IsNaN(b) ? 0 : long.MaxValue;
        }

        static long Ordered(float x)
        {
            int bits = BitConverter.SingleToInt32Bits(x);
            return bits < 0 ? int.MinValue - (long)bits : bits;
        }

        return Math.Abs(Ordered(a) - Ordered(b));
    }
}

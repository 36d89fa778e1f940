using System;
using System.Linq;
using FusedOpt.Memory;
using FusedOpt.Vulkan;
using Xunit;

namespace FusedOpt.Tests.Vulkan;

/// <summary>
/// The hand-written HLSL step shaders (Vulkan/Shaders), compiled by glslang and run through <see cref="VulkanStepKernel"/>
/// on device 0 (lavapipe here), against the update formulas written out below in float64.
/// </summary>
[Collection(VulkanCollection.Name)]
public sealed class VulkanStepKernelTests(VulkanFixture fixture)
{
    private const double Tolerance = 1e-5;

    private static readonly UniformLayout AdamLayout = UniformLayout.Create(
        ("beta1", UniformType.Float), ("oneMinusBeta1", UniformType.Float), ("beta2", UniformType.Float), ("oneMinusBeta2", UniformType.Float),
        ("stepSize", UniformType.Float), ("sqrtBc2", UniformType.Float), ("eps", UniformType.Float), ("weightDecay", UniformType.Float));

    private static readonly UniformLayout SgdLayout = UniformLayout.Create(
        ("lr", UniformType.Float), ("momentum", UniformType.Float), ("oneMinusDampening", UniformType.Float), ("weightDecay", UniformType.Float), ("first", UniformType.UInt));

    private sealed record AdamHyper(double Lr, double Beta1, double Beta2, double Eps, double WeightDecay);

    /// <summary>The Adam constants of step <paramref name="t"/>, hoisted in float64 and rounded to float as the shader reads them.</summary>
    private static byte[] AdamUniforms(AdamHyper h, int t)
    {
        var block = new byte[AdamLayout.Size];
        AdamLayout.Set(block, "beta1", (float)h.Beta1);
        AdamLayout.Set(block, "oneMinusBeta1", (float)(1 - h.Beta1));
        AdamLayout.Set(block, "beta2", (float)h.Beta2);
        AdamLayout.Set(block, "oneMinusBeta2", (float)(1 - h.Beta2));
        AdamLayout.Set(block, "stepSize", (float)(h.Lr / (1 - Math.Pow(h.Beta1, t))));
        AdamLayout.Set(block, "sqrtBc2", (float)Math.Sqrt(1 - Math.Pow(h.Beta2, t)));
        AdamLayout.Set(block, "eps", (float)h.Eps);
        AdamLayout.Set(block, "weightDecay", (float)h.WeightDecay);
        return block;
    }

    /// <summary>Adam, written out in float64 from the paper (with PyTorch's L2 weight decay): one step over every element.</summary>
    private static void AdamOracle(AdamHyper h, int t, double[] p, float[] g, double[] m, double[] v)
    {
        for (int i = 0; i < p.Length; i++)
        {
            double gi = g[i] + h.WeightDecay * p[i];
            m[i] = h.Beta1 * m[i] + (1 - h.Beta1) * gi;
            v[i] = h.Beta2 * v[i] + (1 - h.Beta2) * gi * gi;
            double mHat = m[i] / (1 - Math.Pow(h.Beta1, t));
            double vHat = v[i] / (1 - Math.Pow(h.Beta2, t));
            p[i] -= h.Lr * mHat / (Math.Sqrt(vHat) + h.Eps);
        }
    }

    private static float[] Random(int n, int seed, double scale)
    {
        var random = new Random(seed);
        return [.. Enumerable.Range(0, n).Select(_ => (float)((random.NextDouble() * 2 - 1) * scale))];
    }

    [Theory]
    [InlineData(1)]
    [InlineData(255)]
    [InlineData(257)]
    [InlineData(100003)]
    public void Adam_OddLengths_ThreeSteps_MatchFloat64Oracle(int n)
    {
        var device = fixture.Device;
        var spirv = fixture.Spirv("adam.hlsl");
        var h = new AdamHyper(Lr: 1e-2, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 1e-2);

        using var arena = new ParameterArena();
        var x = arena.Add("x", n);
        arena.Build();
        var initial = Random(n, seed: n, scale: 1);
        initial.CopyTo(arena.Param(x));
        double[] p = [.. initial.Select(static f => (double)f)], m = new double[n], v = new double[n];

        using var kernel = new VulkanStepKernel(device, spirv, bufferCount: 4, AdamLayout.Size);
        using var data = new VulkanArenaBuffers(device, arena, stateCount: 2);
        data.UploadParameters();
        for (int t = 1; t <= 3; t++)
        {
            var g = Random(n, seed: 1000 * t + n, scale: 0.5);
            g.CopyTo(arena.Grad(x));
            data.UploadGradients();
            kernel.Step(data, AdamUniforms(h, t), 0, 1);
            AdamOracle(h, t, p, g, m, v);
        }

        data.DownloadParameters();
        var mDevice = new float[arena.Length];
        var vDevice = new float[arena.Length];
        data.DownloadState(0, mDevice);
        data.DownloadState(1, vDevice);
        Oracle.AssertClose(p, arena.Param(x), Tolerance, "parameters");
        Oracle.AssertClose(m, mDevice.AsSpan(0, n), Tolerance, "m");
        Oracle.AssertClose(v, vDevice.AsSpan(0, n), Tolerance, "v");

        // The arena's padding after the tensor is inside the dispatched group: zeros stay zeros (m = v = 0, p −= 0).
        Assert.All(arena.Params.Span[n..].ToArray(), static e => Assert.Equal(0f, e));
    }

    /// <summary>SGD with momentum, written out in float64 (PyTorch's form): one step.</summary>
    private static void SgdOracle(double lr, double mu, double dampening, double wd, bool first, double[] p, float[] g, double[] b)
    {
        for (int i = 0; i < p.Length; i++)
        {
            double gi = g[i] + wd * p[i];
            b[i] = first ? gi : mu * b[i] + (1 - dampening) * gi;
            p[i] -= lr * b[i];
        }
    }

    private static byte[] SgdUniforms(double lr, double mu, double dampening, double wd, bool first)
    {
        var block = new byte[SgdLayout.Size];
        SgdLayout.Set(block, "lr", (float)lr);
        SgdLayout.Set(block, "momentum", (float)mu);
        SgdLayout.Set(block, "oneMinusDampening", (float)(1 - dampening));
        SgdLayout.Set(block, "weightDecay", (float)wd);
        SgdLayout.Set(block, "first", first ? 1u : 0u);
        return block;
    }

    /// <summary>
    /// Two parameter groups with their own learning rates in one submission, each a dispatch of its own: each group
    /// follows its own constants (a wrong per-range constant buffer would give the other group's learning rate).
    /// </summary>
    [Fact]
    public void SgdMomentum_TwoGroups_EachFollowsItsOwnConstants()
    {
        var device = fixture.Device;
        var spirv = fixture.Spirv("sgd_momentum.hlsl");
        using var arena = new ParameterArena();
        var a = arena.Add("a", [257], group: 0);
        var w = arena.Add("w", [1001], group: 1);
        arena.Build();
        var lrs = new[] { 0.1, 0.01 };
        var tensors = new[] { a, w };
        var p = new double[2][];
        var b = new double[2][];
        for (int k = 0; k < 2; k++)
        {
            var init = Random((int)tensors[k].Length, seed: 7 + k, scale: 1);
            init.CopyTo(arena.Param(tensors[k]));
            p[k] = [.. init.Select(static f => (double)f)];
            b[k] = new double[init.Length];
        }

        using var kernel = new VulkanStepKernel(device, spirv, bufferCount: 3, SgdLayout.Size);
        using var data = new VulkanArenaBuffers(device, arena, stateCount: 1);
        data.UploadParameters();
        for (int t = 1; t <= 4; t++)
        {
            var uniforms = new byte[2 * SgdLayout.Size];
            for (int k = 0; k < 2; k++)
            {
                var g = Random((int)tensors[k].Length, seed: 100 * t + k, scale: 1);
                g.CopyTo(arena.Grad(tensors[k]));
                SgdOracle(lrs[k], 0.9, 0.1, 1e-3, t == 1, p[k], g, b[k]);
                SgdUniforms(lrs[k], 0.9, 0.1, 1e-3, t == 1).CopyTo(uniforms, k * SgdLayout.Size);
            }

            data.UploadGradients();
            kernel.Step(data, uniforms, 0);
            Assert.Equal(2, kernel.LastDispatchCount);
        }

        data.DownloadParameters();
        Oracle.AssertClose(p[0], arena.Param(a), Tolerance, "group 0 parameters");
        Oracle.AssertClose(p[1], arena.Param(w), Tolerance, "group 1 parameters");
    }

    /// <summary>
    /// A range cut into chunks (a tiny chunk length stands in for lavapipe's 128 MiB maxStorageBufferRange): 196
    /// dispatches, each with its own n and its own descriptor offset, give the same result as the formula.
    /// </summary>
    [Fact]
    public void Adam_RangeCutIntoChunks_MatchesFloat64Oracle()
    {
        var device = fixture.Device;
        const int n = 100003;
        var h = new AdamHyper(Lr: 1e-2, Beta1: 0.8, Beta2: 0.99, Eps: 1e-6, WeightDecay: 0);
        using var kernel = new VulkanStepKernel(device, fixture.Spirv("adam.hlsl"), 4, AdamLayout.Size) { ChunkLength = 512 };
        using var pBuffer = device.CreateStorageBuffer(n);
        using var gBuffer = device.CreateStorageBuffer(n);
        using var mBuffer = device.CreateStorageBuffer(n);
        using var vBuffer = device.CreateStorageBuffer(n);
        var initial = Random(n, 3, 1);
        var g = Random(n, 4, 1);
        device.Upload(pBuffer, initial);
        device.Upload(gBuffer, g);
        Assert.Null(kernel.LastGpuTime);
        kernel.Dispatch([pBuffer, gBuffer, mBuffer, vBuffer], [new VulkanRange(0, n)], AdamUniforms(h, 1));
        Assert.Equal((n + 511) / 512, kernel.LastDispatchCount);
        Assert.Equal(device.HasTimestamps, kernel.LastGpuTime.HasValue);

        double[] p = [.. initial.Select(static f => (double)f)], m = new double[n], v = new double[n];
        AdamOracle(h, 1, p, g, m, v);
        var result = new float[n];
        device.Download(pBuffer, result);
        Oracle.AssertClose(p, result, Tolerance, "parameters");
    }

    /// <summary>
    /// A range in the middle of the buffers, not a multiple of 256 long (2 groups = 512 threads run): every element of the
    /// range changes and none outside it does, so the descriptors start at the range and the count reaches its end.
    /// (lavapipe also confines a shader's accesses to the descriptor's range, so a shader lacking its bounds check would
    /// pass here; on a GPU that is undefined behaviour. The generated shaders' check is the emitter's to test.)
    /// </summary>
    [Fact]
    public void Dispatch_SubRange_LeavesEverythingOutsideItUntouched()
    {
        var device = fixture.Device;
        const int length = 1024, start = 256, n = 257;
        var h = new AdamHyper(Lr: 0.1, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0);
        using var kernel = new VulkanStepKernel(device, fixture.Spirv("adam.hlsl"), 4, AdamLayout.Size);
        var buffers = Enumerable.Range(0, 4).Select(_ => device.CreateStorageBuffer(length)).ToArray();
        try
        {
            var initial = Random(length, 5, 1);
            var g = Random(length, 6, 1);
            device.Upload(buffers[0], initial);
            device.Upload(buffers[1], g);
            kernel.Dispatch(buffers, [new VulkanRange(start, n)], AdamUniforms(h, 1));

            var result = new float[length];
            device.Download(buffers[0], result);
            for (int i = 0; i < length; i++)
            {
                if (i < start || i >= start + n)
                {
                    Assert.True(initial[i] == result[i], $"element {i} outside [{start}, {start + n}) changed from {initial[i]} to {result[i]}");
                }
                else
                {
                    Assert.True(initial[i] != result[i], $"element {i} inside the range did not change");
                }
            }
        }
        finally
        {
            foreach (var b in buffers)
            {
                b.Dispose();
            }
        }
    }

    /// <summary>The staging path of a discrete GPU (device-local buffers, copies in pieces), forced on this device.</summary>
    [Fact]
    public void Adam_ThroughStagingCopies_MatchesFloat64Oracle()
    {
        var spirv = fixture.Spirv("adam.hlsl");
        _ = fixture.Device;
        using var device = VulkanDevice.Open(0, VulkanDevices.LoaderName, requireQueue: null, forceStaging: true, stagingBytes: 4096);
        Assert.True(device.UsesStaging);
        const int n = 10007; // 40 KB: ten pieces of 4 KiB each way
        var h = new AdamHyper(Lr: 1e-2, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.1);
        using var arena = new ParameterArena();
        var x = arena.Add("x", n);
        arena.Build();
        var initial = Random(n, 9, 1);
        var g = Random(n, 10, 1);
        initial.CopyTo(arena.Param(x));
        g.CopyTo(arena.Grad(x));

        using var kernel = new VulkanStepKernel(device, spirv, 4, AdamLayout.Size);
        using var data = new VulkanArenaBuffers(device, arena, 2);
        data.UploadParameters();
        data.UploadGradients();
        data.FillState(1, 0, arena.Length, 0.25f); // v starts at 0.25 everywhere: Fill through vkCmdFillBuffer
        kernel.Step(data, AdamUniforms(h, 1), 0, 1);
        arena.Params.Span.Clear();
        data.DownloadParameters();

        double[] p = [.. initial.Select(static f => (double)f)], m = new double[n], v = Enumerable.Repeat(0.25, n).ToArray();
        AdamOracle(h, 1, p, g, m, v);
        Oracle.AssertClose(p, arena.Param(x), Tolerance, "parameters");
    }
}

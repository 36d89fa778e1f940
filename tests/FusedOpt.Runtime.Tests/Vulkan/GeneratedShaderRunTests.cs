using System;
using System.Buffers.Binary;
using System.Linq;
using FusedOpt.Memory;
using FusedOpt.Optimizers;
using FusedOpt.Vulkan;
using Xunit;

namespace FusedOpt.Tests.Vulkan;

/// <summary>
/// The generated Adam shader (<see cref="OptimizerDescriptor.Hlsl"/>), fed exactly as <see cref="HlslShader"/>'s contract
/// says — <c>n</c>, <c>gradScale</c> and the scalars <see cref="IOptimizerRule.Prepare"/> writes, bound p, g, m, v —
/// run through <see cref="VulkanStepKernel"/> on device 0 (lavapipe here) against Adam written out in float64.
/// </summary>
[Collection(VulkanCollection.Name)]
public sealed class GeneratedShaderRunTests(VulkanFixture fixture)
{
    [Theory]
    [InlineData(1)]
    [InlineData(257)]
    [InlineData(10007)]
    public void GeneratedAdam_WithWeightDecay_ThreeSteps_MatchesFloat64Oracle(int n)
    {
        var device = fixture.Device;
        double lr = 1e-2, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, wd = 1e-2;
        IOptimizerRule adam = new Adam(Lr: (float)lr, Beta1: (float)beta1, Beta2: (float)beta2, Eps: (float)eps, WeightDecay: (float)wd);
        var d = Adam.Descriptor;
        var scalars = new float[d.ScalarCount];
        int flags = adam.Prepare(1, [], scalars) | 1; // bit 0 on: gradients are multiplied by gradScale (2 here)
        var shader = d.Hlsl(flags)!;
        Assert.Equal(["p", "g", "m", "v"], shader.Buffers);
        var spirv = fixture.Compiler.Compile(shader.Source, "adam-generated").Spirv.ToArray();

        using var arena = new ParameterArena();
        var x = arena.Add("x", n);
        arena.Build();
        var random = new Random(n);
        var initial = Enumerable.Range(0, n).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        initial.CopyTo(arena.Param(x));
        double[] p = [.. initial.Select(static f => (double)f)], m = new double[n], v = new double[n];
        int uniformBytes = 4 * (1 + shader.Constants.Count);
        using var kernel = new VulkanStepKernel(device, spirv, bufferCount: shader.Buffers.Count, uniformBytes);
        using var data = new VulkanArenaBuffers(device, arena, stateCount: 2);
        data.UploadParameters();
        for (int t = 1; t <= 3; t++)
        {
            var g = Enumerable.Range(0, n).Select(_ => (float)(random.NextDouble() - 0.5)).ToArray();
            g.CopyTo(arena.Grad(x));
            data.UploadGradients();
            Assert.Equal(flags & ~1, adam.Prepare(t, [], scalars));
            var block = new byte[uniformBytes * data.Groups.Length];
            for (int k = 0; k < data.Groups.Length; k++)
            {
                var one = block.AsSpan(k * uniformBytes, uniformBytes);
                BinaryPrimitives.WriteSingleLittleEndian(one[4..], 2f);
                for (int s = 0; s < scalars.Length; s++)
                {
                    BinaryPrimitives.WriteSingleLittleEndian(one[(8 + 4 * s)..], scalars[s]);
                }
            }

            kernel.Step(data, block, 0, 1);
            for (int i = 0; i < n; i++)
            {
                double gi = 2.0 * g[i] + wd * p[i];
                m[i] = beta1 * m[i] + (1 - beta1) * gi;
                v[i] = beta2 * v[i] + (1 - beta2) * gi * gi;
                p[i] -= lr * (m[i] / (1 - Math.Pow(beta1, t))) / (Math.Sqrt(v[i] / (1 - Math.Pow(beta2, t))) + eps);
            }
        }

        data.DownloadParameters();
        var mDevice = new float[arena.Length];
        data.DownloadState(0, mDevice);
        Oracle.AssertClose(p, arena.Param(x), 1e-5, "parameters");
        Oracle.AssertClose(m, mDevice.AsSpan(0, n), 1e-5, "m");
    }
}

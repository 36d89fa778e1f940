using System;
using System.Collections.Generic;
using System.Linq;
using System.Numerics;
using FusedOpt.Models;
using FusedOpt.Models.Checks;
using FusedOpt.Models.Layers;
using FusedOpt.Models.Losses;
using Xunit;

namespace FusedOpt.Tests.Checks;

/// <summary>
/// Central differences in float64 (seed 001) for every layer type under every loss. Thresholds (see
/// <see cref="GradientCheck"/>): max relative error ≤ 1e-4, seed 001's bound for networks with kinks or softmax
/// (observed ≤ 6e-6 on seeds 1–9); float32 backward within 1e-5 of float64 (observed ≤ 5e-7). A wrong derivative
/// gives 1e-2 or more, as the deliberately broken layer below shows.
/// </summary>
public sealed class GradientCheckTests
{
    public const double MaxRelError = 1e-4;
    public const double MaxFloat32Error = 1e-5;

    public static IEnumerable<TheoryDataRow<string, string>> ModelsByLoss() =>
        from m in GradientCheck.StandardModels from l in LossCatalog.All select new TheoryDataRow<string, string>(m.Name, l.Name);

    [Theory]
    [MemberData(nameof(ModelsByLoss))]
    public void AnalyticGradients_MatchCentralDifferences(string model, string loss)
    {
        var spec = GradientCheck.StandardModels.Single(m => m.Name == model).Spec;
        var report = GradientCheck.Run(spec, LossCatalog.Get(loss));

        Assert.True(report.MaxRelError <= MaxRelError, report.Describe());
        Assert.True(report.MaxFloat32Error <= MaxFloat32Error, report.Describe());
        Assert.Equal((2 * spec.Layers.Count(static l => l is LinearSpec)) + 1, report.Tensors.Length);
        Assert.All(report.Tensors, t => Assert.True(t.Checked > t.BelowFloor, $"{t.Name}: every element was below the floor\n{report.Describe()}"));
    }

    [Fact]
    public void Report_ListsEveryParameterTensorAndTheInput()
    {
        var report = GradientCheck.Run(GradientCheck.StandardModels.Single(m => m.Name == "relu").Spec, new SoftmaxCrossEntropy());
        Assert.Equal(["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "input"], report.Tensors.Select(static t => t.Name));
        Assert.Equal([48, 8, 40, 5, 24], report.Tensors.Select(static t => t.Checked));
        Assert.Equal("8×6", report.Tensors[0].Shape);
        Assert.Contains("fc2.weight", report.Describe(), StringComparison.Ordinal);
    }

    [Fact]
    public void BrokenBackwardPass_IsCaught()
    {
        var spec = new ModelSpec([new LinearSpec("fc1", 5, 6), new BrokenTanhSpec(6), new LinearSpec("fc2", 6, 3)]);
        var report = GradientCheck.Run(spec, new SoftmaxCrossEntropy());

        Assert.True(report.Tensors.Single(static t => t.Name == "fc1.weight").MaxRelError > 1e-2, report.Describe());
        Assert.True(report.Tensors.Single(static t => t.Name == "fc2.weight").MaxRelError < MaxRelError, report.Describe()); // above the bug: fine
    }

    [Fact]
    public void Sampling_ChecksAtMostTheRequestedElements()
    {
        var spec = GradientCheck.StandardModels.Single(m => m.Name == "fcn-small").Spec;
        var report = GradientCheck.Run(spec, new MeanSquaredError(), new GradientCheckOptions { MaxElementsPerTensor = 7, CompareFloat32 = false });
        Assert.All(report.Tensors, t => Assert.True(t.Checked <= 7));
        Assert.Null(report.MaxFloat32Error);
        Assert.True(report.MaxRelError <= MaxRelError, report.Describe());
    }

    [Theory]
    [InlineData(1.0, 1.0, 0.0)]
    [InlineData(0.0, 0.0, 0.0)]
    [InlineData(1.0, -1.0, 2.0)]
    [InlineData(2.0, 1.0, 0.5)]
    [InlineData(0.0, 1e-3, 1.0)]
    public void RelativeError_FollowsSeed001(double analytic, double numeric, double expected) =>
        Assert.Equal(expected, GradientCheck.RelativeError(analytic, numeric), 15);

    /// <summary>tanh whose backward forgets the square: dL/dx = dL/dy·(1 − y).</summary>
    private sealed record BrokenTanhSpec(int Features) : LayerSpec
    {
        public override Layer<T> Create<T>() => new BrokenTanh<T>(Features);
    }

    private sealed class BrokenTanh<T>(int features) : Layer<T>("broken-tanh", features, features)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        public override LayerSpec Spec => new BrokenTanhSpec(InputFeatures);

        public override void Forward(MatMul<T> matMul, ReadOnlySpan<T> x, Span<T> y, int batch, bool training)
        {
            for (int i = 0; i < batch * InputFeatures; i++)
            {
                y[i] = T.Tanh(x[i]);
            }
        }

        public override void Backward(MatMul<T> matMul, ReadOnlySpan<T> x, ReadOnlySpan<T> y, ReadOnlySpan<T> dy, Span<T> dx, int batch, bool inputGradient)
        {
            for (int i = 0; inputGradient && i < batch * InputFeatures; i++)
            {
                dx[i] = dy[i] * (T.One - y[i]);
            }
        }
    }
}

using System.Linq;
using FusedOpt.Models.Checks;
using FusedOpt.Models.Layers;
using FusedOpt.Models.Losses;
using Xunit;

namespace FusedOpt.Tests.Conv;

/// <summary>
/// Central differences in float64 over the convolutional models (odd sizes, stride, padding, pooling, BN in training
/// mode), with the thresholds of <see cref="Checks.GradientCheckTests"/>.
/// </summary>
public sealed class ConvGradientCheckTests
{
    public static TheoryData<string> Models => [.. GradientCheck.ConvModels.Select(static m => m.Name)];

    [Theory]
    [MemberData(nameof(Models))]
    public void ConvModels_AnalyticGradients_MatchCentralDifferences(string model)
    {
        var spec = GradientCheck.ConvModels.Single(m => m.Name == model).Spec;
        var report = GradientCheck.Run(spec, new SoftmaxCrossEntropy(), new GradientCheckOptions { Batch = 3 });

        Assert.True(report.MaxRelError <= Checks.GradientCheckTests.MaxRelError, report.Describe());
        Assert.True(report.MaxFloat32Error <= Checks.GradientCheckTests.MaxFloat32Error, report.Describe());
        Assert.Contains(report.Tensors, static t => t.Name.EndsWith(".weight", System.StringComparison.Ordinal) && t.Checked > t.BelowFloor);
    }

    [Theory]
    [InlineData("conv-winograd", ConvAlgorithm.Winograd)]
    [InlineData("conv-winograd4x4", ConvAlgorithm.Winograd4x4)]
    public void ConvWinogradModels_RunTheirWinogradInBothPrecisions(string name, ConvAlgorithm expected)
    {
        var spec = GradientCheck.ConvModels.Single(m => m.Name == name).Spec;
        using var model64 = spec.Build<double>();
        using var model32 = spec.Build<float>();
        Assert.All(model64.Layers.OfType<Conv2d<double>>(), c => Assert.Equal(expected, c.Implementation));
        Assert.All(model32.Layers.OfType<Conv2d<float>>(), c => Assert.Equal(expected, c.Implementation));
    }
}

using System;
using System.Linq;
using FusedOpt.Models.Losses;
using Xunit;

namespace FusedOpt.Tests.Losses;

/// <summary>
/// Each loss against seed 004's worked example (Zhang, Figure 1: dog/cat/bird scores of three instances) or
/// against hand-computed values, plus the gradient identities and the argument errors.
/// </summary>
public sealed class LossTests
{
    // Seed 004, Figure 1: columns are instances, rows dog, cat, bird; here one row per instance.
    private static readonly double[] SeedScores = [0.49, 0.43, 0.08, 0.45, 0.53, 0.02, 0.21, 0.15, 0.64];
    private static readonly int[] SeedLabels = [0, 1, 2];

    [Theory]
    [InlineData(0, 1.53)]
    [InlineData(1, 1.41)]
    [InlineData(2, 1.08)]
    public void Hinge_SeedWorkedExample_MatchesEachInstance(int instance, double expected)
    {
        double loss = new MulticlassHinge().Evaluate(SeedScores.AsSpan(instance * 3, 3), SeedLabels.AsSpan(instance, 1), 3, Span<double>.Empty);
        Assert.Equal(expected, loss, 12);
    }

    [Fact]
    public void Hinge_SeedWorkedExample_BatchIsTheMean()
    {
        double loss = new MulticlassHinge().Evaluate<double>(SeedScores, SeedLabels, 3, []);
        Assert.Equal((1.53 + 1.41 + 1.08) / 3, loss, 12);
    }

    [Theory]
    [InlineData(0, 0.713)]
    [InlineData(1, 0.635)]
    [InlineData(2, 0.446)]
    public void CrossEntropy_OfLogProbabilities_MatchesSeedWorkedExample(int instance, double expected)
    {
        // Seed 004 applies cross-entropy to probabilities ŷ; softmax(log ŷ) = ŷ since each ŷ sums to 1.
        double[] logits = [.. SeedScores.Skip(instance * 3).Take(3).Select(static p => Math.Log(p))];
        double loss = new SoftmaxCrossEntropy().Evaluate<double>(logits, SeedLabels.AsSpan(instance, 1), 3, []);
        Assert.Equal(expected, loss, 3);
        Assert.Equal(-Math.Log(SeedScores[(instance * 3) + instance]), loss, 12);
    }

    [Fact]
    public void CrossEntropy_Gradient_IsSoftmaxMinusOneHotOverBatch()
    {
        double[] logits = [1, 2, 3, -1, 0, 1];
        int[] labels = [2, 0];
        double[] grad = new double[6];
        new SoftmaxCrossEntropy().Evaluate<double>(logits, labels, 3, grad);
        double z = Math.Exp(1) + Math.Exp(2) + Math.Exp(3);
        Assert.Equal(Math.Exp(1) / z / 2, grad[0], 15);
        Assert.Equal(((Math.Exp(3) / z) - 1) / 2, grad[2], 15);
        Assert.Equal(0, grad[0] + grad[1] + grad[2], 15);
        Assert.Equal(0, grad[3] + grad[4] + grad[5], 15);
    }

    [Fact]
    public void CrossEntropy_HugeLogits_StaysFinite()
    {
        float[] logits = [1000f, -1000f, 0f, 88.8f, 89f, 90f];
        float[] grad = new float[6];
        double loss = new SoftmaxCrossEntropy().Evaluate<float>(logits, [1, 2], 3, grad);
        Assert.True(double.IsFinite(loss), $"loss {loss}");
        Assert.All(grad, g => Assert.True(float.IsFinite(g)));
        Assert.Equal((2000 + Math.Log(Math.Exp((double)88.8f - 90) + Math.Exp(-1) + 1)) / 2, loss, 9);
    }

    [Fact]
    public void Hinge_Gradient_CountsViolatedMargins()
    {
        double[] scores = [0.49, 0.43, 0.08, 3, 0, 0];
        double[] grad = new double[6];
        new MulticlassHinge().Evaluate<double>(scores, [0, 0], 3, grad);
        // Row 0: both margins violated; row 1: none (3 − 0 > 1). Batch of 2.
        Assert.Equal([-1.0, 0.5, 0.5, 0, 0, 0], grad);
    }

    [Fact]
    public void Mse_WithLabels_UsesOneHotTargets()
    {
        double[] grad = new double[3];
        double loss = new MeanSquaredError().Evaluate<double>(SeedScores.AsSpan(0, 3), [0], 3, grad);
        Assert.Equal((Math.Pow(0.49 - 1, 2) + Math.Pow(0.43, 2) + Math.Pow(0.08, 2)) / 3, loss, 15);
        Assert.Equal(2 * (0.49 - 1) / 3, grad[0], 15);
        Assert.Equal(2 * 0.43 / 3, grad[1], 15);
    }

    [Fact]
    public void Mae_DenseTargets_MeanOfAbsoluteDifferences()
    {
        double[] outputs = [1, 2, 3, 4];
        double[] targets = [1.5, 2, 2, 0];
        double[] grad = new double[4];
        double loss = new MeanAbsoluteError().Evaluate<double>(outputs, targets, grad);
        Assert.Equal((0.5 + 0 + 1 + 4) / 4, loss, 15);
        Assert.Equal([-0.25, 0, 0.25, 0.25], grad);
    }

    [Fact]
    public void Mse_DenseTargets_MatchesDefinition()
    {
        double loss = new MeanSquaredError().Evaluate<double>([1, 2], [0, 4], []);
        Assert.Equal((1 + 4) / 2.0, loss, 15);
    }

    [Fact]
    public void Losses_FloatAndDouble_Agree()
    {
        float[] f = [0.3f, -1.2f, 2.5f, 0.1f, 0.7f, -0.4f];
        double[] d = [.. f.Select(static x => (double)x)];
        int[] labels = [2, 1];
        foreach (var loss in LossCatalog.All)
        {
            Assert.Equal(loss.Evaluate<double>(d, labels, 3, []), loss.Evaluate<float>(f, labels, 3, []), 12);
        }
    }

    [Fact]
    public void LabelOutOfRange_NamesRowAndValue()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new SoftmaxCrossEntropy().Evaluate<float>(new float[6], [0, 3], 3, []));
        Assert.Contains("label 3 of row 1 is outside [0, 3)", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void OutputLengthMismatch_NamesBothSizes()
    {
        var e = Assert.Throws<ArgumentException>(() => new MulticlassHinge().Evaluate<float>(new float[5], [0, 1], 3, []));
        Assert.Contains("outputs hold 5 values but 2 labels × 3 classes need 6", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Catalog_FindsEveryLossByName_AndRejectsUnknownNames()
    {
        Assert.IsType<SoftmaxCrossEntropy>(LossCatalog.Get("CE"));
        Assert.IsType<MulticlassHinge>(LossCatalog.Get("hinge"));
        Assert.IsType<MeanSquaredError>(LossCatalog.Get("mse"));
        Assert.IsType<MeanAbsoluteError>(LossCatalog.Get("MAE"));
        var e = Assert.Throws<ArgumentException>(() => LossCatalog.Get("huber"));
        Assert.Contains("cross-entropy, hinge, mse, mae", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void CountCorrect_TakesTheFirstMaximum()
    {
        float[] outputs = [0.1f, 0.9f, 0.5f, 0.5f, 0.2f, 0.1f];
        Assert.Equal(2, Metrics.CountCorrect<float>(outputs, [1, 0], 3));
        Assert.Equal(0, Metrics.CountCorrect<float>(outputs, [0, 1], 3));
    }
}

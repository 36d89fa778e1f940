using System;
using FusedOpt.Models.Training.Schedules;
using Xunit;

namespace FusedOpt.Tests.Training;

/// <summary>
/// Every schedule at several points, boundaries included (the first update, the step before and at each milestone,
/// k = τ − 1, τ, τ + 1, t = T), against the formulas in their documentation.
/// </summary>
public sealed class LearningRateScheduleTests
{
    private static SchedulePoint Iteration(long k) => new(k, 0);

    private static SchedulePoint Epoch(int e) => new(0, e);

    [Theory]
    [InlineData(0, 0)]
    [InlineData(12345, 77)]
    public void Constant_IsTheBaseRateEverywhere(long iteration, int epoch) =>
        Assert.Equal(0.1, new ConstantSchedule().LearningRate(0.1, new(iteration, epoch)));

    [Theory]
    [InlineData(0, 0.1)]
    [InlineData(149, 0.1)]
    [InlineData(150, 0.01)]
    [InlineData(224, 0.01)]
    [InlineData(225, 0.001)]
    [InlineData(10_000, 0.001)]
    public void Step_MultipliesByGammaFromEachMilestoneEpoch(int epoch, double expected)
    {
        var schedule = new StepDecaySchedule([150, 225], 0.1);

        Assert.Equal(expected, schedule.LearningRate(0.1, Epoch(epoch)), 15);
    }

    [Fact]
    public void Step_IsTheClosedFormOfMultiStepLR_AndIgnoresIterations()
    {
        var schedule = new StepDecaySchedule([150, 225], 0.1);

        Assert.Equal(0.1 * Math.Pow(0.1, 1), schedule.LearningRate(0.1, new(1_000_000, 150)));
        Assert.Equal(0.1 * Math.Pow(0.1, 2), schedule.LearningRate(0.1, new(0, 300)));
        Assert.Equal(0.1, schedule.LearningRate(0.1, new(1_000_000, 149)));
    }

    [Theory]
    [InlineData(0, 0.1)]
    [InlineData(100, 0.07525)]
    [InlineData(200, 0.0505)]
    [InlineData(399, 0.00124750)]
    [InlineData(400, 0.001)]
    [InlineData(401, 0.001)]
    [InlineData(1_000_000, 0.001)]
    public void Linear_DecaysUntilTau_ThenStaysAtFinal(long k, double expected)
    {
        var schedule = new LinearDecaySchedule(tau: 400, final: 0.01);

        Assert.Equal(expected, schedule.LearningRate(0.1, Iteration(k)), 15);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(123)]
    [InlineData(399)]
    [InlineData(400)]
    public void Linear_IsTheLectureFormulaBitForBit(long k)
    {
        // ε_k = (1 − α) ε₀ + α ε_τ with α = k / τ and ε_τ = 0.01 ε₀.
        const double epsilon0 = 0.05, tau = 400;
        double epsilonTau = 0.01 * epsilon0;
        double alpha = k / tau;

        Assert.Equal((1 - alpha) * epsilon0 + alpha * epsilonTau, new LinearDecaySchedule(400, 0.01).LearningRate(epsilon0, Iteration(k)));
    }

    [Fact]
    public void Linear_EndpointsAreExact()
    {
        var schedule = new LinearDecaySchedule(400, 0.01);

        Assert.Equal(0.05, schedule.LearningRate(0.05, Iteration(0)));
        Assert.Equal(0.01 * 0.05, schedule.LearningRate(0.05, Iteration(400)));
    }

    [Fact]
    public void Linear_PerEpoch_CountsEpochs()
    {
        var schedule = new LinearDecaySchedule(10, 0.0, ScheduleUnit.Epoch);

        Assert.Equal(0.05, schedule.LearningRate(0.1, new(999_999, 5)), 15);
        Assert.Equal(0.0, schedule.LearningRate(0.1, new(0, 10)));
    }

    [Theory]
    [InlineData(0, 0.01)]
    [InlineData(1, 0.01 / 1.001)]
    [InlineData(1000, 0.005)]
    [InlineData(3000, 0.0025)]
    public void Inverse_IsBaseTimesReciprocalOfOnePlusDecayT(long t, double expected)
    {
        var schedule = new InverseTimeDecaySchedule(1e-3);

        Assert.Equal(expected, schedule.LearningRate(0.01, Iteration(t)), 15);
        Assert.Equal(0.01 * (1.0 / (1.0 + (1e-3 * t))), schedule.LearningRate(0.01, Iteration(t)));
    }

    [Fact]
    public void Inverse_ZeroDecay_IsConstant() =>
        Assert.Equal(0.3, new InverseTimeDecaySchedule(0).LearningRate(0.3, Iteration(10_000)));

    [Theory]
    [InlineData(0, 0.1)]
    [InlineData(100, 0.085355339059327376)]
    [InlineData(200, 0.05)]
    [InlineData(300, 0.014644660940672624)]
    [InlineData(400, 0.0)]
    [InlineData(401, 0.0)]
    public void Cosine_AnnealsToZeroAtT_AndStays(long t, double expected)
    {
        var schedule = new CosineAnnealingSchedule(400);

        Assert.Equal(expected, schedule.LearningRate(0.1, Iteration(t)), 15);
    }

    [Theory]
    [InlineData(0, 0.1)]
    [InlineData(200, 0.055)]
    [InlineData(400, 0.01)]
    [InlineData(5000, 0.01)]
    public void Cosine_WithMinimum_AnnealsToMinTimesBase(long t, double expected)
    {
        var schedule = new CosineAnnealingSchedule(400, minimum: 0.1);

        Assert.Equal(expected, schedule.LearningRate(0.1, Iteration(t)), 15);
    }

    [Fact]
    public void Cosine_AtT_IsExactlyTheMinimum() =>
        Assert.Equal(0.1 * 0.1, new CosineAnnealingSchedule(400, 0.1).LearningRate(0.1, Iteration(400)));

    [Fact]
    public void Cosine_PerEpoch_CountsEpochs() =>
        Assert.Equal(0.05, new CosineAnnealingSchedule(20, 0, ScheduleUnit.Epoch).LearningRate(0.1, new(123_456, 10)), 15);

    [Theory]
    [InlineData(double.NaN)]
    [InlineData(-0.1)]
    [InlineData(double.PositiveInfinity)]
    public void LearningRate_InvalidBaseRate_IsRejectedByValue(double baseRate)
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new ConstantSchedule().LearningRate(baseRate, default));

        Assert.Contains("base learning rate must be finite and 0 or more", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void LearningRate_NegativeIteration_IsRejected() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new LinearDecaySchedule(10, 0.1).LearningRate(0.1, new(-1, 0)));

    [Fact]
    public void Constructors_OutOfRange_NameTheScheduleParameterAndValue()
    {
        Assert.Contains("step: gamma must be finite and > 0, got 0", Assert.Throws<ArgumentException>(() => new StepDecaySchedule([1], 0)).Message, StringComparison.Ordinal);
        Assert.Contains("increasing order, got 5,5", Assert.Throws<ArgumentException>(() => new StepDecaySchedule([5, 5], 0.1)).Message, StringComparison.Ordinal);
        Assert.Contains("at least one milestone", Assert.Throws<ArgumentException>(() => new StepDecaySchedule([], 0.1)).Message, StringComparison.Ordinal);
        Assert.Contains("linear: tau must be a positive number of epochs, got -3", Assert.Throws<ArgumentException>(() => new LinearDecaySchedule(-3, 0.1, ScheduleUnit.Epoch)).Message, StringComparison.Ordinal);
        Assert.Contains("inverse: decay must be finite and 0 or more, got -1", Assert.Throws<ArgumentException>(() => new InverseTimeDecaySchedule(-1)).Message, StringComparison.Ordinal);
        Assert.Contains("cosine: min (η_min / η₀) must be in [0, 1], got 1.5", Assert.Throws<ArgumentException>(() => new CosineAnnealingSchedule(10, 1.5)).Message, StringComparison.Ordinal);
    }
}

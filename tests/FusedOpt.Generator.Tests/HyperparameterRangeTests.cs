using System;
using Xunit;

namespace FusedOpt.Tests;

/// <summary>Generated ranges are finite unless the declaration opts in, and generated creation checks each value's type.</summary>
public sealed class HyperparameterRangeTests
{
    private const string Source = """
        using FusedOpt;
        namespace R;
        [Optimizer("range-probe")]
        public partial record Probe([NonNegative] float Lr = 1f, [Interval(0, double.PositiveInfinity)] double Clip = 1, float Free = 0f, int Every = 2, bool On = false)
        {
            void Update(ref float p, float g) { p -= Lr * g * (float)Clip + Free * Every; if (On) p += 0; }
        }
        """;

    private static OptimizerDescriptor Load()
    {
        var run = GeneratorHarness.Generate(Source);
        Assert.True(run.AllProblems.Count == 0, run.Describe());
        return RuleLoader.Descriptor(RuleLoader.Load(run), "Probe");
    }

    [Fact]
    public void Ranges_AreFinite_UnlessAnIntervalAdmitsInfinity()
    {
        var d = Load();

        Assert.False(d.Hyperparameters[0].Contains(double.PositiveInfinity));
        Assert.True(d.Hyperparameters[1].Contains(double.PositiveInfinity));
        Assert.False(d.Hyperparameters[2].Contains(double.NegativeInfinity));
        Assert.Equal("[0, ∞)", d.Hyperparameters[0].RangeText);
        Assert.Equal("[0, ∞]", d.Hyperparameters[1].RangeText);
    }

    [Theory]
    [InlineData(0, double.PositiveInfinity, "range-probe: Lr must be finite and ≥ 0, got ∞.")]
    [InlineData(0, 1e300, "range-probe: Lr must be a float32 (|value| ≤ 3.4028235E+38), got 1E+300.")]
    [InlineData(2, double.NaN, "range-probe: Free must be a number, got NaN.")]
    [InlineData(3, 2.5, "range-probe: Every must be an integer, got 2.5.")]
    [InlineData(3, 1e10, "range-probe: Every must be an integer, got 10000000000.")]
    [InlineData(4, 0.5, "range-probe: On must be true or false (1 or 0), got 0.5.")]
    public void Create_RefusesValuesTheTypeCannotHold(int index, double value, string message)
    {
        var d = Load();
        double[] values = [1, 1, 0, 2, 0];
        values[index] = value;

        Assert.Equal(message, Assert.Throws<HyperparameterException>(() => d.Create(values)).Message);
    }

    [Fact]
    public void Create_AcceptsInfinity_WhereTheIntervalAdmitsIt()
    {
        var rule = Load().Create([1, double.PositiveInfinity, 0, 2, 1]);

        Assert.Equal(double.PositiveInfinity, rule.GetHyperparameters()[1]);
    }
}

using System;
using FusedOpt.Gpu;
using FusedOpt.Kernels;
using Xunit;

namespace FusedOpt.Tests;

/// <summary>
/// The in-place setters behind <see cref="HyperparameterHandle"/> for every kind of hyperparameter (the library's own
/// rules have only float and bool ones): a value is converted as <see cref="OptimizerDescriptor.Create"/> converts it,
/// and a property without an <c>init</c> accessor gets no setter (the core then rebuilds the record).
/// </summary>
public sealed class HyperparameterSettersTests
{
    [Fact]
    public void EveryKind_IsWrittenInPlace_AndConvertedAsCreateConvertsIt()
    {
        var setters = HyperparameterSetters.For(Knobs.Info, typeof(Knobs));
        var rule = new Knobs();
        double[] values = [0.25, 3, 0.1, 1, 7];

        for (int i = 0; i < 4; i++)
        {
            Assert.True(setters.CanSet(i));
            setters.Set(rule, values, i);
        }

        Assert.Equal(0.25, rule.Decay);
        Assert.Equal(3, rule.Warmup);
        Assert.Equal(0.1f, rule.Scale);
        Assert.True(rule.On);
        Assert.False(setters.CanSet(4));   // Frozen has no init accessor
    }

    [Theory]
    [InlineData(1, 1.5, "knobs: Warmup must be an integer, got 1.5.")]
    [InlineData(2, 1e300, "knobs: Scale must be a float32")]
    [InlineData(3, 0.5, "knobs: On must be true or false (1 or 0), got 0.5.")]
    public void ValueItsTypeCannotHold_IsRefused_AndNothingIsWritten(int index, double value, string message)
    {
        var setters = HyperparameterSetters.For(Knobs.Info, typeof(Knobs));
        var rule = new Knobs();
        var before = rule with { };
        double[] values = [0.5, 10, 1, 0, 7];
        values[index] = value;

        var e = Assert.Throws<HyperparameterException>(() => setters.Set(rule, values, index));

        Assert.StartsWith(message, e.Message, StringComparison.Ordinal);
        Assert.Equal(before, rule);
    }

    /// <summary>A hand-written rule (not generated): only what the setters look at is real.</summary>
    private sealed record Knobs : IOptimizerRule
    {
        public static readonly OptimizerDescriptor Info = new()
        {
            Name = "knobs",
            TypeName = "FusedOpt.Tests.Knobs",
            Hyperparameters =
            [
                new("Decay", HyperparameterKind.Double, 0.5, 0, 1, false, false),
                new("Warmup", HyperparameterKind.Int, 10, 0, double.PositiveInfinity, false, true),
                new("Scale", HyperparameterKind.Float, 1, 0, double.PositiveInfinity, false, true),
                new("On", HyperparameterKind.Bool, 0, double.NegativeInfinity, double.PositiveInfinity, true, true),
                new("Frozen", HyperparameterKind.Int, 7, double.NegativeInfinity, double.PositiveInfinity, true, true),
            ],
            States = [],
            StepStates = [],
            ScalarCount = 0,
            Switches = [],
            NaiveTemporaries = 0,
            NaivePasses = 0,
            ReadsParameter = false,
            IsVectorized = false,
            ElementOperations = new(0, 0, 0, 0, 0),
            Create = static v => new Knobs { Decay = v[0], Warmup = (int)v[1], Scale = (float)v[2], On = v[3] != 0 },
        };

        public double Decay { get; init; } = 0.5;

        public int Warmup { get; init; } = 10;

        public float Scale { get; init; } = 1;

        public bool On { get; init; }

        public int Frozen => 7;

        public OptimizerDescriptor Descriptor => Info;

        public GpuKernelMethod? GpuKernel => null;

        public void Validate()
        {
        }

        public double[] GetHyperparameters() => [Decay, Warmup, Scale, On ? 1 : 0, Frozen];

        public bool IsStateNeeded(int state) => false;

        public int Prepare(long t, Span<double> stepState, Span<float> scalars) => 0;

        public void RunFused(Isa isa, int flags, ref readonly StepFrame frame, nint start, nint end)
        {
        }

        public void RunNaive(int flags, ref readonly StepFrame frame, nint start, nint end, NaiveScratch scratch)
        {
        }
    }
}

using System.Collections.Generic;
using FusedOpt.Optimizers;
using Xunit;

namespace FusedOpt.Tests;

/// <summary>
/// Hyperparameter values are checked where they enter (issue 9): ranges are finite unless a declaration says otherwise,
/// a record refuses bad values when it is constructed, and values given by name (the catalogue, setters, the replay
/// case's JSON, state files — all through <see cref="OptimizerDescriptor.Create"/>) must fit the declared type.
/// </summary>
public sealed class HyperparameterValueTests
{
    [Fact]
    public void InfiniteLearningRate_IsRefused_ByTheFiniteRange() =>
        Assert.Equal("adam: Lr must be finite and ≥ 0, got ∞.",
            Assert.Throws<HyperparameterException>(static () => new Adam(Lr: float.PositiveInfinity)).Message);

    [Fact]
    public void NegativeInfinity_WithoutARange_IsRefused() =>
        Assert.Equal("sgd: Dampening must be a finite number, got -∞.",
            Assert.Throws<HyperparameterException>(static () => new Sgd(Dampening: float.NegativeInfinity)).Message);

    [Fact]
    public void NonNegativeRange_PrintsAsOpenAtInfinity()
    {
        var lr = OptimizerCatalog.Get("adam").Hyperparameters[0];

        Assert.Equal("[0, ∞)", lr.RangeText);
        Assert.False(lr.Contains(double.PositiveInfinity));
        Assert.True(lr.Contains(double.MaxValue));
    }

    [Fact]
    public void Record_IsValidated_WhenConstructed_NotOnlyByAnOptimizer()
    {
        Assert.Equal("sgd: Lr must be ≥ 0, got -0.1.", Assert.Throws<HyperparameterException>(static () => new Sgd(Lr: -0.1f)).Message);
        Assert.Equal("sgd: Nesterov momentum requires a momentum > 0 and zero dampening.",
            Assert.Throws<HyperparameterException>(static () => new Sgd(Nesterov: true)).Message);
    }

    [Fact]
    public void WithExpression_ChecksTheNewValue()
    {
        var adam = new Adam();

        Assert.Equal("adam: Lr must be ≥ 0, got -1.", Assert.Throws<HyperparameterException>(() => adam with { Lr = -1f }).Message);
        Assert.Equal("adam: Beta2 must be finite and in [0, 1), got ∞.", Assert.Throws<HyperparameterException>(() => adam with { Beta2 = float.PositiveInfinity }).Message);
        Assert.Equal(0.5f, (adam with { Lr = 0.5f }).Lr);
        Assert.Equal(new Adam(Lr: 0.5f), adam with { Lr = 0.5f });
    }

    [Fact]
    public void ValueTooLargeForFloat_IsRefused_NotTurnedIntoInfinity()
    {
        var e = Assert.Throws<HyperparameterException>(static () => OptimizerCatalog.Create("adam", new Dictionary<string, double> { ["lr"] = 1e300 }));

        Assert.StartsWith("adam: Lr must be a float32 (|value| ≤ 3.4028235E+38), got 1E+300.", e.Message, System.StringComparison.Ordinal);
        Assert.Equal("Lr", e.Hyperparameter);
    }

    [Theory]
    [InlineData(0.5)]
    [InlineData(2)]
    [InlineData(-1)]
    [InlineData(double.NaN)]
    public void BoolFromANumberOtherThan0Or1_IsRefused(double value)
    {
        var e = Assert.Throws<HyperparameterException>(() => OptimizerCatalog.Create("adam", new Dictionary<string, double> { ["amsgrad"] = value }));

        Assert.StartsWith("adam: Amsgrad must be true or false (1 or 0), got ", e.Message, System.StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0, false)]
    [InlineData(1, true)]
    public void BoolFrom0Or1_IsAccepted(double value, bool expected)
    {
        var rule = (Adam)OptimizerCatalog.Create("adam", new Dictionary<string, double> { ["amsgrad"] = value });

        Assert.Equal(expected, rule.Amsgrad);
    }

    [Theory]
    [InlineData("\"amsgrad\": 0.5", "case.json: adam: Amsgrad must be true or false (1 or 0), got 0.5.")]
    [InlineData("\"lr\": 1e300", "case.json: adam: Lr must be a float32 (|value| ≤ 3.4028235E+38), got 1E+300.")]
    public void ReplayCaseHyperparameters_AreConvertedByType(string hyperparameter, string message)
    {
        var reference = Reference.ReferenceCase.Parse(
            "{\"torch_optimizer\": \"Adam\", \"hyperparameters\": {" + hyperparameter + "}, \"initial\": [1], \"gradients\": [[1]], \"expected\": [[1]]}", "case.json");

        Assert.Equal(message, Assert.Throws<Reference.ReferenceFormatException>(() => reference.CreateRule()).Message);
    }

    [Fact]
    public void SetterByName_RefusesANonBoolean()
    {
        using var arena = new Memory.ParameterArena();
        arena.Add("x", 4);
        arena.Build();
        using var optimizer = new Optimizer(arena, new Adam());

        var e = Assert.Throws<HyperparameterException>(() => optimizer.SetHyperparameter("amsgrad", 0.5));

        Assert.Equal("adam: Amsgrad must be true or false (1 or 0), got 0.5.", e.Message);
        Assert.Equal(0, optimizer.GetHyperparameter("amsgrad"));
    }

    [Fact]
    public void DescriptorConversions_CheckTheirType()
    {
        var d = OptimizerCatalog.Get("adam");
        double[] values = [0.001, 0.9, 0.999, 1e-8, 0, 1];

        Assert.Equal(0.001f, d.ToFloat(values, 0));
        Assert.True(d.ToBool(values, 5));
        Assert.Throws<HyperparameterException>(() => d.ToInt([0.001, 0.9, 0.999, 1e-8, 2.5, 1], 4));
        Assert.Throws<HyperparameterException>(() => d.ToFloat([1, 2], 0));
    }
}

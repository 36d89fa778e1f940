using System;
using System.Collections.Generic;
using FusedOpt.Optimizers;
using Xunit;

namespace FusedOpt.Tests;

/// <summary>Hyperparameters are validated with messages that name the optimizer, the hyperparameter and the value.</summary>
public sealed class ValidationTests
{
    [Fact]
    public void Adam_Beta1OutsideUnitInterval_IsRejected() =>
        Assert.Equal("adam: Beta1 must be in [0, 1), got 1.2.", Assert.Throws<HyperparameterException>(() => new Adam(Beta1: 1.2f).Validate()).Message);

    [Fact]
    public void Sgd_NegativeLr_IsRejected() =>
        Assert.Equal("sgd: Lr must be ≥ 0, got -0.1.", Assert.Throws<HyperparameterException>(() => new Sgd(Lr: -0.1f).Validate()).Message);

    [Fact]
    public void NaN_IsRejected_EvenWithoutARange() =>
        Assert.Equal("sgd: Dampening must be a number, got NaN.", Assert.Throws<HyperparameterException>(() => new Sgd(Dampening: float.NaN).Validate()).Message);

    [Fact]
    public void RmsProp_AlphaAboveOne_IsRejected_BecauseItDrivesTheSquareAverageNegative() =>
        Assert.Equal("rmsprop: Alpha must be in [0, 1], got 1.5.", Assert.Throws<HyperparameterException>(() => new RmsProp(Alpha: 1.5f)).Message);

    [Fact]
    public void Sgd_NesterovWithoutMomentum_IsRejected_InASentence() =>
        Assert.Equal("sgd: Nesterov momentum requires a momentum > 0 and zero dampening.",
            Assert.Throws<HyperparameterException>(() => new Sgd(Nesterov: true).Validate()).Message);

    [Fact]
    public void Optimizer_ValidatesAtConstruction()
    {
        using var arena = new Memory.ParameterArena();
        arena.Add("x", 4);
        arena.Build();

        Assert.Throws<HyperparameterException>(() => new Optimizer(arena, new RmsProp(Alpha: -1f)));
    }

    [Fact]
    public void Catalog_UnknownOptimizer_ListsTheKnownOnes()
    {
        var e = Assert.Throws<KeyNotFoundException>(() => OptimizerCatalog.Get("adamm"));

        Assert.StartsWith("Unknown optimizer 'adamm'. Known optimizers: adabelief, adadelta, adagrad, adam,", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Catalog_UnknownHyperparameter_ListsTheKnownOnes()
    {
        var e = Assert.Throws<HyperparameterException>(() => OptimizerCatalog.Create("adam", new Dictionary<string, double> { ["momentum"] = 0.9 }));

        Assert.Equal("adam: unknown hyperparameter 'momentum'. Known: lr, beta1, beta2, eps, weight_decay, amsgrad.", e.Message);
    }

    [Fact]
    public void Catalog_AcceptsSnakeAndPascalNames()
    {
        var rule = (Adam)OptimizerCatalog.Create("adam", new Dictionary<string, double> { ["weight_decay"] = 0.5, ["Beta1"] = 0.8 });

        Assert.Equal(0.5f, rule.WeightDecay);
        Assert.Equal(0.8f, rule.Beta1);
    }
}

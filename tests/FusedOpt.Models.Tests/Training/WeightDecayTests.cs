using System;
using System.Collections.Generic;
using System.Linq;
using FusedOpt.Models.Data;
using FusedOpt.Models.Training;
using FusedOpt.Tests.Data;
using Xunit;

namespace FusedOpt.Tests.Training;

/// <summary>
/// Weight decay through the optimizer's per-group weight_decay: weights decayed, biases not, the formula written out
/// in the test as the oracle; --decay refused where the rule does the other kind.
/// </summary>
public sealed class WeightDecayTests : IDisposable
{
    private readonly SyntheticCifar10 _files = new(recordsPerTrainFile: 8, testRecords: 10);

    public void Dispose() => _files.Dispose();

    [Theory]
    [InlineData("adam", WeightDecayStyle.L2)]
    [InlineData("sgd", WeightDecayStyle.L2)]
    [InlineData("rmsprop", WeightDecayStyle.L2)]
    [InlineData("adamw", WeightDecayStyle.Decoupled)]
    [InlineData("adabelief", WeightDecayStyle.Decoupled)]
    [InlineData("sgd-momentum", WeightDecayStyle.None)]
    public void StyleOf_FindsWhatTheDeclarationDoes(string optimizer, WeightDecayStyle expected) =>
        Assert.Equal(expected, WeightDecay.StyleOf(OptimizerCatalog.Create(optimizer)));

    /// <summary>
    /// One SGD step (one batch holds the whole training set): with L2 decay λ, a weight moves by −η(g + λw) and a bias
    /// by −ηg, where g is what the same step without decay used.
    /// </summary>
    [Fact]
    public void L2_OnSgd_DecaysWeightsOnly_AsTheFormulaSays()
    {
        const double Eta = 0.05, Lambda = 0.3;
        var data = Cifar10.Load(_files.Folder, SyntheticCifar10.Options);
        var plain = new TrainOptions { Hidden = [8], Optimizer = "sgd", Hyperparameters = new Dictionary<string, double> { ["lr"] = Eta }, Epochs = 1, BatchSize = 40, Threads = 1 };
        using var a = new Trainer(data, plain);
        using var b = new Trainer(data, plain with { WeightDecay = Lambda });
        float[] w0 = a.Arena.Params.Span.ToArray();
        a.RunEpoch();
        b.RunEpoch();
        Assert.Equal(1, a.Iteration);

        foreach (var tensor in a.Arena.Tensors)
        {
            var p0 = w0.AsSpan((int)tensor.Offset, (int)tensor.Length);
            var pa = a.Arena.Param(tensor);
            var pb = b.Arena.Param(b.Arena[tensor.Name]);
            bool weight = tensor.Shape.Length == 2;
            Assert.Equal(weight ? WeightDecay.WeightGroup : WeightDecay.NoDecayGroup, tensor.Group);
            for (int i = 0; i < p0.Length; i++)
            {
                // pa = p0 − ηg, so the decayed step should land on pa − ηλ·p0 (weights) or pa (biases).
                double expected = pa[i] - (weight ? Eta * Lambda * p0[i] : 0);
                Assert.True(Math.Abs(pb[i] - expected) <= 1e-6 + (1e-5 * Math.Abs(expected)), $"{tensor.Name}[{i}]: expected {expected}, got {pb[i]}");
            }
        }
    }

    [Fact]
    public void Decoupled_OnAdamW_SetsWeightDecayOnTheWeightGroupOnly()
    {
        var options = new TrainOptions { Optimizer = "adamw", WeightDecay = 0.05, DecayMode = WeightDecayMode.Decoupled };

        var rules = WeightDecay.GroupRules(options, groups: 2);
        int index = rules[0].Descriptor.IndexOfHyperparameter("weight_decay");

        Assert.Equal(0.05, rules[WeightDecay.WeightGroup].GetHyperparameters()[index], 6);
        Assert.Equal(0, rules[WeightDecay.NoDecayGroup].GetHyperparameters()[index]);
    }

    [Fact]
    public void NoWeightDecay_LeavesTheRuleAsGiven_InEveryGroup()
    {
        var options = new TrainOptions { Optimizer = "adamw", Hyperparameters = new Dictionary<string, double> { ["lr"] = 0.01 } };

        var rules = WeightDecay.GroupRules(options, groups: 2);
        var given = OptimizerCatalog.Create("adamw", options.Hyperparameters).GetHyperparameters();

        Assert.All(rules, r => Assert.Equal(given, r.GetHyperparameters()));
    }

    [Theory]
    [InlineData("adam", WeightDecayMode.Decoupled, "--decay decoupled: the weight_decay of adam is L2 (added to the gradient); use --decay l2, or an optimizer with decoupled")]
    [InlineData("adamw", WeightDecayMode.L2, "--decay l2: the weight_decay of adamw is decoupled")]
    [InlineData("sgd-momentum", WeightDecayMode.L2, "sgd-momentum has no weight_decay hyperparameter")]
    public void DecayTheRuleCannotExpress_IsRefused(string optimizer, WeightDecayMode mode, string message)
    {
        var options = new TrainOptions { Optimizer = optimizer, WeightDecay = 1e-3, DecayMode = mode };

        var e = Assert.ThrowsAny<ArgumentException>(options.Validate);

        Assert.Contains(message, e.Message, StringComparison.Ordinal);
        if (optimizer == "adam")
        {
            Assert.Contains("adamw", e.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void WeightDecayAndSetWeightDecay_Together_AreRefused()
    {
        var options = new TrainOptions { WeightDecay = 1e-3, Hyperparameters = new Dictionary<string, double> { ["weight_decay"] = 1e-2 } };

        var e = Assert.ThrowsAny<ArgumentException>(options.Validate);

        Assert.Contains("--set weight_decay both given", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ModelCatalog_Fcn_RefusesAWidthMultiplier_AndUnknownModelsListTheCatalogue()
    {
        var width = Assert.ThrowsAny<ArgumentException>(new TrainOptions { Width = 2 }.Validate);
        var unknown = Assert.ThrowsAny<ArgumentException>(() => ModelCatalog.Get("vgg99"));

        Assert.Contains("--width 2: model fcn does not scale", width.Message, StringComparison.Ordinal);
        Assert.Contains("models: fcn", unknown.Message, StringComparison.Ordinal);
    }
}

using System;
using System.Linq;
using FusedOpt.Kernels;
using Xunit;

namespace FusedOpt.Tests;

/// <summary>A brand-new optimizer declared in this test project (<see cref="Lion"/>) is generated, registered and correct.</summary>
public sealed class LionTests
{
    [Fact]
    public void Lion_IsInTheCatalogue_WithItsHyperparameters()
    {
        var d = OptimizerCatalog.Get("lion");

        Assert.Equal(["Lr", "Beta1", "Beta2", "WeightDecay"], d.Hyperparameters.Select(static h => h.Name));
        Assert.Equal(["m"], d.States.Select(static s => s.Name));
        Assert.True(d.IsVectorized);
    }

    [Fact]
    public void Lion_MatchesAPlainLoop_OnEveryPath()
    {
        var rule = new Lion(Lr: 1e-2f, WeightDecay: 0.1f);
        var (p, grads) = TestData.Inputs(1001, 5);
        var expected = (float[])p.Clone();
        var m = new float[p.Length];
        foreach (var g in grads)
        {
            for (int i = 0; i < p.Length; i++)
            {
                expected[i] *= (float)(1 - (1e-2 * (double)0.1f));
                float c = (0.9f * m[i]) + ((float)(1 - (double)0.9f) * g[i]);
                expected[i] -= (float)(double)1e-2f * (c > 0 ? 1 : c < 0 ? -1 : 0);
                m[i] = (0.99f * m[i]) + ((float)(1 - (double)0.99f) * g[i]);
            }
        }

        foreach (var isa in TestData.SupportedIsas())
        {
            var run = TestData.Run(rule, p, grads, new OptimizerOptions { Isa = isa, Threads = 2 });
            TestData.AssertBitwiseEqual(expected, run.Params, $"lion {isa}");
            TestData.AssertBitwiseEqual(m, run.States[0], $"lion m {isa}");
        }
    }

    [Fact]
    public void Lion_ValidatesItsRanges()
    {
        var e = Assert.Throws<HyperparameterException>(() => new Lion(Beta2: 1f).Validate());

        Assert.Equal("lion: Beta2 must be in [0, 1), got 1.", e.Message);
    }
}

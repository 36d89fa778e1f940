using System;
using FusedOpt.Memory;
using FusedOpt.Optimizers;
using Xunit;

namespace FusedOpt.Tests;

/// <summary>
/// Setting a hyperparameter every step (a learning-rate schedule): by name or through a <see cref="HyperparameterHandle"/>,
/// it allocates nothing, reaches the next step's prologue, is validated like a new record, and never changes a rule
/// the optimizer has handed out.
/// </summary>
public sealed class HyperparameterHandleTests
{
    private static ParameterArena TwoGroups(int length = 300)
    {
        var (p, _) = TestData.Inputs(length, 1);
        var arena = new ParameterArena();
        var a = arena.Add("a", [length / 2], group: 0);
        var b = arena.Add("b", [length - length / 2], group: 1);
        arena.Build();
        p.AsSpan(0, length / 2).CopyTo(arena.Param(a));
        p.AsSpan(length / 2).CopyTo(arena.Param(b));
        return arena;
    }

    private static double Schedule(int step) => 1e-3 * (1 + Math.Cos(step * 0.01)) / 2 + 1e-5;

    [Theory]
    [InlineData("adam", 1)]
    [InlineData("adam", 2)]
    [InlineData("sgd", 2)]
    [InlineData("nadam", 2)]
    public void SetHyperparameterLr_AndStep_1000Times_AllocateNothing(string name, int threads)
    {
        using var arena = TwoGroups();
        arena.Grads.Span.Fill(0.01f);
        using var optimizer = new Optimizer(arena, OptimizerCatalog.Create(name), new OptimizerOptions { Threads = threads, MaxGradNorm = 1 });
        int step = 0;
        void Thousand()
        {
            for (int i = 0; i < 1000; i++, step++)
            {
                optimizer.SetHyperparameter("lr", Schedule(step));
                optimizer.Step();
            }
        }

        Thousand(); // warm-up: the first set takes the core's private copy of each group's record; methods tier up

        Assert.Equal(0, Allocations.OnThisThread(Thousand, windows: 3));
        Assert.Equal(Schedule(step - 1), optimizer.GetHyperparameter("lr", 1), 6);
    }

    [Fact]
    public void HandleSet_AndStep_1000Times_AllocateNothing()
    {
        using var arena = TwoGroups();
        arena.Grads.Span.Fill(-0.02f);
        using var optimizer = new Optimizer(arena, new AdamW(), new OptimizerOptions { Threads = 2 });
        var lr = optimizer.Hyperparameter("lr");
        int step = 0;
        void Thousand()
        {
            for (int i = 0; i < 1000; i++, step++)
            {
                lr.Set(Schedule(step));
                optimizer.Step();
            }
        }

        Thousand();

        Assert.Equal(0, Allocations.OnThisThread(Thousand, windows: 3));
        Assert.Equal("Lr", lr.Info.Name);
        Assert.Equal((double)(float)Schedule(step - 1), lr.Get(0));
    }

    /// <summary>Plain SGD against its formula written out here, p ← p − lr_t·g, with a different lr every step.</summary>
    [Fact]
    public void LrSetEveryStep_ReachesTheNextStep_AsTheFormulaSays()
    {
        const int Length = 100;
        var (p0, grads) = TestData.Inputs(Length, 20);
        using var arena = new ParameterArena();
        var x = arena.Add("x", Length);
        arena.Build();
        p0.CopyTo(arena.Param(x));
        using var optimizer = new Optimizer(arena, new Sgd(Lr: 0.1f));
        var lr = optimizer.Hyperparameter("lr");
        var expected = (float[])p0.Clone();
        for (int t = 0; t < grads.Length; t++)
        {
            float rate = 0.05f * (t + 1);
            lr.Set(rate);
            grads[t].CopyTo(arena.Grad(x));
            optimizer.Step();
            for (int i = 0; i < Length; i++)
            {
                expected[i] -= rate * grads[t][i];
            }
        }

        var actual = arena.Param(x);
        for (int i = 0; i < Length; i++)
        {
            Assert.True(Math.Abs(expected[i] - actual[i]) <= 1e-5f * Math.Max(1, Math.Abs(expected[i])), $"element {i}: formula {expected[i]:R}, optimizer {actual[i]:R}");
        }
    }

    /// <summary>Setting in place gives the same bits as replacing the rule with a new record of the same values (the old way).</summary>
    [Theory]
    [InlineData("adam")]
    [InlineData("radam")]
    [InlineData("adabelief")]
    public void SetInPlace_EqualsSetRuleWithANewRecord_Bitwise(string name)
    {
        var (p0, grads) = TestData.Inputs(257, 12);
        float[] Run(bool inPlace)
        {
            using var arena = new ParameterArena();
            var x = arena.Add("x", p0.Length);
            arena.Build();
            p0.CopyTo(arena.Param(x));
            var descriptor = OptimizerCatalog.Get(name);
            using var optimizer = new Optimizer(arena, descriptor.CreateDefault(), new OptimizerOptions { Threads = 2 });
            int lrIndex = descriptor.IndexOfHyperparameter("lr");
            for (int t = 0; t < grads.Length; t++)
            {
                double rate = 1e-2 / (t + 1);
                if (inPlace)
                {
                    optimizer.SetHyperparameter("lr", rate);
                }
                else
                {
                    var values = descriptor.CreateDefault().GetHyperparameters();
                    values[lrIndex] = rate;
                    optimizer.SetRule(0, descriptor.Create(values));
                }

                grads[t].CopyTo(arena.Grad(x));
                optimizer.Step();
            }

            return arena.Param(x).ToArray();
        }

        TestData.AssertBitwiseEqual(Run(inPlace: false), Run(inPlace: true), $"{name} with lr set every step");
    }

    [Fact]
    public void RuleHandedOut_IsNeverChangedByLaterSets()
    {
        using var arena = TwoGroups();
        var given = new Adam(Lr: 0.1f);
        using var optimizer = new Optimizer(arena, given);

        optimizer.SetHyperparameter("lr", 0.2);
        var first = (Adam)optimizer.GetRule(0);
        optimizer.SetHyperparameter("lr", 0.3, group: 0);
        optimizer.SetHyperparameter("lr", 0.4, group: 0);

        Assert.Equal(0.1f, given.Lr);
        Assert.Equal(0.2f, first.Lr);
        Assert.Equal(0.4f, ((Adam)optimizer.GetRule(0)).Lr);
        Assert.Equal(0.2f, ((Adam)optimizer.GetRule(1)).Lr);
    }

    [Fact]
    public void RefusedValue_LeavesTheGroupAsItWas()
    {
        using var arena = TwoGroups();
        arena.Grads.Span.Fill(0.5f);
        using var optimizer = new Optimizer(arena, new Sgd(Lr: 0.1f, Momentum: 0.9f, Dampening: 0.5f));
        var lr = optimizer.Hyperparameter("lr");
        lr.Set(0.25);                              // the core's private copy now exists: later sets write it in place

        var range = Assert.Throws<HyperparameterException>(() => lr.Set(-1));
        var constraint = Assert.Throws<HyperparameterException>(() => optimizer.SetHyperparameter("nesterov", 1));
        var type = Assert.Throws<HyperparameterException>(() => optimizer.SetHyperparameter("nesterov", 0.5));

        Assert.Equal("sgd: Lr must be ≥ 0, got -1.", range.Message);
        Assert.Contains("Nesterov momentum requires a momentum > 0 and zero dampening.", constraint.Message, StringComparison.Ordinal);
        Assert.Contains("Nesterov must be true or false", type.Message, StringComparison.Ordinal);
        for (int g = 0; g < 2; g++)
        {
            Assert.Equal(0.25, optimizer.GetHyperparameter("lr", g));
            Assert.Equal(0, optimizer.GetHyperparameter("nesterov", g));
            var rule = (Sgd)optimizer.GetRule(g);
            Assert.Equal(0.25f, rule.Lr);
            Assert.False(rule.Nesterov);
        }
    }

    [Fact]
    public void SwitchSetOn_AllocatesTheStateItNeeds()
    {
        using var arena = TwoGroups();
        using var optimizer = new Optimizer(arena, new Adam());
        optimizer.Hyperparameter("lr").Set(0.01);
        Assert.Null(optimizer.GetState(2));

        optimizer.Hyperparameter("amsgrad").Set(1, group: 1);

        Assert.NotNull(optimizer.GetState(2));
        Assert.Equal(36, optimizer.BytesPerParameter);
        Assert.False(((Adam)optimizer.GetRule(0)).Amsgrad);
        Assert.True(((Adam)optimizer.GetRule(1)).Amsgrad);
    }

    [Fact]
    public void Handle_AfterTheOptimizerIsDisposed_IsRefused()
    {
        using var arena = TwoGroups();
        var optimizer = new Optimizer(arena, new Adam());
        var lr = optimizer.Hyperparameter("lr");
        optimizer.Dispose();

        Assert.Throws<ObjectDisposedException>(() => lr.Set(0.1));
    }

    [Fact]
    public void UnknownName_IsAClearError()
    {
        using var arena = TwoGroups();
        using var optimizer = new Optimizer(arena, new Adam());

        var e = Assert.Throws<HyperparameterException>(() => optimizer.Hyperparameter("momentum"));

        Assert.Equal("adam: unknown hyperparameter 'momentum'. Known: lr, beta1, beta2, eps, weight_decay, amsgrad.", e.Message);
        Assert.Throws<InvalidOperationException>(() => default(HyperparameterHandle).Set(1));
    }
}

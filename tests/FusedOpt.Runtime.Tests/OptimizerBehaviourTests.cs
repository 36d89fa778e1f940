using System;
using System.Linq;
using FusedOpt.Kernels;
using FusedOpt.Memory;
using FusedOpt.Optimizers;
using Xunit;

namespace FusedOpt.Tests;

/// <summary>Parameter groups, skip-on-non-finite, clipping, unscaling, sweeps, state allocation and dispatch.</summary>
public sealed class OptimizerBehaviourTests
{
    [Fact]
    public void ParamGroups_UseTheirOwnHyperparameters()
    {
        var (p, grads) = TestData.Inputs(100, 5);
        using var arena = new ParameterArena();
        var a = arena.Add("a", [60], group: 0);
        var b = arena.Add("b", [40], group: 1);
        arena.Build();
        p.AsSpan(0, 60).CopyTo(arena.Param(a));
        p.AsSpan(60).CopyTo(arena.Param(b));
        using var optimizer = new Optimizer(arena, [new Adam(Lr: 1e-2f), new Adam(Lr: 1e-3f, WeightDecay: 0.1f)]);
        foreach (var g in grads)
        {
            g.AsSpan(0, 60).CopyTo(arena.Grad(a));
            g.AsSpan(60).CopyTo(arena.Grad(b));
            optimizer.Step();
        }

        var alone0 = TestData.Run(new Adam(Lr: 1e-2f), p[..60], [.. grads.Select(static g => g[..60])], new OptimizerOptions());
        var alone1 = TestData.Run(new Adam(Lr: 1e-3f, WeightDecay: 0.1f), p[60..], [.. grads.Select(static g => g[60..])], new OptimizerOptions());
        TestData.AssertBitwiseEqual(alone0.Params, arena.Param(a), "group 0");
        TestData.AssertBitwiseEqual(alone1.Params, arena.Param(b), "group 1");
        Assert.Equal(0, arena.Groups[1].Start % ParameterArena.ElementAlignment);
    }

    [Fact]
    public void SetRule_ChangesOneGroup_AndRejectsAnotherOptimizer()
    {
        using var arena = new ParameterArena();
        arena.Add("a", [10], group: 0);
        arena.Add("b", [10], group: 1);
        arena.Build();
        using var optimizer = new Optimizer(arena, new Sgd(Lr: 0.1f));

        optimizer.SetRule(1, new Sgd(Lr: 0.5f));

        Assert.Equal(0.1f, ((Sgd)optimizer.GetRule(0)).Lr);
        Assert.Equal(0.5f, ((Sgd)optimizer.GetRule(1)).Lr);
        var e = Assert.Throws<ArgumentException>(() => optimizer.SetRule(0, new Adam()));
        Assert.Contains("must use sgd like the others, not adam", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void SetHyperparameter_ChangesEveryGroup_OrOne_AndValidates()
    {
        using var arena = new ParameterArena();
        arena.Add("a", [4], group: 0);
        arena.Add("b", [4], group: 1);
        arena.Build();
        using var optimizer = new Optimizer(arena, new Adam());

        optimizer.SetHyperparameter("lr", 0.5);
        optimizer.SetHyperparameter("weight_decay", 0.25, group: 1);

        Assert.Equal(0.5, optimizer.GetHyperparameter("Lr", 0));
        Assert.Equal(0.5, optimizer.GetHyperparameter("lr", 1));
        Assert.Equal(0, optimizer.GetHyperparameter("weight_decay", 0));
        Assert.Equal(0.25, optimizer.GetHyperparameter("weight_decay", 1));
        Assert.Equal("adam: Lr must be ≥ 0, got -1.", Assert.Throws<HyperparameterException>(() => optimizer.SetHyperparameter("lr", -1)).Message);
        Assert.Throws<HyperparameterException>(() => optimizer.SetHyperparameter("momentum", 0.9));
    }

    [Fact]
    public void StateBytes_FromAStream_LoadLikeAFile()
    {
        var (p, grads) = TestData.Inputs(100, 4);
        using var arena = new ParameterArena();
        var x = arena.Add("x", 100);
        arena.Build();
        p.CopyTo(arena.Param(x));
        using var optimizer = new Optimizer(arena, new Adam());
        grads[0].CopyTo(arena.Grad(x));
        optimizer.Step();
        using var stream = new System.IO.MemoryStream();
        optimizer.Save(stream);
        var saved = arena.Param(x).ToArray();
        optimizer.Step();

        optimizer.Load(stream.ToArray(), "memory");

        TestData.AssertBitwiseEqual(saved, arena.Param(x), "restored");
        Assert.Equal(1, optimizer.GetStepCount());
    }

    [Theory]
    [InlineData(float.NaN)]
    [InlineData(float.PositiveInfinity)]
    [InlineData(float.NegativeInfinity)]
    public void NonFiniteGradient_SkipsTheStep_AndTouchesNothing(float bad)
    {
        var (p, grads) = TestData.Inputs(1000, 3);
        using var arena = new ParameterArena();
        var x = arena.Add("x", 1000);
        arena.Build();
        p.CopyTo(arena.Param(x));
        using var optimizer = new Optimizer(arena, new NAdam(), new OptimizerOptions { SkipNonFinite = true, Threads = 2 });
        grads[0].CopyTo(arena.Grad(x));
        optimizer.Step();
        var before = arena.Param(x).ToArray();
        var m = optimizer.GetState("m", x).ToArray();
        double muProduct = optimizer.GetStepStates()[0];

        grads[1].CopyTo(arena.Grad(x));
        arena.Grad(x)[777] = bad;
        var result = optimizer.Step();

        Assert.True(result.Skipped);
        Assert.Equal(1, optimizer.GetStepCount());
        Assert.Equal(muProduct, optimizer.GetStepStates()[0]);
        TestData.AssertBitwiseEqual(before, arena.Param(x), "params");
        TestData.AssertBitwiseEqual(m, optimizer.GetState("m", x), "m");
    }

    [Fact]
    public void Clipping_EqualsScalingTheGradients_ByMaxNormOverNorm()
    {
        var (p, grads) = TestData.Inputs(500, 1);
        double norm = Math.Sqrt(grads[0].Sum(static g => (double)g * g));
        double max = norm / 4;
        var scaled = grads[0].Select(g => (float)(g * (float)(max / (norm + 1e-6)))).ToArray();

        var clipped = TestData.Run(new Sgd(Lr: 0.1f), p, grads, new OptimizerOptions { MaxGradNorm = max });
        var manual = TestData.Run(new Sgd(Lr: 0.1f), p, [scaled], new OptimizerOptions());

        TestData.AssertBitwiseEqual(manual.Params, clipped.Params, "clipped");
    }

    [Fact]
    public void LossScale_IsDividedOut()
    {
        var (p, grads) = TestData.Inputs(300, 3);
        var scaledGrads = grads.Select(static g => g.Select(static x => x * 1024f).ToArray()).ToArray();

        var plain = TestData.Run(new Adam(), p, grads, new OptimizerOptions());
        var unscaled = TestData.Run(new Adam(), p, scaledGrads, new OptimizerOptions(), lossScale: 1024);

        TestData.AssertBitwiseEqual(plain.Params, unscaled.Params, "unscaled");
    }

    [Fact]
    public void StepResult_ReportsTheGradientNorm()
    {
        using var arena = new ParameterArena();
        var x = arena.Add("x", 2);
        arena.Build();
        arena.Grad(x)[0] = 3;
        arena.Grad(x)[1] = 4;
        using var optimizer = new Optimizer(arena, new Sgd(), new OptimizerOptions { MaxGradNorm = 100 });

        var result = optimizer.Step();

        Assert.Equal(5, result.GradNorm!.Value, 12);
        Assert.Equal(1, result.GradScale);
    }

    [Fact]
    public void PerTensorSweep_EqualsArenaSweep()
    {
        using var arena = new ParameterArena();
        var tensors = Enumerable.Range(0, 7).Select(i => arena.Add($"t{i}", [13 * i + 5])).ToList();
        arena.Build();
        var (p, grads) = TestData.Inputs((int)arena.Length, 3);

        float[] RunWith(SweepMode sweep)
        {
            p.CopyTo(arena.Params.Span);
            using var optimizer = new Optimizer(arena, new RAdam(), new OptimizerOptions { Sweep = sweep, Threads = 2 });
            foreach (var g in grads)
            {
                g.CopyTo(arena.Grads.Span);
                optimizer.Step();
            }

            // Only the tensors: the per-tensor sweep leaves the alignment padding between them alone.
            return [.. tensors.SelectMany(t => arena.Param(t).ToArray())];
        }

        TestData.AssertBitwiseEqual(RunWith(SweepMode.Arena), RunWith(SweepMode.PerTensor), "per-tensor");
    }

    [Fact]
    public void Amsgrad_Off_AllocatesNoVMax_AndOn_Does()
    {
        using var arena = new ParameterArena();
        arena.Add("x", 64);
        arena.Build();

        using (var off = new Optimizer(arena, new Adam()))
        {
            Assert.Null(off.GetState(2));
            Assert.Equal(28, off.BytesPerParameter);
        }

        using var on = new Optimizer(arena, new Adam(Amsgrad: true));
        Assert.NotNull(on.GetState(2));
        Assert.Equal(36, on.BytesPerParameter);
    }

    [Fact]
    public void Momentum_Zero_AllocatesNoBuffer_AndSgdMovesTwelveBytes()
    {
        using var arena = new ParameterArena();
        arena.Add("x", 64);
        arena.Build();

        using var sgd = new Optimizer(arena, new Sgd());

        Assert.Null(sgd.GetState(0));
        Assert.Equal(12, sgd.BytesPerParameter);
    }

    [Fact]
    public void InitialFrom_FillsTheStateWithTheHyperparameter()
    {
        using var arena = new ParameterArena();
        var x = arena.Add("x", 20);
        arena.Build();

        using var optimizer = new Optimizer(arena, new Adagrad(InitialAccumulatorValue: 0.25f));

        Assert.All(optimizer.GetState("sum", x).ToArray(), static v => Assert.Equal(0.25f, v));
    }

    [Fact]
    public void SameSeedAndThreads_GiveIdenticalResults()
    {
        var (p, grads) = TestData.Inputs(100_003, 3);

        var first = TestData.Run(new AdamW(), p, grads, new OptimizerOptions { Threads = 2 });
        var second = TestData.Run(new AdamW(), p, grads, new OptimizerOptions { Threads = 2 });

        TestData.AssertBitwiseEqual(first.Params, second.Params, "repeat");
    }

    [Fact]
    public void Partition_IsCacheLineAligned_AndCoversTheRange()
    {
        foreach (long length in new long[] { 0, 1, 15, 16, 17, 1_000_003 })
        {
            foreach (int parts in new[] { 1, 2, 3, 8 })
            {
                long covered = 0;
                for (int part = 0; part < parts; part++)
                {
                    var (s, e) = Threading.Partition.Of(length, part, parts);
                    Assert.Equal(covered, s);
                    Assert.True(s % 16 == 0 || s == length);
                    covered = e;
                }

                Assert.Equal(length, covered);
            }
        }
    }

    [Fact]
    public void ForcingAnIsa_ThisMachineLacks_IsAClearError()
    {
        if (IsaSupport.Best == Isa.Avx512)
        {
            Assert.Skip("This machine supports every path.");
        }

        var e = Assert.Throws<PlatformNotSupportedException>(() => IsaSupport.Resolve(Isa.Avx512));
        Assert.Contains("avx512 path was requested", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void IsaNames_Parse_AndBadOnesAreNamed()
    {
        Assert.Equal(Isa.Avx2, IsaSupport.Parse("AVX2", "test"));
        Assert.Null(IsaSupport.Parse("auto", "test"));
        var e = Assert.Throws<ArgumentException>(() => IsaSupport.Parse("sse9", "FUSEDOPT_ISA"));
        Assert.Equal("FUSEDOPT_ISA: 'sse9' is not an instruction set; expected avx512, avx2, scalar or auto.", e.Message);
    }

    [Fact]
    public void ArenaErrors_NameTheTensor()
    {
        using var arena = new ParameterArena();
        arena.Add("w", 3, 4);
        Assert.Contains("'w' is already registered", Assert.Throws<ArgumentException>(() => arena.Add("w", 2)).Message, StringComparison.Ordinal);
        Assert.Contains("negative dimension -1", Assert.Throws<ArgumentOutOfRangeException>(() => arena.Add("b", 3, -1)).Message, StringComparison.Ordinal);
        Assert.Throws<InvalidOperationException>(() => new Optimizer(arena, new Sgd()));
        arena.Build();
        Assert.Contains("already built", Assert.Throws<InvalidOperationException>(() => arena.Add("late", 1)).Message, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(KernelAgreementTests.Configurations), MemberType = typeof(KernelAgreementTests))]
    public void Loss_GoesDown_OnAQuadratic(string name, int configuration)
    {
        // f(x) = ½ Σ aᵢ xᵢ², aᵢ ∈ [0.5, 2]: every optimizer must make progress within 200 steps at a learning rate
        // suited to it (the defaults of SGD-like rules are too small to show progress quickly).
        var hyper = new System.Collections.Generic.Dictionary<string, double>(TestData.Configurations[name][configuration]);
        if (!hyper.ContainsKey("lr") && name is not "adadelta")
        {
            hyper["lr"] = name.StartsWith("sgd", StringComparison.Ordinal) ? 0.05 : 0.01;
        }

        var rule = OptimizerCatalog.Create(name, hyper);
        using var arena = new ParameterArena();
        var x = arena.Add("x", 256);
        arena.Build();
        var a = Enumerable.Range(0, 256).Select(static i => 0.5f + (1.5f * i / 255)).ToArray();
        arena.Param(x).Fill(1f);
        double Loss() => 0.5 * Enumerable.Range(0, 256).Sum(i => (double)a[i] * arena.Param(x)[i] * arena.Param(x)[i]);
        double initial = Loss();
        using var optimizer = new Optimizer(arena, rule);

        for (int step = 0; step < 200; step++)
        {
            for (int i = 0; i < 256; i++)
            {
                arena.Grad(x)[i] = a[i] * arena.Param(x)[i];
            }

            optimizer.Step();
        }

        Assert.True(Loss() < 0.9 * initial, $"{name}#{configuration}: loss {initial} → {Loss()}");
    }
}

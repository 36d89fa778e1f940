using System;
using System.Collections.Generic;
using System.Linq;
using FusedOpt.Memory;
using FusedOpt.Optimizers;
using Xunit;

namespace FusedOpt.Tests;

/// <summary>
/// A step taken tensor by tensor (<see cref="Optimizer.BeginStep"/>, <see cref="Optimizer.StepTensors"/>,
/// <see cref="Optimizer.EndStep"/>), as the step inside backward takes it: the bits of <see cref="Optimizer.Step"/> for
/// every library optimizer and configuration, in any order and grouping of tensors; what it refuses, and why.
/// </summary>
public sealed class StepInBackwardApiTests
{
    public static IEnumerable<TheoryDataRow<string, int>> Configurations() => TestData.ConfigurationRows();

    /// <summary>
    /// Seven tensors of odd lengths in two groups (group 1 with its own learning rate), as a model registers weights and
    /// biases; t4 is large enough to be stepped on the worker pool, the others are stepped on the calling thread.
    /// </summary>
    private static (ParameterArena Arena, TensorSlot[] Tensors) Arena()
    {
        var arena = new ParameterArena();
        var tensors = Enumerable.Range(0, 7).Select(i => arena.Add($"t{i}", [i == 4 ? 70_001 : (37 * i) + 5], group: i % 2)).ToArray();
        arena.Build();
        return (arena, tensors);
    }

    private static (float[] Params, float[][] States) Run(IOptimizerRule rule, int threads, double lossScale, Action<Optimizer, int>? partial)
    {
        var (arena, tensors) = Arena();
        using (arena)
        {
            var (p, grads) = TestData.Inputs((int)arena.Length, 4);
            p.CopyTo(arena.Params.Span);
            var rules = new[] { rule, rule };
            using var optimizer = new Optimizer(arena, rules, new OptimizerOptions { Threads = threads });
            optimizer.SetHyperparameter("lr", 0.5 * optimizer.GetHyperparameter("lr", 1), group: 1);
            for (int s = 0; s < grads.Length; s++)
            {
                grads[s].CopyTo(arena.Grads.Span);
                if (partial is null)
                {
                    optimizer.Step(lossScale);
                }
                else
                {
                    optimizer.BeginStep(lossScale);
                    partial(optimizer, s);
                    var result = optimizer.EndStep();
                    Assert.Equal(s + 1, result.StepCount);
                    Assert.Equal(1 / lossScale, result.GradScale);
                }
            }

            float[] Tensors(Span<float> buffer)
            {
                var values = new List<float>();
                foreach (var t in tensors)
                {
                    values.AddRange(buffer.Slice((int)t.Offset, (int)t.Length));
                }

                return [.. values];
            }

            var states = Enumerable.Range(0, optimizer.Descriptor.States.Count).Select(i => optimizer.GetState(i) is { } b ? Tensors(b.Span) : []).ToArray();
            return (Tensors(arena.Params.Span), states);
        }
    }

    private static void AssertSame((float[] Params, float[][] States) expected, (float[] Params, float[][] States) actual, string what)
    {
        TestData.AssertBitwiseEqual(expected.Params, actual.Params, what + " parameters");
        for (int s = 0; s < expected.States.Length; s++)
        {
            TestData.AssertBitwiseEqual(expected.States[s], actual.States[s], $"{what} state {s}");
        }
    }

    [Theory]
    [MemberData(nameof(Configurations))]
    public void TensorByTensor_InBackwardOrder_EqualsTheStep_Bitwise(string name, int configuration)
    {
        var rule = OptimizerCatalog.Create(name, TestData.Configurations[name][configuration]);
        foreach (int threads in new[] { 1, 2 })
        {
            foreach (double lossScale in new[] { 1.0, 8.0 })
            {
                var step = Run(rule, threads, lossScale, partial: null);

                // Last layer first, a layer's tensors at once (pairs), then one at a time in another order every step.
                var pairs = Run(rule, threads, lossScale, static (o, _) =>
                {
                    o.StepTensors(6, 1);
                    o.StepTensors(4, 2);
                    o.StepTensors(2, 2);
                    o.StepTensors(0, 2);
                });
                var single = Run(rule, threads, lossScale, (o, s) =>
                {
                    foreach (var t in o.Arena.Tensors.OrderBy(t => (t.Index * (s + 3)) % 7))
                    {
                        o.StepTensor(t);
                    }
                });

                AssertSame(step, pairs, $"{name}#{configuration} ×{threads} scale {lossScale} pairs");
                AssertSame(step, single, $"{name}#{configuration} ×{threads} scale {lossScale} one by one");
            }
        }
    }

    [Fact]
    public void BeginStep_WithGradientClipping_IsRefusedNamingTheOption_AndChangesNothing()
    {
        var (arena, _) = Arena();
        using (arena)
        {
            using var optimizer = new Optimizer(arena, new Adam(), new OptimizerOptions { MaxGradNorm = 1 });

            var e = Assert.Throws<NotSupportedException>(() => optimizer.BeginStep());

            Assert.Contains("MaxGradNorm = 1", e.Message, StringComparison.Ordinal);
            Assert.Contains("every gradient", e.Message, StringComparison.Ordinal);
            Assert.Equal(0, optimizer.GetStepCount());
            Assert.False(optimizer.IsStepOpen);
            optimizer.Step();   // the separate step still clips
            Assert.Equal(1, optimizer.GetStepCount());
        }
    }

    [Fact]
    public void BeginStep_WithSkipOnNonFinite_IsRefusedNamingTheOption()
    {
        var (arena, _) = Arena();
        using (arena)
        {
            using var optimizer = new Optimizer(arena, new Sgd(), new OptimizerOptions { SkipNonFinite = true });

            var e = Assert.Throws<NotSupportedException>(() => optimizer.BeginStep(lossScale: 1024));

            Assert.Contains("SkipNonFinite", e.Message, StringComparison.Ordinal);
            Assert.Equal(0, optimizer.GetStepCount());
        }
    }

    [Fact]
    public void OpenStep_RefusesATensorTwice_AnotherStep_AndAnyHyperparameterChange()
    {
        var (arena, tensors) = Arena();
        using (arena)
        {
            using var optimizer = new Optimizer(arena, new Adam());
            var lr = optimizer.Hyperparameter("lr");
            optimizer.BeginStep();
            optimizer.StepTensors(5, 2);

            Assert.Contains("'t6' was already stepped", Assert.Throws<InvalidOperationException>(() => optimizer.StepTensor(tensors[6])).Message, StringComparison.Ordinal);
            Assert.Contains("EndStep first", Assert.Throws<InvalidOperationException>(() => optimizer.Step()).Message, StringComparison.Ordinal);
            Assert.Contains("EndStep first", Assert.Throws<InvalidOperationException>(() => optimizer.BeginStep()).Message, StringComparison.Ordinal);
            Assert.Contains("set a hyperparameter", Assert.Throws<InvalidOperationException>(() => lr.Set(0.1)).Message, StringComparison.Ordinal);
            Assert.Contains("replace a rule", Assert.Throws<InvalidOperationException>(() => optimizer.SetRule(0, new Adam(Lr: 0.1f))).Message, StringComparison.Ordinal);
            Assert.Throws<ArgumentOutOfRangeException>(() => optimizer.StepTensors(6, 2));
            Assert.Equal(1e-3, optimizer.GetHyperparameter("lr"), 6);
        }
    }

    [Fact]
    public void EndStep_WithTensorsLeftOut_NamesThem_AndClosesTheStep()
    {
        var (arena, _) = Arena();
        using (arena)
        {
            using var optimizer = new Optimizer(arena, new Adam());
            optimizer.BeginStep();
            optimizer.StepTensors(0, 5);

            var e = Assert.Throws<InvalidOperationException>(() => optimizer.EndStep());

            Assert.Contains("2 of 7 tensors not stepped (t5, t6)", e.Message, StringComparison.Ordinal);
            Assert.False(optimizer.IsStepOpen);
            Assert.Contains("No step is open", Assert.Throws<InvalidOperationException>(() => optimizer.StepTensors(5, 1)).Message, StringComparison.Ordinal);
            Assert.Contains("No step is open", Assert.Throws<InvalidOperationException>(() => optimizer.EndStep()).Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void StepTensor_OfAnotherArena_IsRefused()
    {
        var (arena, _) = Arena();
        var (other, otherTensors) = Arena();
        using (arena)
        using (other)
        {
            using var optimizer = new Optimizer(arena, new Adam());
            optimizer.BeginStep();

            var e = Assert.Throws<ArgumentException>(() => optimizer.StepTensor(otherTensors[0]));

            Assert.Contains("'t0' is not in this optimizer's arena", e.Message, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void TensorByTensorSteps_AllocateNothing(int threads)
    {
        var (arena, _) = Arena();
        using (arena)
        {
            using var optimizer = new Optimizer(arena, new Adam(WeightDecay: 0.01f), new OptimizerOptions { Threads = threads });
            var lr = optimizer.Hyperparameter("lr");
            void Steps()
            {
                for (int i = 0; i < 100; i++)
                {
                    lr.Set(1e-3 + (i * 1e-6));
                    optimizer.BeginStep();
                    optimizer.StepTensors(4, 3);
                    optimizer.StepTensor(arena.Tensors[3]);
                    optimizer.StepTensors(0, 3);
                    optimizer.EndStep();
                }
            }

            Steps();
            Assert.Equal(0, Allocations.OnThisThread(Steps, windows: 3));
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void ZeroGradients_ZeroesExactlyTheSteppedTensorsGradients_AndChangesNoOtherBit(int threads)
    {
        // Lengths across the 16K-element zeroing chunk, and a tensor left for a second call.
        int[] lengths = [40_000, 16_384, 7];
        var (p0, grads) = TestData.Inputs(lengths.Sum(), 2, seed: 8);
        using var a = Arena(lengths, out var ta);
        using var b = Arena(lengths, out var tb);
        foreach (var (arena, tensors) in new[] { (a, ta), (b, tb) })
        {
            int at = 0;
            foreach (var t in tensors)
            {
                p0.AsSpan(at, (int)t.Length).CopyTo(arena.Param(t));
                at += (int)t.Length;
            }
        }

        using var plain = new Optimizer(a, new Adam(WeightDecay: 0.01f), new OptimizerOptions { Threads = threads });
        using var zeroing = new Optimizer(b, new Adam(WeightDecay: 0.01f), new OptimizerOptions { Threads = threads });
        foreach (var g in grads)
        {
            foreach (var (arena, tensors) in new[] { (a, ta), (b, tb) })
            {
                int at = 0;
                foreach (var t in tensors)
                {
                    g.AsSpan(at, (int)t.Length).CopyTo(arena.Grad(t));
                    at += (int)t.Length;
                }
            }

            plain.BeginStep();
            plain.StepTensors(0, 3);
            plain.EndStep();
            zeroing.BeginStep();
            zeroing.StepTensors(1, 2, zeroGradients: true);
            Assert.All(b.Grad(tb[1]).ToArray(), static x => Assert.Equal(0f, x));
            Assert.All(b.Grad(tb[2]).ToArray(), static x => Assert.Equal(0f, x));
            TestData.AssertBitwiseEqual(a.Grad(ta[0]), b.Grad(tb[0]), "the tensor not stepped yet keeps its gradient");
            Assert.False(zeroing.GradientsZeroed);
            zeroing.StepTensors(0, 1, zeroGradients: true);
            zeroing.EndStep();
            Assert.All(b.Grads.Span.ToArray(), static x => Assert.Equal(0f, x));
            Assert.True(zeroing.GradientsZeroed);
            Assert.False(plain.GradientsZeroed);   // stepped without zeroing
        }

        TestData.AssertBitwiseEqual(a.Params.Span, b.Params.Span, "parameters");
        for (int k = 0; k < 2; k++)
        {
            TestData.AssertBitwiseEqual(plain.GetState(k)!.Span, zeroing.GetState(k)!.Span, $"state {k}");
        }

        static ParameterArena Arena(int[] lengths, out TensorSlot[] tensors)
        {
            var arena = new ParameterArena();
            tensors = [.. lengths.Select((n, i) => arena.Add($"t{i}", n))];
            arena.Build();
            return arena;
        }
    }
}

using System;
using System.Collections.Generic;
using FusedOpt.Kernels;
using FusedOpt.Memory;

namespace FusedOpt.Tests;

/// <summary>Deterministic test inputs and helpers shared by the runtime tests.</summary>
internal static class TestData
{
    /// <summary>Hyperparameter sets that switch on every branch of each library optimizer.</summary>
    public static readonly IReadOnlyDictionary<string, Dictionary<string, double>[]> Configurations = new Dictionary<string, Dictionary<string, double>[]>
    {
        ["sgd"] = [[], new() { ["momentum"] = 0.9, ["weight_decay"] = 0.01, ["dampening"] = 0.1 }, new() { ["momentum"] = 0.9, ["nesterov"] = 1 }],
        ["adam"] = [[], new() { ["weight_decay"] = 0.01, ["amsgrad"] = 1 }],
        ["adamw"] = [[], new() { ["amsgrad"] = 1 }],
        ["adamax"] = [new() { ["weight_decay"] = 0.01 }],
        ["nadam"] = [new() { ["weight_decay"] = 0.01 }],
        ["radam"] = [[], new() { ["weight_decay"] = 0.01 }],
        ["adagrad"] = [new() { ["lr_decay"] = 0.01, ["weight_decay"] = 0.01, ["initial_accumulator_value"] = 0.1 }],
        ["adadelta"] = [new() { ["weight_decay"] = 0.01 }],
        ["rmsprop"] = [[], new() { ["momentum"] = 0.9, ["centered"] = 1, ["weight_decay"] = 0.01 }],
        ["adabelief"] = [[], new() { ["amsgrad"] = 1, ["weight_decay"] = 0.01 }, new() { ["rectify"] = 1 }, new() { ["rectify"] = 1, ["degenerated_to_sgd"] = 0 }],
        ["sgd-ema"] = [[]],
        ["sgd-momentum"] = [[]],
        ["sgd-nesterov"] = [[]],
        ["nadam-survey"] = [[]],
        ["lion"] = [[], new() { ["weight_decay"] = 0.1 }],
        ["hardening-negation"] = [[]],
        ["hardening-keywords"] = [[], new() { ["fixed"] = 0 }],
    };

    /// <summary>Parameters in [−2, 2], and gradients spanning 1e-6 … 1e2 with exact zeros, from a fixed seed.</summary>
    /// <summary>Every (optimizer, configuration index) of <see cref="Configurations"/>, as theory rows.</summary>
    public static IEnumerable<Xunit.TheoryDataRow<string, int>> ConfigurationRows()
    {
        foreach (var (name, configurations) in Configurations)
        {
            for (int i = 0; i < configurations.Length; i++)
            {
                yield return new Xunit.TheoryDataRow<string, int>(name, i);
            }
        }
    }

    public static (float[] Params, float[][] Grads) Inputs(int length, int steps, int seed = 1234)
    {
        var rng = new Random(seed);
        var p = new float[length];
        for (int i = 0; i < length; i++)
        {
            p[i] = (float)(rng.NextDouble() * 4 - 2);
        }

        var grads = new float[steps][];
        for (int s = 0; s < steps; s++)
        {
            grads[s] = new float[length];
            for (int i = 0; i < length; i++)
            {
                double magnitude = Math.Pow(10, rng.NextDouble() * 8 - 6);
                grads[s][i] = rng.Next(10) == 0 ? 0f : (float)(rng.Next(2) == 0 ? -magnitude : magnitude);
            }
        }

        return (p, grads);
    }

    /// <summary>Runs <paramref name="steps"/> steps on one tensor and returns the final parameters and states.</summary>
    public static (float[] Params, float[]?[] States) Run(IOptimizerRule rule, float[] initial, float[][] grads, OptimizerOptions options, double lossScale = 1)
    {
        using var arena = new ParameterArena();
        var x = arena.Add("x", initial.Length);
        arena.Build();
        initial.CopyTo(arena.Param(x));
        using var optimizer = new Optimizer(arena, rule, options);
        foreach (var g in grads)
        {
            g.CopyTo(arena.Grad(x));
            optimizer.Step(lossScale);
        }

        var states = new float[]?[rule.Descriptor.States.Count];
        for (int s = 0; s < states.Length; s++)
        {
            states[s] = optimizer.GetState(s) is { } b ? b.Slice(0, initial.Length).ToArray() : null;
        }

        return (arena.Param(x).ToArray(), states);
    }

    /// <summary>Asserts bitwise equality, printing the first mismatches with index, expected and actual.</summary>
    public static void AssertBitwiseEqual(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, string what)
    {
        Xunit.Assert.Equal(expected.Length, actual.Length);
        var mismatches = new List<string>();
        for (int i = 0; i < expected.Length && mismatches.Count < 5; i++)
        {
            if (BitConverter.SingleToInt32Bits(expected[i]) != BitConverter.SingleToInt32Bits(actual[i]))
            {
                mismatches.Add($"[{i}] expected {expected[i]:R} got {actual[i]:R}");
            }
        }

        Xunit.Assert.True(mismatches.Count == 0, $"{what}: {string.Join("; ", mismatches)}");
    }

    public static IEnumerable<Isa> SupportedIsas()
    {
        foreach (var isa in new[] { Isa.Avx512, Isa.Avx2, Isa.Scalar })
        {
            if (IsaSupport.IsSupported(isa))
            {
                yield return isa;
            }
        }
    }
}

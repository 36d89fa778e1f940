using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using FusedOpt.Kernels;
using Xunit;

namespace FusedOpt.Tests;

/// <summary>
/// Every path the generator emits from its IR — fused Vector512, Vector256 and scalar with 1 and 2 threads, the naive
/// multi-pass step and the ILGPU kernel — against the independent oracle: the record's own <c>Update</c> run element by
/// element (<see cref="ReferencePath"/>), which shares nothing with the IR. A parse or analysis bug that every IR path
/// shares (they agree bitwise with each other) fails here.
/// </summary>
/// <remarks>
/// The comparison is within a tolerance, not bitwise: the kernels compute step-invariant scalars (bias corrections,
/// <c>MathF.Pow(β, t)</c>) in float64 and round once, where the user's code computes them in float32 and rounds at each
/// operation. |path − oracle| ≤ <see cref="Absolute"/> + <see cref="Relative"/>·|oracle| on every element of the
/// parameters and of every state; a failure prints the first mismatches and the largest error.
/// </remarks>
public sealed class OracleAgreementTests
{
    /// <summary>Absolute part of the tolerance.</summary>
    public const double Absolute = 1e-6;

    /// <summary>Relative part of the tolerance (float32 rounding of a few dozen operations over the steps).</summary>
    public const double Relative = 1e-4;

    public static readonly int[] Lengths = [0, 1, 15, 16, 17, 65, 100_003];

    public static IEnumerable<TheoryDataRow<string, int>> Configurations() => TestData.ConfigurationRows();

    [Theory]
    [MemberData(nameof(Configurations))]
    public void EveryCpuPath_AgreesWithTheOracle_OnAllLengths(string name, int configuration)
    {
        var rule = OptimizerCatalog.Create(name, TestData.Configurations[name][configuration]);
        foreach (int length in Lengths)
        {
            int steps = length > 1000 ? 2 : 8;
            var (p, grads) = TestData.Inputs(length, steps, seed: length + 7);
            var oracle = ReferencePath.Run(rule, p, grads);

            foreach (var isa in TestData.SupportedIsas())
            {
                foreach (int threads in new[] { 1, 2 })
                {
                    var run = TestData.Run(rule, p, grads, new OptimizerOptions { Isa = isa, Threads = threads });
                    AssertAgrees(oracle, run, $"{name}#{configuration} {IsaSupport.Name(isa)} ×{threads} n={length}");
                }
            }

            var naive = TestData.Run(rule, p, grads, new OptimizerOptions { Mode = StepMode.Naive, Threads = 2 });
            AssertAgrees(oracle, naive, $"{name}#{configuration} naive n={length}");
        }
    }

    [Theory]
    [InlineData("adam", 1)]
    [InlineData("nadam", 0)]
    [InlineData("hardening-negation", 0)]
    public void LossScaledGradients_AgreeWithTheOracle(string name, int configuration)
    {
        var rule = OptimizerCatalog.Create(name, TestData.Configurations[name][configuration]);
        var (p, grads) = TestData.Inputs(257, 4, seed: 5);
        var scaled = grads.Select(static g => g.Select(static x => x * 8f).ToArray()).ToArray();

        var oracle = ReferencePath.Run(rule, p, scaled, gradScale: 1f / 8);
        var run = TestData.Run(rule, p, scaled, new OptimizerOptions { Threads = 2 }, lossScale: 8);

        AssertAgrees(oracle, run, name + " loss scale 8");
    }

    [Fact]
    public void NAdamPerStepState_MatchesTheOracle()
    {
        var rule = OptimizerCatalog.Create("nadam");
        var (p, grads) = TestData.Inputs(33, 6);
        var oracle = ReferencePath.Run(rule, p, grads);

        using var arena = new Memory.ParameterArena();
        var x = arena.Add("x", p.Length);
        arena.Build();
        p.CopyTo(arena.Param(x));
        using var optimizer = new Optimizer(arena, rule, new OptimizerOptions());
        foreach (var g in grads)
        {
            g.CopyTo(arena.Grad(x));
            optimizer.Step();
        }

        double fused = optimizer.GetStepStates()[0];
        Assert.True(Math.Abs(fused - oracle.StepStates[0]) <= 1e-6 * Math.Abs(oracle.StepStates[0]),
            $"muProduct: kernels {fused:R}, oracle {oracle.StepStates[0]:R}");
    }

    internal static void AssertAgrees(ReferencePath.Result oracle, (float[] Params, float[]?[] States) actual, string what)
    {
        AssertClose(oracle.Params, actual.Params, what + " params");
        for (int s = 0; s < oracle.States.Length; s++)
        {
            if (oracle.States[s] is { } expected && actual.States[s] is { } got)
            {
                AssertClose(expected, got, $"{what} state {s}");
            }
            else
            {
                Assert.True(oracle.States[s] is null == actual.States[s] is null, $"{what} state {s}: allocated by one path only");
            }
        }
    }

    /// <summary>Asserts |actual − expected| ≤ atol + rtol·|expected| everywhere; prints the first mismatches and the largest error.</summary>
    internal static void AssertClose(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, string what, double absolute = Absolute, double relative = Relative)
    {
        Assert.Equal(expected.Length, actual.Length);
        var mismatches = new List<string>();
        double worst = 0;
        int worstAt = -1;
        for (int i = 0; i < expected.Length; i++)
        {
            double e = expected[i], a = actual[i];
            bool bothNaN = double.IsNaN(e) && double.IsNaN(a);
            double error = bothNaN ? 0 : e == a ? 0 : Math.Abs(a - e);
            if (double.IsNaN(error) || error > absolute + relative * Math.Abs(e))
            {
                if (mismatches.Count < 5)
                {
                    mismatches.Add(string.Create(CultureInfo.InvariantCulture, $"[{i}] oracle {expected[i]:R} got {actual[i]:R}"));
                }
            }

            if (!(error <= worst))
            {
                worst = error;
                worstAt = i;
            }
        }

        Assert.True(mismatches.Count == 0,
            string.Create(CultureInfo.InvariantCulture, $"{what}: {string.Join("; ", mismatches)}; largest error {worst:G3} at [{worstAt}]"));
    }
}

/// <summary>The generated ILGPU kernel (on ILGPU's CPU accelerator) against the oracle, on every configuration.</summary>
[Collection(IlgpuCpuCollection.Name)]
public sealed class GpuOracleAgreementTests(IlgpuCpuFixture fixture)
{
    public static readonly int[] Lengths = [0, 1, 15, 16, 17, 65, 4099];

    [Theory]
    [MemberData(nameof(OracleAgreementTests.Configurations), MemberType = typeof(OracleAgreementTests))]
    public void GpuKernel_AgreesWithTheOracle(string name, int configuration)
    {
        var rule = OptimizerCatalog.Create(name, TestData.Configurations[name][configuration]);
        foreach (int length in Lengths)
        {
            var (p, grads) = TestData.Inputs(length, 8, seed: length + 11);
            var oracle = ReferencePath.Run(rule, p, grads);

            var gpu = GpuTestData.RunOnDevice(fixture.Accelerator, rule, p, grads);

            OracleAgreementTests.AssertAgrees(oracle, gpu, $"{name}#{configuration} ILGPU CPU n={length}");
        }
    }
}

using System.Collections.Generic;
using System.Linq;
using FusedOpt.Kernels;
using Xunit;

namespace FusedOpt.Tests;

/// <summary>
/// The fused Vector512, Vector256 and scalar kernels and the naive multi-pass step compute the same bits — they run
/// the same operations in the same order — on every optimizer and switch combination, on lengths around the vector
/// widths and a large odd one, with 1 and 2 threads.
/// </summary>
public sealed class KernelAgreementTests
{
    public static readonly int[] Lengths = [0, 1, 15, 16, 17, 63, 64, 65, 1_000_003];

    public static IEnumerable<TheoryDataRow<string, int>> Configurations() => TestData.ConfigurationRows();

    [Fact]
    public void EveryLibraryOptimizer_HasConfigurations()
    {
        var missing = OptimizerCatalog.All.Select(static d => d.Name).Where(n => !TestData.Configurations.ContainsKey(n)).ToList();

        Assert.Empty(missing);
    }

    [Theory]
    [MemberData(nameof(Configurations))]
    public void FusedWidths_ThreadCounts_AndNaive_AgreeBitwise_OnAllLengths(string name, int configuration)
    {
        var rule = OptimizerCatalog.Create(name, TestData.Configurations[name][configuration]);
        foreach (int length in Lengths)
        {
            // Enough steps for step-dependent switches (SGD's first step, RAdam's ρₜ > 5) on short inputs.
            int steps = length > 100_000 ? 2 : 8;
            var (p, grads) = TestData.Inputs(length, steps, seed: length);
            var reference = TestData.Run(rule, p, grads, new OptimizerOptions { Isa = Isa.Scalar });

            foreach (var isa in TestData.SupportedIsas())
            {
                foreach (int threads in new[] { 1, 2 })
                {
                    var run = TestData.Run(rule, p, grads, new OptimizerOptions { Isa = isa, Threads = threads });
                    AssertSame(reference, run, $"{name}#{configuration} {IsaSupport.Name(isa)} ×{threads} n={length}");
                }
            }

            var naive = TestData.Run(rule, p, grads, new OptimizerOptions { Mode = StepMode.Naive, Threads = 2 });
            AssertSame(reference, naive, $"{name}#{configuration} naive n={length}");
        }
    }

    [Theory]
    [InlineData("adam")]
    [InlineData("sgd")]
    [InlineData("adabelief")]
    public void GradScaleSwitch_AgreesAcrossPaths(string name)
    {
        var rule = OptimizerCatalog.Create(name, TestData.Configurations[name][^1]);
        var (p, grads) = TestData.Inputs(1037, 4);
        var reference = TestData.Run(rule, p, grads, new OptimizerOptions { Isa = Isa.Scalar }, lossScale: 8);

        foreach (var isa in TestData.SupportedIsas())
        {
            AssertSame(reference, TestData.Run(rule, p, grads, new OptimizerOptions { Isa = isa, Threads = 2 }, lossScale: 8), $"{name} {isa}");
        }

        AssertSame(reference, TestData.Run(rule, p, grads, new OptimizerOptions { Mode = StepMode.Naive }, lossScale: 8), $"{name} naive");
    }

    private static void AssertSame((float[] Params, float[]?[] States) expected, (float[] Params, float[]?[] States) actual, string what)
    {
        TestData.AssertBitwiseEqual(expected.Params, actual.Params, what + " params");
        for (int s = 0; s < expected.States.Length; s++)
        {
            Assert.Equal(expected.States[s] is null, actual.States[s] is null);
            if (expected.States[s] is { } e)
            {
                TestData.AssertBitwiseEqual(e, actual.States[s], $"{what} state {s}");
            }
        }
    }
}

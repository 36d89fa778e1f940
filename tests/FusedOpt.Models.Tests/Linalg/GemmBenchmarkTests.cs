using System;
using FusedOpt.Kernels;
using FusedOpt.Models.Linalg;
using Xunit;

namespace FusedOpt.Tests.Linalg;

/// <summary>The benchmark API's shape and arithmetic. No timing threshold: speed is measured, never asserted.</summary>
public sealed class GemmBenchmarkTests
{
    [Fact]
    public void Run_ReportsConsistentFields()
    {
        var result = GemmBenchmark.Run(40, 50, 60, 1, new GemmBenchOptions { Warmup = 1, Repeats = 4, MinSeconds = 0.001, TransB = Transpose.T });

        Assert.Equal((40, 50, 60, 1), (result.M, result.N, result.K, result.Threads));
        Assert.Equal(Transpose.T, result.TransB);
        Assert.Equal(IsaSupport.Name(IsaSupport.Resolve()), result.Isa);
        Assert.True(result.Repeats >= 4);
        Assert.True(result.BestSeconds > 0 && result.BestSeconds <= result.MedianSeconds);
        Assert.Equal(2.0 * 40 * 50 * 60 / result.BestSeconds / 1e9, result.Gflops, 9);
        Assert.True(result.PeakGflops > 0);
        Assert.Equal(result.Gflops / result.PeakGflops, result.FractionOfPeak, 12);
        Assert.Contains("kc=256", result.Blocking, StringComparison.Ordinal);
        Assert.Contains("of measured peak", result.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Run_BadSizes_AreRejectedWithTheValues()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => GemmBenchmark.Run(0, 5, 5, 1));
        Assert.Contains("m = 0", e.Message, StringComparison.Ordinal);
        e = Assert.Throws<ArgumentOutOfRangeException>(() => GemmBenchmark.Run(5, 5, 5, 0));
        Assert.Contains("got 0", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Peak_IsPositive_AndCachedPerThreadCount()
    {
        double first = GemmPeak.Measure(1, Isa.Scalar);
        Assert.True(first > 0);
        Assert.Equal(first, GemmPeak.Measure(1, Isa.Scalar));
    }
}

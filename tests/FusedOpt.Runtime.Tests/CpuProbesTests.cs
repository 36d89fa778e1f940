using System;
using FusedOpt.Benchmarks;
using FusedOpt.Kernels;
using Xunit;

namespace FusedOpt.Tests;

/// <summary>
/// The CPU probes run at every vector width this machine has and give finite, positive costs labelled with that width;
/// the scalar path has no vector costs and is refused by name. (Only that the probes run and report: the numbers
/// themselves are timings and never checked.)
/// </summary>
public sealed class CpuProbesTests
{
    [Theory]
    [InlineData(Isa.Avx512, "avx512", 16)]
    [InlineData(Isa.Avx2, "avx2", 8)]
    public void MeasureVectorOps_AtEachWidth_GivesFinitePositiveCostsForThatWidth(Isa isa, string name, int lanes)
    {
        if (!IsaSupport.IsSupported(isa))
        {
            Assert.Skip($"This machine cannot run {name}.");
        }

        var costs = CpuProbes.MeasureVectorOps(isa);

        Assert.Equal(name, costs.Isa);
        Assert.Equal(lanes, costs.Lanes);
        foreach (var (what, value) in new[] { ("GHz", costs.FrequencyGHz), ("add", costs.Add), ("mul", costs.Mul), ("div", costs.Div), ("sqrt", costs.Sqrt) })
        {
            Assert.True(double.IsFinite(value) && value > 0, $"{what} = {value}");
        }
    }

    [Fact]
    public void MeasureVectorOps_Scalar_IsRefusedNamingIt()
    {
        var ex = Assert.Throws<ArgumentException>(() => CpuProbes.MeasureVectorOps(Isa.Scalar));
        Assert.Contains("scalar", ex.Message, StringComparison.Ordinal);
    }
}

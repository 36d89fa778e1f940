using FusedOpt.Models.Gadam;
using Xunit;

namespace FusedOpt.Tests.Gadam;

/// <summary>Gadam's keys and its unit draw from Philox words (Philox itself is tested in FusedOpt.Runtime.Tests).</summary>
public sealed class GadamRandomTests
{
    [Fact]
    public void Unit53_MapsTheExtremesInsideZeroToOne()
    {
        Assert.Equal(1.0 / (1UL << 53), GadamRandom.Unit53(0, 0));
        Assert.Equal(1.0, GadamRandom.Unit53(uint.MaxValue, uint.MaxValue));
        Assert.Equal(0.5 + (1.0 / (1UL << 53)), GadamRandom.Unit53(0x80000000u, 0));
    }

    [Fact]
    public void Keys_DifferByStream_AndBySeed()
    {
        Assert.NotEqual(GadamRandom.Key(1, GadamStream.Genes), GadamRandom.Key(1, GadamStream.Parents));
        Assert.NotEqual(GadamRandom.Key(1, GadamStream.Genes), GadamRandom.Key(2, GadamStream.Genes));
    }
}

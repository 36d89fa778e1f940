using System;
using FusedOpt.Storage;
using Xunit;

namespace FusedOpt.Tests.Storage;

/// <summary>--state parsing and the bytes each storage takes.</summary>
public sealed class StateStorageTests
{
    [Theory]
    [InlineData("fp32", StateStorage.Fp32)]
    [InlineData("BF16", StateStorage.Bf16)]
    [InlineData(" q8 ", StateStorage.Q8)]
    public void Parse_AcceptsTheThreeNames_CaseInsensitive(string text, StateStorage expected) =>
        Assert.Equal(expected, StateStorages.Parse(text));

    [Theory]
    [InlineData("fp16")]
    [InlineData("")]
    [InlineData("q4")]
    public void Parse_UnknownName_IsRejectedNamingTheValueAndTheAcceptedOnes(string text)
    {
        var e = Assert.Throws<ArgumentException>(() => StateStorages.Parse(text, "--state"));
        Assert.Equal($"--state: '{text}' is not a state storage; expected fp32, bf16 or q8.", e.Message);
    }

    [Fact]
    public void Name_RoundTripsThroughParse()
    {
        foreach (var s in Enum.GetValues<StateStorage>())
        {
            Assert.Equal(s, StateStorages.Parse(StateStorages.Name(s)));
        }
    }

    [Theory]
    [InlineData(StateStorage.Fp32, 1000, 4000)]
    [InlineData(StateStorage.Bf16, 1000, 2000)]
    [InlineData(StateStorage.Q8, 1000, 1000 + (4 * 4))]   // 3 full blocks and a short one of 232
    [InlineData(StateStorage.Q8, 256, 256 + 4)]
    [InlineData(StateStorage.Q8, 0, 0)]
    public void ByteCount_CountsCodesAndOneAbsmaxPerBlock(StateStorage storage, long elements, long bytes) =>
        Assert.Equal(bytes, StateStorages.ByteCount(storage, elements));

    [Fact]
    public void AdamBytesPerParameter_Is28_20_And16()
    {
        Assert.Equal(28, StateStorages.AdamBytesPerParameter(StateStorage.Fp32));
        Assert.Equal(20, StateStorages.AdamBytesPerParameter(StateStorage.Bf16));
        Assert.Equal(16 + (16.0 / 256), StateStorages.AdamBytesPerParameter(StateStorage.Q8));
    }
}

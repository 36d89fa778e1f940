using System;
using System.Text.Json;
using Xunit;

namespace FusedOpt.Tests;

/// <summary>
/// <c>bench train --state fp32|bf16|q8</c>: every model the run measures stores its optimizer states that way, which the
/// reported step traffic shows — held to the bytes per parameter written out here from each storage's element size —
/// and a storage that does not exist, or one given to <c>--compare-conv</c>, is refused naming the value.
/// </summary>
public sealed class BenchTrainStateCliTests
{
    [Fact]
    public void Fcn_Bf16AndQ8States_AreReportedAndMoveTheirStoredBytes()
    {
        var bf16 = CliHarness.Run("bench", "train", "--hidden", "32", "--batch", "16", "--iterations", "2", "--step-in-backward", "--state", "bf16", "--json");
        var q8 = CliHarness.Run("bench", "train", "--hidden", "32", "--batch", "16", "--iterations", "2", "--step-in-backward", "--state", "q8", "--json");

        Assert.True(bf16.ExitCode == 0, bf16.Error);
        using var b = JsonDocument.Parse(bf16.Output);
        long n = b.RootElement.GetProperty("parameters").GetInt64();
        Assert.Equal("bf16", b.RootElement.GetProperty("state").GetString());
        Assert.True(b.RootElement.GetProperty("fusedImagesPerSecond").GetDouble() > 0);
        Assert.True(b.RootElement.GetProperty("naiveImagesPerSecond").GetDouble() > 0);
        Assert.True(b.RootElement.GetProperty("inBackwardImagesPerSecond").GetDouble() > 0);
        Assert.Equal(((4 + 4 + 4) + (2 * 2) + (2 * 2)) * n, b.RootElement.GetProperty("stepBytesPerIteration").GetInt64());   // Adam: p r/w, g, then m and v r/w at 2 B

        Assert.True(q8.ExitCode == 0, q8.Error);
        using var q = JsonDocument.Parse(q8.Output);
        Assert.Equal("q8", q.RootElement.GetProperty("state").GetString());
        // FCN 3072-32-10: only fc1.weight (3072·32 = 98,304 elements, 384 blocks of 256) reaches the 4,096-element q8
        // threshold; fc2.weight (320) and the biases (32 + 10) keep float32 states. Per state: a code byte per quantized
        // element, a 4-byte absmax per block, 4 B per plain element; m and v are each read and written.
        long quantized = 3072 * 32, blocks = quantized / 256, plain = n - quantized;
        long perStateTraffic = quantized + (4 * blocks) + (4 * plain);
        Assert.Equal((32 * 10) + 32 + 10, plain);
        Assert.Equal((12 * n) + (2 * 2 * perStateTraffic), q.RootElement.GetProperty("stepBytesPerIteration").GetInt64());
    }

    [Fact]
    public void Vgg_Bf16States_AreReportedAndMoveTwoBytesPerMomentum()
    {
        var vgg = CliHarness.Run("bench", "train", "--model", "vgg11", "--width", "0.125", "--batch", "4", "--iterations", "1", "--step-in-backward", "--state", "bf16", "--json");

        Assert.True(vgg.ExitCode == 0, vgg.Error);
        using var v = JsonDocument.Parse(vgg.Output);
        Assert.Equal("bf16", v.RootElement.GetProperty("state").GetString());
        long n = v.RootElement.GetProperty("parameters").GetInt64();
        long sgdMomentumBf16 = (4 + 4 + 4 + (2 * 2)) * n;   // SGD-momentum: p r/w, g, buf r/w at 2 B
        Assert.Equal(sgdMomentumBf16, v.RootElement.GetProperty("traffic").GetProperty("stepBytes").GetInt64());   // the timed model
        Assert.Equal(sgdMomentumBf16, v.RootElement.GetProperty("inBackward").GetProperty("traffic").GetProperty("stepBytes").GetInt64());
    }

    [Theory]
    [InlineData("--state fp16", "'fp16' is not a state storage; expected fp32, bf16 or q8")]
    [InlineData("--model vgg11 --compare-conv --state bf16", "--state bf16 does not apply to it")]
    public void BadState_IsRefusedNamingTheValue(string arguments, string message)
    {
        var result = CliHarness.Run(["bench", "train", "--iterations", "1", .. arguments.Split(' ')]);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains(message, result.Error, StringComparison.Ordinal);
    }
}

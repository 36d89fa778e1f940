using System;
using FusedOpt.Models.Data;
using Xunit;

namespace FusedOpt.Tests.Data;

public sealed class ChannelNormalizationTests
{
    [Fact]
    public void Table_MapsEachByteThroughTheFormula()
    {
        var norm = new ChannelNormalization([0.5, 0.25, 0.0], [0.2, 0.5, 1.0]);

        Assert.Equal((float)((0 / 255.0 - 0.5) / 0.2), norm.Table[0]);
        Assert.Equal((float)((255 / 255.0 - 0.5) / 0.2), norm.Table[255]);
        Assert.Equal((float)((100 / 255.0 - 0.25) / 0.5), norm.Table[256 + 100]);
        Assert.Equal(200 / 255f, norm.Table[512 + 200]);
    }

    [Fact]
    public void UnitRange_MapsBytesToZeroOne()
    {
        Assert.Equal(0f, ChannelNormalization.UnitRange.Table[0]);
        Assert.Equal(1f, ChannelNormalization.UnitRange.Table[255]);
    }

    [Fact]
    public void FromImages_ConstantChannel_IsRejectedByName()
    {
        var pixels = new byte[2 * 3072];
        pixels.AsSpan(0, 1024).Fill(3);
        pixels.AsSpan(3072, 1024).Fill(9);
        var images = new ImageSet("train", pixels, [0, 1]);

        var e = Assert.Throws<ArgumentException>(() => ChannelNormalization.FromImages(images));

        Assert.Contains("channel G", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void FromImages_TwoValues_GivesExactMeanAndStd()
    {
        // Channel R: half 0, half 255 → mean 0.5, std 0.5 exactly.
        var pixels = new byte[2 * 3072];
        for (int i = 0; i < pixels.Length; i++)
        {
            pixels[i] = (byte)(i % 2 == 0 ? 0 : 255);
        }

        var norm = ChannelNormalization.FromImages(new ImageSet("train", pixels, [0, 1]));

        Assert.Equal([0.5, 0.5, 0.5], norm.Mean);
        Assert.Equal([0.5, 0.5, 0.5], norm.Std);
    }

    [Fact]
    public void Constructor_NonPositiveStd_IsRejected()
    {
        var e = Assert.Throws<ArgumentException>(() => new ChannelNormalization([0, 0, 0], [1, 0, 1]));

        Assert.Contains("std of channel G must be finite and > 0, got 0", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ImageSet_CopyNormalized_WritesRowsInOrder()
    {
        var pixels = new byte[3 * 3072];
        for (int i = 0; i < pixels.Length; i++)
        {
            pixels[i] = (byte)(i * 7);
        }

        var images = new ImageSet("x", pixels, [1, 2, 3]);
        var norm = new ChannelNormalization([0.1, 0.2, 0.3], [0.4, 0.5, 0.6]);
        var tensor = images.ToTensor(norm);

        Assert.Equal(3 * 3072, tensor.Length);
        for (int i = 0; i < tensor.Length; i++)
        {
            int c = i % 3072 / 1024;
            Assert.Equal(norm.Table[(c * 256) + pixels[i]], tensor[i]);
        }
    }

    [Fact]
    public void ImageSet_LabelOutOfRange_IsRejected()
    {
        var e = Assert.Throws<ArgumentException>(() => new ImageSet("x", new byte[3072], [12]));

        Assert.Contains("label 12 of image 0", e.Message, StringComparison.Ordinal);
    }
}

using System;

namespace FusedOpt.Models.Layers;

/// <summary>The per-sample shape of an image-like activation: channels × height × width.</summary>
/// <param name="Channels">Channels (C), ≥ 1.</param>
/// <param name="Height">Rows (H), ≥ 1.</param>
/// <param name="Width">Columns (W), ≥ 1.</param>
public readonly record struct ImageShape(int Channels, int Height, int Width)
{
    /// <summary>Pixels per channel, H·W.</summary>
    public int Pixels => Height * Width;

    /// <summary>Values per sample, C·H·W.</summary>
    public int Size => checked(Channels * Height * Width);

    /// <summary>Throws unless every dimension is ≥ 1; returns the shape.</summary>
    /// <param name="owner">The layer, for the message.</param>
    public ImageShape Validate(string owner) =>
        Channels >= 1 && Height >= 1 && Width >= 1
            ? this
            : throw new ArgumentOutOfRangeException(nameof(owner), $"{owner}: every dimension of the shape must be ≥ 1, got {this}.");

    /// <inheritdoc />
    public override string ToString() => $"{Channels}×{Height}×{Width}";
}

/// <summary>How a layer stores one sample's image values in its row.</summary>
public enum ImageLayout
{
    /// <summary>Channel-major, [C, H, W] (PyTorch's NCHW per sample).</summary>
    ChannelsFirst,

    /// <summary>Pixel-major, [H, W, C] (NHWC per sample): a pixel's channels are contiguous.</summary>
    ChannelsLast,
}

using System;
using System.Numerics;

namespace FusedOpt.Models.Layers;

/// <summary>
/// Reorders each sample between channel-major [C, H, W] (how images arrive and how PyTorch stores activations) and
/// channels-last [H, W, C] (how the convolution layers compute). Backward applies the inverse permutation.
/// </summary>
/// <typeparam name="T"><see cref="float"/> or <see cref="double"/>.</typeparam>
public sealed class ImageLayoutChange<T> : Layer<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Creates the reordering of samples of <paramref name="shape"/> into <paramref name="target"/>.</summary>
    public ImageLayoutChange(ImageShape shape, ImageLayout target, string? name = null)
        : base(name ?? (target == ImageLayout.ChannelsLast ? "to_nhwc" : "to_nchw"), shape.Validate("layout").Size, shape.Size)
    {
        if (target is not ImageLayout.ChannelsFirst and not ImageLayout.ChannelsLast)
        {
            throw new ArgumentOutOfRangeException(nameof(target), target, "Expected ChannelsFirst or ChannelsLast.");
        }

        Shape = shape;
        Target = target;
    }

    /// <summary>Per-sample shape.</summary>
    public ImageShape Shape { get; }

    /// <summary>The layout of the output.</summary>
    public ImageLayout Target { get; }

    /// <inheritdoc />
    public override LayerSpec Spec => new ImageLayoutSpec(Shape, Target, Name);

    /// <inheritdoc />
    public override void Forward(MatMul<T> matMul, ReadOnlySpan<T> x, Span<T> y, int batch, bool training) =>
        Permute(x, y, batch, Target == ImageLayout.ChannelsLast);

    /// <inheritdoc />
    public override void Backward(MatMul<T> matMul, ReadOnlySpan<T> x, ReadOnlySpan<T> y, ReadOnlySpan<T> dy, Span<T> dx, int batch, bool inputGradient)
    {
        if (inputGradient)
        {
            Permute(dy, dx, batch, Target != ImageLayout.ChannelsLast);
        }
    }

    private void Permute(ReadOnlySpan<T> source, Span<T> target, int batch, bool toChannelsLast)
    {
        int c = Shape.Channels, pixels = Shape.Pixels, size = Shape.Size;
        for (int n = 0; n < batch; n++)
        {
            ReadOnlySpan<T> s = source.Slice(n * size, size);
            Span<T> t = target.Slice(n * size, size);
            for (int ch = 0; ch < c; ch++)
            {
                for (int p = 0; p < pixels; p++)
                {
                    if (toChannelsLast)
                    {
                        t[(p * c) + ch] = s[(ch * pixels) + p];
                    }
                    else
                    {
                        t[(ch * pixels) + p] = s[(p * c) + ch];
                    }
                }
            }
        }
    }
}

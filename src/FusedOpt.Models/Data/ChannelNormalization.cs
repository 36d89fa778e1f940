using System;
using System.Collections.Generic;
using System.Linq;

namespace FusedOpt.Models.Data;

/// <summary>
/// Per-channel normalization of pixel bytes: x = (v / 255 − mean[c]) / std[c], with mean and std given on the
/// [0, 1] scale (as torchvision's <c>ToTensor</c> then <c>Normalize</c> do). Every byte value is mapped once, in
/// double, into a 3 × 256 float table, so converting an image is a table lookup per pixel and two runs give the
/// same bits on every machine.
/// </summary>
public sealed class ChannelNormalization
{
    private readonly float[] _table;

    /// <summary>Creates the normalization; <paramref name="mean"/> and <paramref name="std"/> hold one value per channel (R, G, B) on the [0, 1] scale.</summary>
    public ChannelNormalization(IReadOnlyList<double> mean, IReadOnlyList<double> std)
    {
        ArgumentNullException.ThrowIfNull(mean);
        ArgumentNullException.ThrowIfNull(std);
        if (mean.Count != Cifar10Layout.Channels || std.Count != Cifar10Layout.Channels)
        {
            throw new ArgumentException($"Normalization needs {Cifar10Layout.Channels} means and {Cifar10Layout.Channels} standard deviations, got {mean.Count} and {std.Count}.");
        }

        for (int c = 0; c < Cifar10Layout.Channels; c++)
        {
            if (!double.IsFinite(mean[c]))
            {
                throw new ArgumentException($"Normalization: mean of channel {Cifar10Layout.ChannelNames[c]} must be finite, got {mean[c]}.", nameof(mean));
            }

            if (!double.IsFinite(std[c]) || std[c] <= 0)
            {
                throw new ArgumentException($"Normalization: std of channel {Cifar10Layout.ChannelNames[c]} must be finite and > 0, got {std[c]}.", nameof(std));
            }
        }

        Mean = [.. mean];
        Std = [.. std];
        _table = new float[Cifar10Layout.Channels * 256];
        for (int c = 0; c < Cifar10Layout.Channels; c++)
        {
            for (int v = 0; v < 256; v++)
            {
                _table[(c * 256) + v] = (float)(((v / 255.0) - mean[c]) / std[c]);
            }
        }
    }

    /// <summary>No centring or scaling: x = v / 255, in [0, 1].</summary>
    public static ChannelNormalization UnitRange { get; } = new([0, 0, 0], [1, 1, 1]);

    /// <summary>Per-channel means (R, G, B) on the [0, 1] scale.</summary>
    public IReadOnlyList<double> Mean { get; }

    /// <summary>Per-channel standard deviations (R, G, B) on the [0, 1] scale.</summary>
    public IReadOnlyList<double> Std { get; }

    /// <summary>The lookup table: entry c × 256 + v is the normalized value of byte v in channel c.</summary>
    public ReadOnlySpan<float> Table => _table;

    /// <summary>
    /// The mean and the population standard deviation (dividing by the count, not count − 1) of each channel over
    /// every pixel of every image in <paramref name="images"/>. Sums are kept as exact integers, so the result does
    /// not depend on the order of the images.
    /// </summary>
    public static ChannelNormalization FromImages(ImageSet images)
    {
        ArgumentNullException.ThrowIfNull(images);
        if (images.Count == 0)
        {
            throw new ArgumentException($"Cannot compute normalization statistics of image set '{images.Name}': it holds no images.", nameof(images));
        }

        // histogram[c, v]: how many pixels of channel c have byte value v; exact and order-independent.
        var histogram = new long[Cifar10Layout.Channels * 256];
        ReadOnlySpan<byte> pixels = images.Pixels;
        for (int i = 0; i < images.Count; i++)
        {
            ReadOnlySpan<byte> image = pixels.Slice(i * Cifar10Layout.ImageSize, Cifar10Layout.ImageSize);
            for (int c = 0; c < Cifar10Layout.Channels; c++)
            {
                int offset = c * 256;
                foreach (byte v in image.Slice(c * Cifar10Layout.PlaneSize, Cifar10Layout.PlaneSize))
                {
                    histogram[offset + v]++;
                }
            }
        }

        var mean = new double[Cifar10Layout.Channels];
        var std = new double[Cifar10Layout.Channels];
        long n = (long)images.Count * Cifar10Layout.PlaneSize;
        for (int c = 0; c < Cifar10Layout.Channels; c++)
        {
            Int128 sum = 0, sumSquares = 0;
            for (int v = 0; v < 256; v++)
            {
                long k = histogram[(c * 256) + v];
                sum += (Int128)k * v;
                sumSquares += (Int128)k * v * v;
            }

            // Var = (n Σv² − (Σv)²) / n², computed exactly in integers, then scaled to [0, 1] by 255².
            Int128 numerator = (n * sumSquares) - (sum * sum);
            mean[c] = (double)sum / n / 255.0;
            std[c] = Math.Sqrt((double)numerator / ((double)n * n)) / 255.0;
            if (std[c] == 0)
            {
                throw new ArgumentException(
                    $"Cannot normalize image set '{images.Name}': channel {Cifar10Layout.ChannelNames[c]} has the same value in all {images.Count} images (std = 0).",
                    nameof(images));
            }
        }

        return new ChannelNormalization(mean, std);
    }

    /// <summary>For logs: "mean (R, G, B) = (…), std = (…)".</summary>
    public override string ToString() =>
        FormattableString.Invariant($"mean (R, G, B) = ({string.Join(", ", Mean.Select(static m => m.ToString("F4", System.Globalization.CultureInfo.InvariantCulture)))}), std = ({string.Join(", ", Std.Select(static s => s.ToString("F4", System.Globalization.CultureInfo.InvariantCulture)))})");
}

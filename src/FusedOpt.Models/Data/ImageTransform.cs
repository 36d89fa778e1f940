using System;
using System.Diagnostics;

namespace FusedOpt.Models.Data;

/// <summary>
/// Per-image kernels from CHW bytes to normalized CHW floats through a <see cref="ChannelNormalization.Table"/>.
/// Nothing here allocates.
/// </summary>
internal static class ImageTransform
{
    private const int Side = Cifar10Layout.Side;

    /// <summary>dst[c, y, x] = table[c, src[c, y, x]].</summary>
    public static void Normalize(ReadOnlySpan<byte> src, ReadOnlySpan<float> table, Span<float> dst)
    {
        Debug.Assert(src.Length == Cifar10Layout.ImageSize && dst.Length >= Cifar10Layout.ImageSize && table.Length == 3 * 256);
        for (int c = 0; c < Cifar10Layout.Channels; c++)
        {
            ReadOnlySpan<float> lut = table.Slice(c * 256, 256);
            ReadOnlySpan<byte> plane = src.Slice(c * Cifar10Layout.PlaneSize, Cifar10Layout.PlaneSize);
            Span<float> output = dst.Slice(c * Cifar10Layout.PlaneSize, Cifar10Layout.PlaneSize);
            for (int i = 0; i < plane.Length; i++)
            {
                output[i] = lut[plane[i]];
            }
        }
    }

    /// <summary>
    /// A 32×32 crop of the image padded by zero bytes, then an optional left–right flip, then normalization:
    /// dst[c, y, x] = table[c, padded[c, y + shiftY, x′ + shiftX]] with x′ = 31 − x when <paramref name="flip"/>, else x,
    /// where padded[c, i, j] = src[c, i, j] inside the image and byte 0 (black) outside. The shifts lie in
    /// [−padding, padding]; a crop at offset (oy, ox) of the (32 + 2·padding)² padded image has shift (oy − padding, ox − padding).
    /// </summary>
    /// <remarks>
    /// Padding is black before normalization, as torchvision's <c>RandomCrop(32, padding=4)</c> on the uint8 image followed by
    /// <c>Normalize</c> gives; the padded value is therefore (0 − mean) / std, not 0.
    /// </remarks>
    public static void CropFlip(ReadOnlySpan<byte> src, ReadOnlySpan<float> table, Span<float> dst, int shiftY, int shiftX, bool flip)
    {
        Debug.Assert(src.Length == Cifar10Layout.ImageSize && dst.Length >= Cifar10Layout.ImageSize && table.Length == 3 * 256);
        Debug.Assert(Math.Abs(shiftY) < Side && Math.Abs(shiftX) < Side);

        // The output columns [x0, x1) read from inside the image; the others read padding. Without flip, output x reads
        // source column x + shiftX; with flip, 31 − x + shiftX. Either way the valid x form one interval.
        int x0 = flip ? Math.Max(0, shiftX) : Math.Max(0, -shiftX);
        int x1 = flip ? Math.Min(Side, Side + shiftX) : Math.Min(Side, Side - shiftX);
        for (int c = 0; c < Cifar10Layout.Channels; c++)
        {
            ReadOnlySpan<float> lut = table.Slice(c * 256, 256);
            float pad = lut[0];
            ReadOnlySpan<byte> plane = src.Slice(c * Cifar10Layout.PlaneSize, Cifar10Layout.PlaneSize);
            for (int y = 0; y < Side; y++)
            {
                Span<float> row = dst.Slice((c * Cifar10Layout.PlaneSize) + (y * Side), Side);
                int sy = y + shiftY;
                if ((uint)sy >= Side)
                {
                    row.Fill(pad);
                    continue;
                }

                ReadOnlySpan<byte> source = plane.Slice(sy * Side, Side);
                row[..x0].Fill(pad);
                row[x1..].Fill(pad);
                if (flip)
                {
                    for (int x = x0; x < x1; x++)
                    {
                        row[x] = lut[source[Side - 1 - x + shiftX]];
                    }
                }
                else
                {
                    for (int x = x0; x < x1; x++)
                    {
                        row[x] = lut[source[x + shiftX]];
                    }
                }
            }
        }
    }
}

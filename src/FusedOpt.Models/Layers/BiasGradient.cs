using System;
using System.Numerics;

namespace FusedOpt.Models.Layers;

/// <summary>The bias gradient of a layer whose output rows share one bias vector (Linear over samples, Conv2d over pixels).</summary>
internal static class BiasGradient
{
    /// <summary>db[j] += Σ_r dY[r, j] over <paramref name="rows"/> rows of <paramref name="width"/> values, in row order.</summary>
    public static void AddColumnSums<T>(ReadOnlySpan<T> dy, int rows, int width, Span<T> db)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int r = 0; r < rows; r++)
        {
            ReadOnlySpan<T> row = dy.Slice(r * width, width);
            for (int j = 0; j < width; j++)
            {
                db[j] += row[j];
            }
        }
    }
}

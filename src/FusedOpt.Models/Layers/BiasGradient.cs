using System;
using System.Numerics;
using System.Runtime.InteropServices;

namespace FusedOpt.Models.Layers;

/// <summary>The bias gradient of a layer whose output rows share one bias vector (Linear over samples, Conv2d over pixels).</summary>
internal static class BiasGradient
{
    /// <summary>
    /// db[j] += Σ_r dY[r, j] over <paramref name="rows"/> rows of <paramref name="width"/> values, in row order. Columns go
    /// four vectors at a time, each sum in a register while the rows stream past (every db[j] still adds its rows one by
    /// one in order, so the bits are those of a scalar loop; a conv layer's 131,072 pixel rows cost one vector pass
    /// instead of a scalar load-add-store per value).
    /// </summary>
    public static void AddColumnSums<T>(ReadOnlySpan<T> dy, int rows, int width, Span<T> db)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if ((long)rows * width > dy.Length || width > db.Length)
        {
            throw new ArgumentException($"bias gradient: {rows} rows of {width} need dy ≥ {(long)rows * width} and db ≥ {width} values; got {dy.Length} and {db.Length}.", width > db.Length ? nameof(db) : nameof(dy));
        }

        ref T d = ref MemoryMarshal.GetReference(dy);
        ref T b = ref MemoryMarshal.GetReference(db);
        int vc = Vector<T>.Count, j = 0;
        for (; j + (4 * vc) <= width; j += 4 * vc)
        {
            var a0 = Vector.LoadUnsafe(ref b, (nuint)j);
            var a1 = Vector.LoadUnsafe(ref b, (nuint)(j + vc));
            var a2 = Vector.LoadUnsafe(ref b, (nuint)(j + (2 * vc)));
            var a3 = Vector.LoadUnsafe(ref b, (nuint)(j + (3 * vc)));
            for (int r = 0; r < rows; r++)
            {
                nuint row = (nuint)((long)r * width) + (nuint)j;
                a0 += Vector.LoadUnsafe(ref d, row);
                a1 += Vector.LoadUnsafe(ref d, row + (nuint)vc);
                a2 += Vector.LoadUnsafe(ref d, row + (nuint)(2 * vc));
                a3 += Vector.LoadUnsafe(ref d, row + (nuint)(3 * vc));
            }

            a0.StoreUnsafe(ref b, (nuint)j);
            a1.StoreUnsafe(ref b, (nuint)(j + vc));
            a2.StoreUnsafe(ref b, (nuint)(j + (2 * vc)));
            a3.StoreUnsafe(ref b, (nuint)(j + (3 * vc)));
        }

        for (; j + vc <= width; j += vc)
        {
            var a = Vector.LoadUnsafe(ref b, (nuint)j);
            for (int r = 0; r < rows; r++)
            {
                a += Vector.LoadUnsafe(ref d, (nuint)((long)r * width) + (nuint)j);
            }

            a.StoreUnsafe(ref b, (nuint)j);
        }

        for (; j < width; j++)
        {
            T sum = db[j];
            for (int r = 0; r < rows; r++)
            {
                sum += dy[(r * width) + j];
            }

            db[j] = sum;
        }
    }
}

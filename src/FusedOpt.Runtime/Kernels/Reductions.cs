using System.ComponentModel;
using System.Runtime.Intrinsics;

namespace FusedOpt.Kernels;

/// <summary>Reductions over gradients, accumulated in float64.</summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public static unsafe class Reductions
{
    /// <summary>
    /// Σ x² over <paramref name="length"/> floats, in float64 (so finite inputs never overflow); NaN or ∞ when any
    /// input is not finite, which is how a non-finite gradient is detected in the same pass.
    /// </summary>
    public static double SumOfSquares(float* x, long length)
    {
        long i = 0;
        double sum = 0;
        if (Vector512.IsHardwareAccelerated && length >= 16)
        {
            var acc0 = Vector512<double>.Zero;
            var acc1 = Vector512<double>.Zero;
            for (; i + 16 <= length; i += 16)
            {
                var v = Vector512.Load(x + i);
                var lo = Vector512.WidenLower(v);
                var hi = Vector512.WidenUpper(v);
                acc0 += lo * lo;
                acc1 += hi * hi;
            }

            sum = Vector512.Sum(acc0 + acc1);
        }
        else if (Vector256.IsHardwareAccelerated && length >= 8)
        {
            var acc0 = Vector256<double>.Zero;
            var acc1 = Vector256<double>.Zero;
            for (; i + 8 <= length; i += 8)
            {
                var v = Vector256.Load(x + i);
                var lo = Vector256.WidenLower(v);
                var hi = Vector256.WidenUpper(v);
                acc0 += lo * lo;
                acc1 += hi * hi;
            }

            sum = Vector256.Sum(acc0 + acc1);
        }

        for (; i < length; i++)
        {
            double d = x[i];
            sum += d * d;
        }

        return sum;
    }
}

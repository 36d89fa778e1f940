using System.ComponentModel;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace FusedOpt.Kernels;

/// <summary>
/// Element functions with no one-instruction equivalent, written once per width so that the scalar and vector
/// kernels give bit-identical results.
/// </summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public static class SimdMath
{
    /// <summary>sign(x): −1, 0 or +1, and NaN for NaN (unlike <see cref="System.MathF.Sign(float)"/>, which throws).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Sign(float x) => x > 0 ? 1f : x < 0 ? -1f : x == 0 ? 0f : x;

    /// <summary>sign(x) lane-wise, as <see cref="Sign(float)"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Sign(Vector512<float> x)
    {
        var positive = Vector512.GreaterThan(x, Vector512<float>.Zero) & Vector512<float>.One;
        var negative = Vector512.LessThan(x, Vector512<float>.Zero) & Vector512<float>.One;
        var nan = ~Vector512.Equals(x, x) & x;
        return (positive - negative) | nan;
    }

    /// <summary>sign(x) lane-wise, as <see cref="Sign(float)"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Sign(Vector256<float> x)
    {
        var positive = Vector256.GreaterThan(x, Vector256<float>.Zero) & Vector256<float>.One;
        var negative = Vector256.LessThan(x, Vector256<float>.Zero) & Vector256<float>.One;
        var nan = ~Vector256.Equals(x, x) & x;
        return (positive - negative) | nan;
    }
}

/// <summary>Helpers for the once-per-step prologue of generated rules (float64).</summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public static class StepMath
{
    /// <summary>A float whose bits are all set: the "true" lane mask, stored among the step scalars.</summary>
    public static float AllBits => System.BitConverter.Int32BitsToSingle(-1);

    /// <summary>sign(x) in float64, NaN for NaN.</summary>
    public static double Sign(double x) => x > 0 ? 1 : x < 0 ? -1 : x == 0 ? 0 : x;

    /// <summary>True when a mask scalar is set.</summary>
    public static bool IsSet(float mask) => System.BitConverter.SingleToInt32Bits(mask) != 0;
}

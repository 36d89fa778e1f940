using System;

namespace FusedOpt.Models;

/// <summary>
/// Elementary functions written with IEEE +, −, ×, ÷ only, so they return the same bits everywhere (Math.Log
/// calls the platform's libm, whose last bit may differ between C libraries). Used where a seed must reproduce
/// exactly: random normals for initialisation.
/// </summary>
public static class DeterministicMath
{
    private const double Ln2 = 0.6931471805599453094;
    private const double Sqrt2 = 1.4142135623730950488;

    /// <summary>
    /// The natural logarithm, accurate to a few ulp: x = m·2ᵉ with m ∈ [√½, √2), then
    /// ln x = e·ln 2 + 2·atanh(s) with s = (m − 1)/(m + 1), |s| ≤ 0.1716, and
    /// 2·atanh(s) = 2s·(1 + s²/3 + s⁴/5 + … + s²⁴/25) (the next term is below 10⁻¹⁹).
    /// Returns NaN for x &lt; 0 or NaN, −∞ for 0 and +∞ for +∞.
    /// </summary>
    public static double Log(double x)
    {
        if (double.IsNaN(x) || x < 0)
        {
            return double.NaN;
        }

        if (x == 0)
        {
            return double.NegativeInfinity;
        }

        if (double.IsPositiveInfinity(x))
        {
            return x;
        }

        int e = 0;
        if (x < 2.2250738585072014E-308) // smallest normal double
        {
            x *= 18446744073709551616.0; // 2⁶⁴: lift subnormals into the normal range
            e = -64;
        }

        long bits = BitConverter.DoubleToInt64Bits(x);
        e += (int)((bits >> 52) & 0x7FF) - 1023;
        double m = BitConverter.Int64BitsToDouble((bits & 0x000FFFFFFFFFFFFFL) | 0x3FF0000000000000L); // [1, 2)
        if (m >= Sqrt2)
        {
            m *= 0.5;
            e++;
        }

        double s = (m - 1) / (m + 1);
        double s2 = s * s;

        // Horner over the odd-power series, highest term first, in a fixed order.
        double series = 1.0 / 25;
        for (int d = 23; d >= 1; d -= 2)
        {
            series = (series * s2) + (1.0 / d);
        }

        return (e * Ln2) + (2 * s * series);
    }
}

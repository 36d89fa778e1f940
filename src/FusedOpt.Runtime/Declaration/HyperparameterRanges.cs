// Compiled into FusedOpt.Runtime and, linked, into FusedOpt.Generator (netstandard2.0, which cannot reference the
// runtime): the one place that says what each range attribute means, and how a range is checked and written. The
// attributes in Attributes.cs carry no logic; the generator reads them through RangeOfAttribute, and the runtime's
// HyperparameterInfo checks and prints through Contains and Text. Keep it netstandard2.0 C#.
namespace FusedOpt
{
    using System.Globalization;

    /// <summary>The meaning of the range attributes, and how a range is checked and written.</summary>
    internal static class HyperparameterRanges
    {
        /// <summary>
        /// The range an attribute declares, by the attribute's full name: <c>[NonNegative]</c> [0, ∞), <c>[Positive]</c>
        /// (0, ∞), <c>[Unit]</c> [0, 1); false for any other attribute (<c>[Interval]</c> carries its own ends).
        /// </summary>
        public static bool RangeOfAttribute(string? attributeFullName, out double min, out double max, out bool minOpen, out bool maxOpen)
        {
            switch (attributeFullName)
            {
                case "FusedOpt.NonNegativeAttribute":
                    (min, max, minOpen, maxOpen) = (0, double.PositiveInfinity, false, true);
                    return true;
                case "FusedOpt.PositiveAttribute":
                    (min, max, minOpen, maxOpen) = (0, double.PositiveInfinity, true, true);
                    return true;
                case "FusedOpt.UnitAttribute":
                    (min, max, minOpen, maxOpen) = (0, 1, false, true);
                    return true;
                default:
                    (min, max, minOpen, maxOpen) = (double.NegativeInfinity, double.PositiveInfinity, true, true);
                    return false;
            }
        }

        /// <summary>The full name of <c>[Interval(min, max)]</c>, whose ends (and <c>MinOpen</c>/<c>MaxOpen</c>) are its arguments.</summary>
        public const string IntervalAttribute = "FusedOpt.IntervalAttribute";

        /// <summary>True when <paramref name="value"/> is inside the range (NaN never is).</summary>
        public static bool Contains(double min, double max, bool minOpen, bool maxOpen, double value) =>
            !double.IsNaN(value) && (minOpen ? value > min : value >= min) && (maxOpen ? value < max : value <= max);

        /// <summary>The range as text: <c>[0, 1)</c>, <c>(0, ∞)</c>.</summary>
        public static string Text(double min, double max, bool minOpen, bool maxOpen) =>
            (minOpen ? "(" : "[") + Format(min) + ", " + Format(max) + (maxOpen ? ")" : "]");

        /// <summary>An end or a value in messages: round-trip digits, ∞ and -∞ as symbols.</summary>
        public static string Format(double v) =>
            double.IsPositiveInfinity(v) ? "∞" : double.IsNegativeInfinity(v) ? "-∞" : v.ToString("R", CultureInfo.InvariantCulture);
    }
}

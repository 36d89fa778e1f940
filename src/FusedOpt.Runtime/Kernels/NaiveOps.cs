using System.ComponentModel;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System;

namespace FusedOpt.Kernels;

/// <summary>
/// One tensor operation per call, one full pass over memory each: the building blocks of the naive multi-pass
/// step that eager frameworks run (<c>exp_avg.mul(beta1)</c>, then <c>.add(…)</c>, …). Arithmetic goes through
/// <see cref="TensorPrimitives"/> (vectorised); comparisons produce all-bits-set lane masks exactly like the fused
/// vector kernels, so both paths compute the same bits.
/// </summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public static class NaiveOps
{
#pragma warning disable CS1591 // One line per operator; the names say what they do.
    public static void Add(ReadOnlySpan<float> x, ReadOnlySpan<float> y, Span<float> d) => TensorPrimitives.Add(x, y, d);
    public static void Add(ReadOnlySpan<float> x, float y, Span<float> d) => TensorPrimitives.Add(x, y, d);
    public static void Add(float x, ReadOnlySpan<float> y, Span<float> d) => TensorPrimitives.Add(y, x, d);
    public static void Subtract(ReadOnlySpan<float> x, ReadOnlySpan<float> y, Span<float> d) => TensorPrimitives.Subtract(x, y, d);
    public static void Subtract(ReadOnlySpan<float> x, float y, Span<float> d) => TensorPrimitives.Subtract(x, y, d);
    public static void Subtract(float x, ReadOnlySpan<float> y, Span<float> d) => TensorPrimitives.Subtract(x, y, d);
    public static void Multiply(ReadOnlySpan<float> x, ReadOnlySpan<float> y, Span<float> d) => TensorPrimitives.Multiply(x, y, d);
    public static void Multiply(ReadOnlySpan<float> x, float y, Span<float> d) => TensorPrimitives.Multiply(x, y, d);
    public static void Multiply(float x, ReadOnlySpan<float> y, Span<float> d) => TensorPrimitives.Multiply(y, x, d);
    public static void Divide(ReadOnlySpan<float> x, ReadOnlySpan<float> y, Span<float> d) => TensorPrimitives.Divide(x, y, d);
    public static void Divide(ReadOnlySpan<float> x, float y, Span<float> d) => TensorPrimitives.Divide(x, y, d);
    public static void Divide(float x, ReadOnlySpan<float> y, Span<float> d) => TensorPrimitives.Divide(x, y, d);
    public static void Negate(ReadOnlySpan<float> x, Span<float> d) => TensorPrimitives.Negate(x, d);
    public static void Sqrt(ReadOnlySpan<float> x, Span<float> d) => TensorPrimitives.Sqrt(x, d);
    public static void Abs(ReadOnlySpan<float> x, Span<float> d) => TensorPrimitives.Abs(x, d);
    public static void Exp(ReadOnlySpan<float> x, Span<float> d) => TensorPrimitives.Exp(x, d);
    public static void Log(ReadOnlySpan<float> x, Span<float> d) => TensorPrimitives.Log(x, d);
    public static void Max(ReadOnlySpan<float> x, ReadOnlySpan<float> y, Span<float> d) => TensorPrimitives.Max(x, y, d);
    public static void Max(ReadOnlySpan<float> x, float y, Span<float> d) => TensorPrimitives.Max(x, y, d);
    public static void Max(float x, ReadOnlySpan<float> y, Span<float> d) => TensorPrimitives.Max(y, x, d);
    public static void Min(ReadOnlySpan<float> x, ReadOnlySpan<float> y, Span<float> d) => TensorPrimitives.Min(x, y, d);
    public static void Min(ReadOnlySpan<float> x, float y, Span<float> d) => TensorPrimitives.Min(x, y, d);
    public static void Min(float x, ReadOnlySpan<float> y, Span<float> d) => TensorPrimitives.Min(y, x, d);
    public static void Pow(ReadOnlySpan<float> x, ReadOnlySpan<float> y, Span<float> d) => TensorPrimitives.Pow(x, y, d);
    public static void Pow(ReadOnlySpan<float> x, float y, Span<float> d) => TensorPrimitives.Pow(x, y, d);
    public static void Pow(float x, ReadOnlySpan<float> y, Span<float> d) => TensorPrimitives.Pow(x, y, d);
    public static void Copy(ReadOnlySpan<float> x, Span<float> d) => x.CopyTo(d);
    public static void Fill(float x, Span<float> d) => d.Fill(x);
#pragma warning restore CS1591

    /// <summary>d = sign(x), NaN for NaN.</summary>
    public static void Sign(ReadOnlySpan<float> x, Span<float> d) => Map(x, d, static v => SimdMath.Sign(v), static v => SimdMath.Sign(v));

    /// <summary>d = x &lt; y as a lane mask.</summary>
    public static void LessThan(ReadOnlySpan<float> x, ReadOnlySpan<float> y, Span<float> d) => Compare(x, y, d, CompareOp.Lt);

    /// <summary>d = x ≤ y as a lane mask.</summary>
    public static void LessThanOrEqual(ReadOnlySpan<float> x, ReadOnlySpan<float> y, Span<float> d) => Compare(x, y, d, CompareOp.Le);

    /// <summary>d = x &gt; y as a lane mask.</summary>
    public static void GreaterThan(ReadOnlySpan<float> x, ReadOnlySpan<float> y, Span<float> d) => Compare(x, y, d, CompareOp.Gt);

    /// <summary>d = x ≥ y as a lane mask.</summary>
    public static void GreaterThanOrEqual(ReadOnlySpan<float> x, ReadOnlySpan<float> y, Span<float> d) => Compare(x, y, d, CompareOp.Ge);

    /// <summary>d = x == y as a lane mask.</summary>
    public static void Equal(ReadOnlySpan<float> x, ReadOnlySpan<float> y, Span<float> d) => Compare(x, y, d, CompareOp.Eq);

    /// <summary>d = x != y as a lane mask.</summary>
    public static void NotEqual(ReadOnlySpan<float> x, ReadOnlySpan<float> y, Span<float> d) => Compare(x, y, d, CompareOp.Ne);

    /// <summary>Mask and.</summary>
    public static void And(ReadOnlySpan<float> x, ReadOnlySpan<float> y, Span<float> d) => TensorPrimitives.BitwiseAnd(Bits(x), Bits(y), Bits(d));

    /// <summary>Mask or.</summary>
    public static void Or(ReadOnlySpan<float> x, ReadOnlySpan<float> y, Span<float> d) => TensorPrimitives.BitwiseOr(Bits(x), Bits(y), Bits(d));

    /// <summary>Mask not.</summary>
    public static void Not(ReadOnlySpan<float> x, Span<float> d) => TensorPrimitives.OnesComplement(Bits(x), Bits(d));

    /// <summary>d = mask ? a : b, lane-wise (a bitwise select, as the fused kernels do).</summary>
    public static void Select(ReadOnlySpan<float> mask, ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> d)
    {
        var m = Bits(mask);
        var x = Bits(a);
        var y = Bits(b);
        var r = Bits(d);
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            for (; i + 16 <= r.Length; i += 16)
            {
                Vector512.ConditionalSelect(Vector512.Create(m[i..]), Vector512.Create(x[i..]), Vector512.Create(y[i..])).CopyTo(r[i..]);
            }
        }

        for (; i < r.Length; i++)
        {
            r[i] = (m[i] & x[i]) | (~m[i] & y[i]);
        }
    }

    private enum CompareOp { Lt, Le, Gt, Ge, Eq, Ne }

    private static Span<int> Bits(Span<float> x) => MemoryMarshal.Cast<float, int>(x);

    private static ReadOnlySpan<int> Bits(ReadOnlySpan<float> x) => MemoryMarshal.Cast<float, int>(x);

    private static void Compare(ReadOnlySpan<float> x, ReadOnlySpan<float> y, Span<float> d, CompareOp op)
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            for (; i + 16 <= d.Length; i += 16)
            {
                var a = Vector512.Create(x[i..]);
                var b = Vector512.Create(y[i..]);
                var r = op switch
                {
                    CompareOp.Lt => Vector512.LessThan(a, b),
                    CompareOp.Le => Vector512.LessThanOrEqual(a, b),
                    CompareOp.Gt => Vector512.GreaterThan(a, b),
                    CompareOp.Ge => Vector512.GreaterThanOrEqual(a, b),
                    CompareOp.Eq => Vector512.Equals(a, b),
                    _ => ~Vector512.Equals(a, b),
                };
                r.CopyTo(d[i..]);
            }
        }

        for (; i < d.Length; i++)
        {
            bool r = op switch
            {
                CompareOp.Lt => x[i] < y[i],
                CompareOp.Le => x[i] <= y[i],
                CompareOp.Gt => x[i] > y[i],
                CompareOp.Ge => x[i] >= y[i],
                CompareOp.Eq => x[i] == y[i],
                _ => x[i] != y[i],
            };
            d[i] = BitConverter.Int32BitsToSingle(r ? -1 : 0);
        }
    }

    private static void Map(ReadOnlySpan<float> x, Span<float> d, Func<Vector512<float>, Vector512<float>> vector, Func<float, float> scalar)
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            for (; i + 16 <= d.Length; i += 16)
            {
                vector(Vector512.Create(x[i..])).CopyTo(d[i..]);
            }
        }

        for (; i < d.Length; i++)
        {
            d[i] = scalar(x[i]);
        }
    }
}

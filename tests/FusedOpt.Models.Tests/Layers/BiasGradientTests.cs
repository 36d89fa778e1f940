using System;
using System.Numerics;
using FusedOpt.Models.Layers;
using Xunit;

namespace FusedOpt.Tests.Layers;

/// <summary>
/// <c>BiasGradient.AddColumnSums</c>: every width (the four-vector, one-vector and scalar paths), row count and element
/// type gives exactly the bits of the plain loop written out here (db[j] += dY[r, j], rows in order), and a short
/// buffer is refused naming it.
/// </summary>
public sealed class BiasGradientTests
{
    public static TheoryData<int, int> Shapes()
    {
        int vc = Vector<float>.Count;
        var data = new TheoryData<int, int>();
        foreach (int width in new[] { 1, vc - 1, vc, vc + 1, 4 * vc, (5 * vc) + 3, 64, 500 })
        {
            foreach (int rows in new[] { 0, 1, 3, 257 })
            {
                data.Add(width, rows);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void ColumnSums_EqualThePlainLoop_BitForBit(int width, int rows)
    {
        Check<float>(width, rows, seed: width + (7 * rows));
        Check<double>(width, rows, seed: width + (7 * rows));
    }

    [Fact]
    public void ShortBuffers_AreRefusedNamingThem()
    {
        var e = Assert.Throws<ArgumentException>(() => BiasGradient.AddColumnSums<float>(new float[(3 * 8) - 1], 3, 8, new float[8]));
        Assert.Equal("dy", e.ParamName);
        Assert.Contains("need dy ≥ 24", e.Message, StringComparison.Ordinal);

        e = Assert.Throws<ArgumentException>(() => BiasGradient.AddColumnSums<float>(new float[24], 3, 8, new float[7]));
        Assert.Equal("db", e.ParamName);

        // A longer dy (a workspace sized for a larger batch) is fine: only rows × width values are read.
        var db = new float[8];
        BiasGradient.AddColumnSums<float>(new float[100], 3, 8, db);
        Assert.All(db, static v => Assert.Equal(0f, v));
    }

    private static void Check<T>(int width, int rows, int seed)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var rng = new System.Random(seed);
        var dy = new T[(rows * width) + 5];          // a longer buffer: only rows × width values count
        for (int i = 0; i < dy.Length; i++)
        {
            dy[i] = T.CreateChecked((rng.NextDouble() - 0.5) * Math.Pow(10, rng.Next(-3, 4)));
        }

        var start = new T[width];
        for (int j = 0; j < width; j++)
        {
            start[j] = T.CreateChecked(rng.NextDouble() - 0.5);
        }

        var expected = (T[])start.Clone();
        for (int r = 0; r < rows; r++)
        {
            for (int j = 0; j < width; j++)
            {
                expected[j] += dy[(r * width) + j];
            }
        }

        var actual = (T[])start.Clone();
        BiasGradient.AddColumnSums<T>(dy, rows, width, actual);

        for (int j = 0; j < width; j++)
        {
            Assert.True(expected[j].Equals(actual[j]), $"{typeof(T).Name} width {width} rows {rows}: db[{j}] = {actual[j]}, the plain loop gives {expected[j]}");
        }
    }
}

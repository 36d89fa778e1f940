using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using Xunit;

namespace FusedOpt.Tests;

/// <summary>
/// The <c>bench step</c> table: one row per variant in the documented order, each cell in its column, checked against
/// the definitions (ns/param = best time ÷ parameters; GB/s = bytes per parameter ÷ ns per parameter) rather than
/// against another rendering.
/// </summary>
public sealed class BenchTableCliTests
{
    private const int Size = 256 * 1024;

    [Fact]
    public void BenchStep_Table_HasEveryVariantWithConsistentCells()
    {
        var result = CliHarness.Run("bench", "step", "--optimizer", "adam", "--size", "256K", "--threads", "1", "--rounds", "1");

        Assert.Equal(0, result.ExitCode);
        var rows = Rows(result.Output);
        Assert.Equal(["variant", "B/param", "best ms", "median ms", "ns/param", "GB/s"], rows[0]);

        var variants = rows.Skip(1).ToList();
        Assert.Equal(6, variants.Count);
        Assert.StartsWith("fused ", variants[0][0], StringComparison.Ordinal);
        Assert.Equal(["naive multi-pass", "fused scalar", "same-traffic probe", "copy", "triad"], variants.Skip(1).Select(static r => r[0]));

        // Adam reads p, g, m, v and writes p, m, v: 28 B/param; copy moves 8, triad 12.
        Assert.Equal(["28", "28", "28", "28", "8", "12"], variants.Select(static r => r[1]));
        foreach (var row in variants)
        {
            double bytes = Parse(row[1]), bestMs = Parse(row[2]), medianMs = Parse(row[3]), ns = Parse(row[4]), gbps = Parse(row[5]);
            Assert.True(bestMs <= medianMs, $"{row[0]}: best {bestMs} ms > median {medianMs} ms");

            // Cells are rounded to 0.001 ms and 0.001 ns: allow that rounding, no more.
            double nsFromMs = bestMs * 1e6 / Size, slack = (0.0005 * 1e6 / Size) + 0.0005;
            Assert.True(Math.Abs(ns - nsFromMs) <= slack, $"{row[0]}: {ns} ns/param, but {bestMs} ms / {Size} parameters = {nsFromMs}");
            if (ns >= 0.05)
            {
                double expected = bytes / ns;
                Assert.True(Math.Abs(gbps - expected) <= (0.05 + (expected * 0.0005 / ns)), $"{row[0]}: {gbps} GB/s, but {bytes} B / {ns} ns = {expected}");
            }
        }
    }

    /// <summary>The cells of each table row (lines drawn with │), trimmed.</summary>
    private static List<string[]> Rows(string output) =>
        [.. output.Split('\n')
            .Where(static line => line.TrimStart().StartsWith('│'))
            .Select(static line => line.Trim().Trim('│').Split('│').Select(static cell => cell.Trim()).ToArray())];

    private static double Parse(string cell) => double.Parse(cell, NumberStyles.Float, CultureInfo.InvariantCulture);
}

using System.Collections.Generic;
using System.Globalization;
using FusedOpt.Benchmarks;
using Spectre.Console;

namespace FusedOpt.Cli.Commands;

/// <summary>
/// The tables the <c>bench</c> commands print: rounded borders, label columns on the left, numbers right-aligned and
/// formatted in the invariant culture, so every benchmark reads the same way.
/// </summary>
internal static class BenchTables
{
    /// <summary>
    /// An empty table with <paramref name="labels"/> left-aligned label columns followed by right-aligned number
    /// columns, headed by <paramref name="columns"/> in order.
    /// </summary>
    public static Table Create(string? title, int labels, params string[] columns)
    {
        var table = new Table().Border(TableBorder.Rounded);
        if (title is not null)
        {
            table.Title(Markup.Escape(title));
        }

        for (int i = 0; i < columns.Length; i++)
        {
            var column = new TableColumn(Markup.Escape(columns[i]));
            table.AddColumn(i < labels ? column : column.RightAligned());
        }

        return table;
    }

    /// <summary>
    /// One row per timed variant (<c>bench step</c> on the CPU or a device): bytes per parameter, best and median ms,
    /// ns per parameter (to <paramref name="nsFormat"/>; a device step needs a digit more) and GB/s.
    /// </summary>
    public static Table Variants(IEnumerable<BenchVariant> variants, string nsFormat = "0.000")
    {
        var table = Create(null, 1, "variant", "B/param", "best ms", "median ms", "ns/param", "GB/s");
        foreach (var v in variants)
        {
            table.AddRow(
                Markup.Escape(v.Name),
                Bytes(v.BytesPerParameter),
                Number(v.BestSeconds * 1e3, "0.000"),
                Number(v.MedianSeconds * 1e3, "0.000"),
                Number(v.NsPerParameter, nsFormat),
                Number(v.GBps, "0.0"));
        }

        return table;
    }

    /// <summary>Bytes per parameter: a whole number as it is (28), else to four decimals at most (q8 Adam: 16.0625).</summary>
    public static string Bytes(double bytesPerParameter) => Number(bytesPerParameter, "0.####");

    /// <summary><paramref name="value"/> to <paramref name="format"/> in the invariant culture.</summary>
    public static string Number(double value, string format) => value.ToString(format, CultureInfo.InvariantCulture);
}

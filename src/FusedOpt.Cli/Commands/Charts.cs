using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;

namespace FusedOpt.Cli.Commands;

/// <summary>PNG charts with ScottPlot: one line per series over a shared x axis.</summary>
internal static class Charts
{
    /// <summary>A named series of (x, y) points.</summary>
    public sealed record Series(string Name, IReadOnlyList<double> X, IReadOnlyList<double> Y);

    /// <summary>
    /// Refuses a chart path that cannot be written (empty, a folder, or under a file), before the work that produces
    /// the chart: the folder is created and a probe file written and removed.
    /// </summary>
    public static void RequireWritable(string path, string option)
    {
        if (path.Trim().Length == 0 || Directory.Exists(path))
        {
            throw new UsageException($"{option} '{path}': expected a file name such as chart.png.");
        }

        string full = Path.GetFullPath(path);
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(full)!);
            string probe = full + ".probe";
            File.WriteAllBytes(probe, []);
            File.Delete(probe);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UsageException($"{option} '{path}': cannot write there ({e.Message}).");
        }
    }

    /// <summary>Writes a line chart to <paramref name="path"/> (folders created); log axes plot log10 values with labelled ticks.</summary>
    public static void Lines(string path, string title, string xLabel, string yLabel, IEnumerable<Series> series, bool logX = false, bool logY = false, int width = 900, int height = 560)
    {
        var plot = new ScottPlot.Plot();
        foreach (var s in series.ToList())
        {
            var xs = s.X.Select(x => logX ? System.Math.Log10(x) : x).ToArray();
            var ys = s.Y.Select(y => logY ? System.Math.Log10(y) : y).ToArray();
            var line = plot.Add.Scatter(xs, ys);
            line.LegendText = s.Name;
            line.MarkerSize = s.X.Count > 60 ? 0 : 6;
        }

        var list = series.ToList();
        if (logX)
        {
            // Major ticks at the measured x values, labelled as sizes (16K, 1M, …).
            var xs = list.SelectMany(static s => s.X).Distinct().OrderBy(static x => x).ToArray();
            plot.Axes.Bottom.SetTicks([.. xs.Select(System.Math.Log10)], [.. xs.Select(FormatSize)]);
        }

        if (logY)
        {
            plot.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic { LabelFormatter = static v => FormatPower(v), MinorTickGenerator = new ScottPlot.TickGenerators.LogMinorTickGenerator() };
        }

        else if (list.SelectMany(static s => s.X).All(static x => x == System.Math.Floor(x)) && list.SelectMany(static s => s.X).Distinct().Count() <= 30)
        {
            // Few integral x values (epochs): one tick each.
            var xs = list.SelectMany(static s => s.X).Distinct().OrderBy(static x => x).ToArray();
            plot.Axes.Bottom.SetTicks(xs, [.. xs.Select(static x => x.ToString("0", System.Globalization.CultureInfo.InvariantCulture))]);
        }

        plot.Title(title);
        plot.XLabel(xLabel);
        plot.YLabel(yLabel);
        plot.ShowLegend(ScottPlot.Edge.Right);
        string? dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (dir is not null)
        {
            Directory.CreateDirectory(dir);
        }

        plot.SavePng(path, width, height);
    }

    private static string FormatSize(double v) => v switch
    {
        >= 1 << 30 when v % (1 << 30) == 0 => $"{v / (1 << 30):0}G",
        >= 1 << 20 when v % (1 << 20) == 0 => $"{v / (1 << 20):0}M",
        >= 1 << 10 when v % (1 << 10) == 0 => $"{v / (1 << 10):0}K",
        _ => v.ToString("0", System.Globalization.CultureInfo.InvariantCulture),
    };

    private static string FormatPower(double log10)
    {
        double v = System.Math.Pow(10, log10);
        return v switch
        {
            >= 1e9 => $"{v / 1e9:0.#}G",
            >= 1e6 => $"{v / 1e6:0.#}M",
            >= 1e3 => $"{v / 1e3:0.#}K",
            >= 1 => $"{v:0.#}",
            _ => v.ToString("0.###", System.Globalization.CultureInfo.InvariantCulture),
        };
    }
}

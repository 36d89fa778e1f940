using System;
using System.Linq;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Exporters;
using BenchmarkDotNet.Exporters.Json;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using FusedOpt.Kernels;

namespace FusedOpt.Bench;

/// <summary>
/// Memory diagnoser on (the fused step must allocate nothing per call), the step columns (ns/param, GB/s, fraction of
/// the same-traffic probe, speedup vs naive), and a Markdown + JSON export. The run's ISA, CPU and thread counts are
/// in the parameters and the environment block of every report.
/// </summary>
public sealed class BenchConfig : ManualConfig
{
    public BenchConfig()
    {
        Add(DefaultConfig.Instance);
        AddDiagnoser(MemoryDiagnoser.Default);
        AddColumn(new StepColumn(StepColumn.Kind.NsPerParam), new StepColumn(StepColumn.Kind.GBps),
            new StepColumn(StepColumn.Kind.FractionOfProbe), new StepColumn(StepColumn.Kind.SpeedupVsNaive));
        AddExporter(MarkdownExporter.GitHub, JsonExporter.Full);
        WithOptions(ConfigOptions.DisableLogFile);
        WithSummaryStyle(SummaryStyle.Default.WithRatioStyle(RatioStyle.Trend));
        Console.WriteLine($"FusedOpt.Bench: best ISA {IsaSupport.Name(IsaSupport.Best)}, {Environment.ProcessorCount} logical cores.");
    }
}

/// <summary>Columns computed from a benchmark's mean and the bytes its variant must move per parameter.</summary>
public sealed class StepColumn(StepColumn.Kind kind) : IColumn
{
    public enum Kind { NsPerParam, GBps, FractionOfProbe, SpeedupVsNaive }

    public string Id => "FusedOpt." + kind;

    public string ColumnName => kind switch
    {
        Kind.NsPerParam => "ns/param",
        Kind.GBps => "GB/s",
        Kind.FractionOfProbe => "÷probe",
        _ => "×naive",
    };

    public bool AlwaysShow => true;

    public ColumnCategory Category => ColumnCategory.Custom;

    public int PriorityInCategory => (int)kind;

    public bool IsNumeric => true;

    public UnitType UnitType => UnitType.Dimensionless;

    public string Legend => kind switch
    {
        Kind.NsPerParam => "Mean time per parameter",
        Kind.GBps => "Bytes the variant must move per parameter × parameters / mean (10^9 B/s)",
        Kind.FractionOfProbe => "Same-traffic probe mean / this mean: 1 = at the memory limit of this step",
        _ => "Naive multi-pass mean / this mean",
    };

    public bool IsAvailable(Summary summary) => true;

    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
    {
        if (Activator.CreateInstance(benchmarkCase.Descriptor.Type) is not IStepBenchmark bench)
        {
            return "-";
        }

        double? mean = Mean(summary, benchmarkCase);
        long parameters = bench.ParameterCount(benchmarkCase);
        if (mean is null || parameters <= 0)
        {
            return "-";
        }

        string method = benchmarkCase.Descriptor.WorkloadMethod.Name;
        return kind switch
        {
            Kind.NsPerParam => (mean.Value / parameters).ToString("0.000", System.Globalization.CultureInfo.InvariantCulture),
            Kind.GBps => (bench.BytesPerParameter(method) * (double)parameters / mean.Value).ToString("0.0", System.Globalization.CultureInfo.InvariantCulture),
            Kind.FractionOfProbe => Sibling(summary, benchmarkCase, "SameTrafficProbe") is { } probe ? (probe / mean.Value).ToString("0.00", System.Globalization.CultureInfo.InvariantCulture) : "-",
            _ => Sibling(summary, benchmarkCase, "Naive") is { } naive ? (naive / mean.Value).ToString("0.00", System.Globalization.CultureInfo.InvariantCulture) : "-",
        };
    }

    private static double? Mean(Summary summary, BenchmarkCase benchmarkCase) => summary[benchmarkCase]?.ResultStatistics?.Mean;

    /// <summary>The mean of another method of the same class with the same parameters.</summary>
    private static double? Sibling(Summary summary, BenchmarkCase benchmarkCase, string method)
    {
        var sibling = summary.BenchmarksCases.FirstOrDefault(c =>
            c.Descriptor.Type == benchmarkCase.Descriptor.Type
            && c.Descriptor.WorkloadMethod.Name == method
            && c.Parameters.DisplayInfo == benchmarkCase.Parameters.DisplayInfo
            && c.Job == benchmarkCase.Job);
        return sibling is null ? null : Mean(summary, sibling);
    }
}

/// <summary>A benchmark class whose columns can ask how many bytes a method moves per parameter.</summary>
public interface IStepBenchmark
{
    /// <summary>Bytes <paramref name="method"/> must move per parameter.</summary>
    int BytesPerParameter(string method);

    /// <summary>Parameters (elements) one call processes: by default the benchmark's <c>Size</c> parameter.</summary>
    long ParameterCount(BenchmarkCase benchmarkCase) => Convert.ToInt64(benchmarkCase.Parameters["Size"], System.Globalization.CultureInfo.InvariantCulture);
}

using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading.Tasks;
using FusedOpt.Models.Training.Metrics;
using Xunit;

namespace FusedOpt.Tests.Training;

/// <summary>The JSON Lines metrics sink: exact line shape, each line on disk before Write returns, NaN survives, crash-tolerant reading.</summary>
public sealed class MetricsWriterTests : IDisposable
{
    private readonly string _folder = Path.Combine(Path.GetTempPath(), "fusedopt-metrics-tests-" + Guid.NewGuid().ToString("N"));

    private string MetricsPath => Path.Combine(_folder, "run", "metrics.jsonl");

    public void Dispose()
    {
        if (Directory.Exists(_folder))
        {
            Directory.Delete(_folder, recursive: true);
        }
    }

    [Fact]
    public void Write_GivesOneCompactObjectPerLine_WithKindFirstAndNullsOmitted()
    {
        using (var writer = new MetricsWriter(MetricsPath))
        {
            writer.Write(new IterationMetrics(3, 0, 2.5, 0.1));
            writer.Write(new EpochMetrics(0, 40, 1.75, 0.375, 0.1) { TestLoss = 1.5, TestAccuracy = 0.5, Seconds = 12.25 });
        }

        Assert.Equal(
            [
                "{\"kind\":\"iteration\",\"iteration\":3,\"epoch\":0,\"loss\":2.5,\"learningRate\":0.1}",
                "{\"kind\":\"epoch\",\"epoch\":0,\"iteration\":40,\"trainLoss\":1.75,\"trainAccuracy\":0.375,\"learningRate\":0.1,\"testLoss\":1.5,\"testAccuracy\":0.5,\"seconds\":12.25}",
            ],
            File.ReadAllLines(MetricsPath));
    }

    [Fact]
    public void Write_LineIsInTheFileBeforeWriteReturns()
    {
        using var writer = new MetricsWriter(MetricsPath);

        for (int i = 0; i < 3; i++)
        {
            writer.Write(new IterationMetrics(i, 0, 1.0, 0.01));

            Assert.Equal(i + 1, ReadShared(MetricsPath).Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
            Assert.EndsWith("}\n", ReadShared(MetricsPath), StringComparison.Ordinal);
        }

        Assert.Equal(3, writer.Lines);
    }

    [Fact]
    public void Write_NonFiniteLoss_IsWrittenAsNamedLiteral_AndReadBack()
    {
        using (var writer = new MetricsWriter(MetricsPath))
        {
            writer.Write(new IterationMetrics(7, 1, double.NaN, 0.1));
            writer.Write(new IterationMetrics(8, 1, double.PositiveInfinity, 0.1));
        }

        Assert.Contains("\"loss\":\"NaN\"", File.ReadAllText(MetricsPath), StringComparison.Ordinal);
        var records = MetricsReader.ReadAll(MetricsPath).Cast<IterationMetrics>().ToList();
        Assert.True(double.IsNaN(records[0].Loss));
        Assert.Equal(double.PositiveInfinity, records[1].Loss);
    }

    [Fact]
    public void Reader_RoundTripsEveryKind()
    {
        var iteration = new IterationMetrics(12, 2, 0.5, 0.05) { Accuracy = 0.75, Seconds = 0.01 };
        var epoch = new EpochMetrics(2, 120, 0.6, 0.8, 0.05) { TestAccuracy = 0.7 };
        using (var writer = new MetricsWriter(MetricsPath))
        {
            writer.Write(new RunMetadata("fcn-adam", new Dictionary<string, string> { ["optimizer"] = "adam", ["schedule"] = "cosine:T=400,min=0" }));
            writer.Write(iteration);
            writer.Write(epoch);
        }

        var records = MetricsReader.ReadAll(MetricsPath);

        var run = Assert.IsType<RunMetadata>(records[0]);
        Assert.Equal("fcn-adam", run.Name);
        Assert.Equal("cosine:T=400,min=0", run.Settings["schedule"]);
        Assert.Equal(iteration, records[1]);
        Assert.Equal(epoch, records[2]);
    }

    [Fact]
    public void Reader_UnfinishedLastLine_IsDropped()
    {
        using (var writer = new MetricsWriter(MetricsPath))
        {
            writer.Write(new IterationMetrics(0, 0, 2.3, 0.1));
            writer.Write(new IterationMetrics(1, 0, 2.2, 0.1));
        }

        File.AppendAllText(MetricsPath, "{\"kind\":\"iteration\",\"iter");

        Assert.Equal(2, MetricsReader.ReadAll(MetricsPath).Count);
    }

    [Fact]
    public void Reader_BadLineInTheMiddle_NamesFileAndLine()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(MetricsPath)!);
        File.WriteAllText(MetricsPath, "{\"kind\":\"iteration\",\"iteration\":0,\"epoch\":0,\"loss\":1,\"learningRate\":1}\nnot json\n");

        var e = Assert.Throws<InvalidDataException>(() => MetricsReader.ReadAll(MetricsPath));

        Assert.Contains("metrics.jsonl: line 2 is not a metrics record", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Append_KeepsEarlierLines()
    {
        using (var first = new MetricsWriter(MetricsPath))
        {
            first.Write(new IterationMetrics(0, 0, 1, 1));
        }

        using (var second = new MetricsWriter(MetricsPath, append: true, durable: true))
        {
            second.Write(new IterationMetrics(1, 0, 1, 1));
        }

        Assert.Equal(2, File.ReadAllLines(MetricsPath).Length);
    }

    [Fact]
    public void Write_FromSeveralThreads_KeepsLinesWhole()
    {
        using (var writer = new MetricsWriter(MetricsPath))
        {
            Parallel.For(0, 200, i => writer.Write(new IterationMetrics(i, 0, i * 0.5, 0.1)));
        }

        var records = MetricsReader.ReadAll(MetricsPath).Cast<IterationMetrics>().ToList();
        Assert.Equal(Enumerable.Range(0, 200), records.Select(r => (int)r.Iteration).Order());
    }

    [Fact]
    public void Write_AfterDispose_Throws()
    {
        var writer = new MetricsWriter(new MemoryStream());
        writer.Dispose();

        Assert.Throws<ObjectDisposedException>(() => writer.Write(new IterationMetrics(0, 0, 1, 1)));
    }

    private static string ReadShared(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        return new StreamReader(stream).ReadToEnd();
    }

    [Theory]
    [InlineData(1L, 1, 2.302585092994046, 0.001, 0.125, 0.0123456789)]
    [InlineData(123456789012L, 7, double.NaN, 1e-30, null, null)]
    [InlineData(5L, 2, double.PositiveInfinity, 0.1, double.NegativeInfinity, 3.0)]
    [InlineData(9L, 3, 1e-300, 5e-324, 1.0, null)]
    public void WriteIteration_WritesTheBytesOfWriteWithTheRecord(long iteration, int epoch, double loss, double lr, double? accuracy, double? seconds)
    {
        var expected = new MemoryStream();
        var actual = new MemoryStream();
        using (var a = new MetricsWriter(expected, leaveOpen: true))
        using (var b = new MetricsWriter(actual, leaveOpen: true))
        {
            a.Write(new IterationMetrics(iteration, epoch, loss, lr) { Accuracy = accuracy, Seconds = seconds });
            b.WriteIteration(iteration, epoch, loss, lr, accuracy, seconds);
        }

        Assert.Equal(System.Text.Encoding.UTF8.GetString(expected.ToArray()), System.Text.Encoding.UTF8.GetString(actual.ToArray()));
    }
}

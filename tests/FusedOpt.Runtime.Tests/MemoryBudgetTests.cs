using System;
using FusedOpt.Benchmarks;
using FusedOpt.Memory;
using Xunit;

namespace FusedOpt.Tests;

/// <summary>Memory is counted before a benchmark allocates it, with checked arithmetic, and refused with a clear error.</summary>
public sealed class MemoryBudgetTests
{
    private const long GiB = 1L << 30;

    [Fact]
    public void Require_MoreThanAvailable_NamesWhatNeedsItAndBothAmounts()
    {
        var e = Assert.Throws<InsufficientMemoryException>(() => MemoryBudget.Require(80 * GiB, "bench step adam --size 1G", available: 23 * GiB));

        Assert.Equal("bench step adam --size 1G needs 80.0 GiB of memory, but only 23.0 GiB is available; ask for a smaller size.", e.Message);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(9 * GiB)]
    public void Require_WithinNinetyPercentOfAvailable_Passes(long bytes) => MemoryBudget.Require(bytes, "test", available: 10 * GiB);

    [Fact]
    public void Require_AboveNinetyPercentOfAvailable_IsRefused() =>
        Assert.Throws<InsufficientMemoryException>(() => MemoryBudget.Require((9 * GiB) + 1, "test", available: 10 * GiB));

    [Fact]
    public void Bytes_ThatOverflow_AreTooMuchMemory_NotAnOverflow()
    {
        var e = Assert.Throws<InsufficientMemoryException>(() => MemoryBudget.Bytes(long.MaxValue / 2, 16, "bench step --size huge"));

        Assert.Contains("more than any machine has", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AvailableBytes_IsPositive_AndWithinWhatTheRuntimeCanUse()
    {
        long available = MemoryBudget.AvailableBytes;

        Assert.InRange(available, 1, GC.GetGCMemoryInfo().TotalAvailableMemoryBytes);
    }

    [Fact]
    public void StepBenchmark_RequiredBytes_CountsEveryBuffer()
    {
        long size = 1L << 30;
        var adam = OptimizerCatalog.Get("adam");

        long bytes = StepBenchmark.RequiredBytes(new StepBenchOptions("adam", size, Threads: 2));

        // Parameters and gradients; m, v and vMax for each of the fused, naive and scalar optimizers; the naive step's
        // temporaries; the copy/triad probe buffers a, b, c. Four bytes each.
        long perParameter = (2 + (3 * 3) + adam.NaiveTemporaries + 3) * 4;
        Assert.Equal(3, adam.States.Count);
        Assert.Equal(size * perParameter, bytes);
        Assert.True(bytes > 50 * GiB, $"{bytes}");
    }
}

using System;
using System.IO;
using Xunit;

namespace FusedOpt.Tests;

/// <summary>tests/Shared/SharedData: a missing shared/ skips a test locally and fails it under CI=true.</summary>
public sealed class SharedDataTests
{
    private static readonly string Missing = Path.Combine(Path.GetTempPath(), "fusedopt-no-shared-" + Guid.NewGuid().ToString("N"));

    [Theory]
    [InlineData("true")]
    [InlineData("TRUE")]
    [InlineData("1")]
    public void MissingShared_UnderCi_FailsTheTest(string ci)
    {
        var (outcome, message) = SharedData.Check(Missing, "Reference trajectories", v => v == "CI" ? ci : null);

        Assert.Equal(SharedData.Outcome.Fail, outcome);
        Assert.Contains($"Reference trajectories not found at {Missing}", message, StringComparison.Ordinal);
        Assert.Contains("fails the test instead of skipping it", message, StringComparison.Ordinal);
    }

    [Fact]
    public void MissingShared_UnderCi_RequireDirectoryThrowsAFailure()
    {
        var e = Record.Exception(() => SharedData.RequireDirectory(Missing, "CIFAR-10", static v => v == "CI" ? "true" : null));

        Assert.NotNull(e);
        Assert.DoesNotContain("Skip", e.GetType().Name, StringComparison.Ordinal);
        Assert.Contains($"CIFAR-10 not found at {Missing}", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("false")]
    [InlineData("")]
    public void MissingShared_Locally_SkipsTheTest(string? ci)
    {
        var (outcome, message) = SharedData.Check(Missing, "CIFAR-10", v => v == "CI" ? ci : null);

        Assert.Equal(SharedData.Outcome.Skip, outcome);
        Assert.Contains($"CIFAR-10 not found at {Missing}", message, StringComparison.Ordinal);
    }

    [Fact]
    public void PresentShared_UnderCi_Runs()
    {
        Assert.Equal(SharedData.Outcome.Run, SharedData.Check(Path.GetTempPath(), "a folder that exists", static _ => "true").Outcome);
    }
}

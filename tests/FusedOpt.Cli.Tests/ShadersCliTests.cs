using System;
using System.IO;
using System.Linq;
using Xunit;

namespace FusedOpt.Tests;

/// <summary><c>fusedopt shaders</c>: one <c>NAME.FLAGS.hlsl</c> per switch combination, and exit 2 on bad input.</summary>
public sealed class ShadersCliTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fusedopt-shaders-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Shaders_Adam_WritesOneFilePerCombination_WithTheDescriptorsText()
    {
        string output = Path.Combine(_dir, "out");

        var result = CliHarness.Run("shaders", "--optimizer", "adam", "--out", output);

        Assert.Equal(0, result.ExitCode);
        // Adam has two switches (WeightDecay != 0, Amsgrad) plus the gradient-scale bit: flags 0 … 7.
        Assert.Equal(Enumerable.Range(0, 8).Select(static f => $"adam.{f}.hlsl").Order(StringComparer.Ordinal),
            Directory.GetFiles(output).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.Equal(OptimizerCatalog.Get("adam").Hlsl(5)!.Source, File.ReadAllText(Path.Combine(output, "adam.5.hlsl")));
    }

    [Fact]
    public void Shaders_AllOptimizers_WritesEveryOnesCombinations()
    {
        var result = CliHarness.Run("shaders", "--out", _dir);

        Assert.Equal(0, result.ExitCode);
        int expected = OptimizerCatalog.All.Where(static d => d.Hlsl(0) is not null).Sum(static d => 1 << (d.Switches.Count + 1));
        Assert.Equal(expected, Directory.GetFiles(_dir, "*.hlsl").Length);
    }

    [Theory]
    [InlineData("--optimizer", "no-such-optimizer")]
    [InlineData("--out", "")]
    public void Shaders_BadInput_ExitsTwo_WithAnError(string option, string value)
    {
        var result = option == "--out"
            ? CliHarness.Run("shaders", "--out", value)
            : CliHarness.Run("shaders", option, value, "--out", Path.Combine(_dir, "x"));

        Assert.Equal(2, result.ExitCode);
        Assert.StartsWith("error:", result.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void Shaders_OutIsAFile_ExitsTwo()
    {
        string file = Path.Combine(_dir, "file");
        File.WriteAllText(file, "");

        var result = CliHarness.Run("shaders", "--out", file);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("is a file", result.Error, StringComparison.Ordinal);
    }
}

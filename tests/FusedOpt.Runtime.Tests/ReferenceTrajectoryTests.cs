using System.Collections.Generic;
using System.IO;
using System.Linq;
using FusedOpt.Kernels;
using FusedOpt.Reference;
using Xunit;

namespace FusedOpt.Tests;

/// <summary>
/// Every optimizer against trajectories recorded from PyTorch (shared/reference/optimizers), on every instruction
/// set this machine runs and with 1 and 2 threads, within the reference tolerance: max |ours − expected| /
/// (|expected| + 1e-3) ≤ 1e-4 on every element of every step.
/// </summary>
public sealed class ReferenceTrajectoryTests
{
    /// <summary>The case names; one placeholder when the folder is absent, so that the tests show as skipped.</summary>
    public static IReadOnlyList<string> CaseNames()
    {
        string dir = SharedData.ReferenceOptimizers;
        return Directory.Exists(dir)
            ? [.. Directory.GetFiles(dir, "*.json").Select(Path.GetFileNameWithoutExtension).OrderBy(static f => f, System.StringComparer.Ordinal)!]
            : ["(reference folder absent)"];
    }

    public static TheoryData<string> Cases() => new(CaseNames());

    public static IEnumerable<TheoryDataRow<string, Isa, int>> CasesByPath()
    {
        foreach (var name in CaseNames())
        {
            foreach (var isa in new[] { Isa.Avx512, Isa.Avx2, Isa.Scalar })
            {
                foreach (int threads in new[] { 1, 2 })
                {
                    yield return new TheoryDataRow<string, Isa, int>(name, isa, threads);
                }
            }
        }
    }

    [Theory]
    [MemberData(nameof(CasesByPath))]
    public void Replay_MatchesPyTorch_WithinTolerance(string name, Isa isa, int threads)
    {
        SharedData.RequireDirectory(SharedData.ReferenceOptimizers, "Reference trajectories");
        if (!IsaSupport.IsSupported(isa))
        {
            Assert.Skip($"This machine cannot run {IsaSupport.Name(isa)}.");
        }

        var reference = ReferenceCase.Load(Path.Combine(SharedData.ReferenceOptimizers, name + ".json"));
        var result = reference.Replay(new OptimizerOptions { Isa = isa, Threads = threads });

        Assert.True(result.Passed, result.Describe());
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Replay_NaiveMultiPass_MatchesPyTorch(string name)
    {
        SharedData.RequireDirectory(SharedData.ReferenceOptimizers, "Reference trajectories");
        var reference = ReferenceCase.Load(Path.Combine(SharedData.ReferenceOptimizers, name + ".json"));
        var result = reference.Replay(new OptimizerOptions { Mode = StepMode.Naive });

        Assert.True(result.Passed, result.Describe());
    }
}

using System.IO;
using FusedOpt.Gpu;
using FusedOpt.Reference;
using Xunit;

namespace FusedOpt.Tests;

/// <summary>
/// Every PyTorch reference trajectory (shared/reference/optimizers) replayed with the generated GPU kernels on
/// ILGPU's CPU accelerator, within the shared tolerance: max |ours − expected| / (|expected| + 1e-3) ≤ 1e-4.
/// </summary>
[Collection(IlgpuCpuCollection.Name)]
public sealed class GpuReferenceTests(IlgpuCpuFixture fixture)
{
    public static TheoryData<string> Cases() => ReferenceTrajectoryTests.Cases();

    [Theory]
    [MemberData(nameof(Cases))]
    public void Replay_OnTheIlgpuCpuAccelerator_MatchesPyTorch(string name)
    {
        SharedData.RequireDirectory(SharedData.ReferenceOptimizers, "Reference trajectories");
        var reference = ReferenceCase.Load(Path.Combine(SharedData.ReferenceOptimizers, name + ".json"));

        var result = reference.ReplayOnDevice(fixture.Accelerator);

        Assert.True(result.Passed, result.Describe());
        Assert.Equal(fixture.Accelerator.Name, result.Device);
    }
}

using System;
using System.ComponentModel;
using System.Linq;
using System.Reflection;
using Xunit;

namespace FusedOpt.Tests;

/// <summary>
/// The types generated kernels call into stay public (generated code lives in user assemblies) but are hidden from
/// completion, so a user's IntelliSense shows the library, not its plumbing.
/// </summary>
public sealed class PublicSurfaceTests
{
    /// <summary>What the generated files reference besides the declaration types (see any obj/**/generated/*.g.cs).</summary>
    private static readonly Type[] GeneratorSupport =
    [
        typeof(Kernels.StepFrame), typeof(Kernels.StatePointers), typeof(Kernels.Width512), typeof(Kernels.Width256),
        typeof(Kernels.WidthScalar), typeof(Kernels.IFlag), typeof(Kernels.On), typeof(Kernels.Off), typeof(Kernels.NaiveOps),
        typeof(Kernels.NaiveScratch), typeof(Kernels.SimdMath), typeof(Kernels.StepMath), typeof(Kernels.Reductions),
        typeof(Gpu.GpuArgs),
    ];

    [Fact]
    public void GeneratorSupportTypes_ArePublic_ButHiddenFromCompletion()
    {
        Assert.All(GeneratorSupport, static t =>
        {
            Assert.True(t.IsPublic, $"{t.FullName} must stay public: generated code in user assemblies uses it.");
            var attribute = t.GetCustomAttribute<EditorBrowsableAttribute>();
            Assert.True(attribute?.State == EditorBrowsableState.Never, $"{t.FullName} lacks [EditorBrowsable(Never)].");
        });
    }

    [Fact]
    public void EveryPublicKernelsType_ExceptTheIsaChoice_IsGeneratorSupport()
    {
        // A new public type in FusedOpt.Kernels is either for users (Isa, IsaSupport) or plumbing that must be hidden.
        var kernels = typeof(Kernels.StepFrame).Assembly.GetExportedTypes()
            .Where(static t => t.Namespace == "FusedOpt.Kernels" && !t.IsNested && !t.Name.StartsWith("Isa", StringComparison.Ordinal));
        Assert.All(kernels, static t => Assert.True(
            t.GetCustomAttribute<EditorBrowsableAttribute>()?.State == EditorBrowsableState.Never,
            $"{t.FullName} is public in FusedOpt.Kernels: hide it from completion or make it internal."));
    }

    [Fact]
    public void BenchmarkMachinery_IsNotPublic()
    {
        // Probes, step benchmarks and their result records serve the CLI's bench commands and bench/ (InternalsVisibleTo).
        Assert.DoesNotContain(typeof(Kernels.StepFrame).Assembly.GetExportedTypes(), static t => t.Namespace == "FusedOpt.Benchmarks");
    }

    [Fact]
    public void ReplayMachinery_IsNotPublic()
    {
        // Reference cases and their replays on every path serve `fusedopt replay` and the tests (InternalsVisibleTo).
        var assembly = typeof(Kernels.StepFrame).Assembly;
        Assert.DoesNotContain(assembly.GetExportedTypes(), static t => t.Namespace == "FusedOpt.Reference");
        Assert.DoesNotContain(assembly.GetExportedTypes(), static t => t.Name.EndsWith("Replay", StringComparison.Ordinal));
    }
}

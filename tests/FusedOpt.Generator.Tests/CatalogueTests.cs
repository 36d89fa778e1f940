using System;
using Xunit;

namespace FusedOpt.Tests;

/// <summary>
/// Two assemblies declaring one catalogue name: loading both never throws (registration runs in a module initializer,
/// before Main), and looking the name up says which types and assemblies clash.
/// </summary>
public sealed class CatalogueTests
{
    private const string Rule = """
        using FusedOpt;
        namespace N{0};
        [Optimizer("clash-probe")] public partial record R{0}(float Lr = 1f) {{ void Update(ref float p, float g) => p -= Lr * g; }}
        """;

    [Fact]
    public void SameNameInTwoAssemblies_LoadsWithoutThrowing_AndLookupNamesBoth()
    {
        var first = RuleLoader.Load(GeneratorHarness.Generate(string.Format(System.Globalization.CultureInfo.InvariantCulture, Rule, 1)), "ClashFirst");
        var second = RuleLoader.Load(GeneratorHarness.Generate(string.Format(System.Globalization.CultureInfo.InvariantCulture, Rule, 2)), "ClashSecond");

        var e = Assert.Throws<InvalidOperationException>(static () => OptimizerCatalog.Get("clash-probe"));
        Assert.Contains("N1.R1 (ClashFirst)", e.Message, StringComparison.Ordinal);
        Assert.Contains("N2.R2 (ClashSecond)", e.Message, StringComparison.Ordinal);
        Assert.Contains("clash-probe", OptimizerCatalog.Duplicates.Keys);
        Assert.NotNull(first);
        Assert.NotNull(second);
    }

    [Fact]
    public void SameTypeRegisteredTwice_IsNotADuplicate()
    {
        var run = GeneratorHarness.Generate(string.Format(System.Globalization.CultureInfo.InvariantCulture, Rule.Replace("clash-probe", "twice-probe", StringComparison.Ordinal), 3));
        var assembly = RuleLoader.Load(run, "TwiceProbe");
        var descriptor = RuleLoader.Descriptor(assembly, "R3");

        OptimizerCatalog.Register(descriptor, assembly.GetType("N3.R3"));

        Assert.Same(descriptor, OptimizerCatalog.Get("twice-probe"));
    }
}

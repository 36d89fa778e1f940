using System.Linq;
using FusedOpt.Generator;
using FusedOpt.Generator.Emit;
using FusedOpt.Generator.Emit.Targets;
using FusedOpt.Generator.Model;
using Microsoft.CodeAnalysis;
using Xunit;

namespace FusedOpt.Tests;

/// <summary>
/// The emitter seams: a storage is one <see cref="BufferAccess"/> that every loop reads and writes a buffer through, and
/// the analysed model handed to the emitters is the pipeline's own value.
/// </summary>
public sealed class EmitterSeamTests
{
    /// <summary>A stand-in for a compressed storage (bf16 would be this shape): 2-byte elements, widened on load, narrowed on store.</summary>
    private sealed class HalfWidthAccess : BufferAccess
    {
        public override string StorageType => "ushort";

        public override int BytesPerElement => 2;

        public override string Load(KernelTarget target, string reference, string index) => $"Widen{target.Lanes}({reference}, {index})";

        public override string Store(KernelTarget target, string reference, string index, string value) => $"Narrow{target.Lanes}({reference}, {index}, {value});";
    }

    [Fact]
    public void AStateStorage_IsOneBufferAccess_ThatEveryLoopUsesForThatBufferOnly()
    {
        var model = AnalysedModel(EmittedCodeTests.Adam);
        var fused = new FusedEmitter(model, new KernelNames(model), access: b => b.Name == "m" ? new HalfWidthAccess() : Fp32Access.Instance);
        var w = new CodeWriter();
        fused.EmitVector(w, VectorTarget.V512);
        fused.EmitVector(w, VectorTarget.V256);
        fused.EmitScalar(w);
        string code = w.ToString();

        // m: referenced, loaded and stored through the access in each loop, with the loop's lane count.
        Assert.Equal(3, Count(code, "ref ushort mRef = ref f.State(0);"));
        foreach (int lanes in new[] { 16, 8, 1 })
        {
            Assert.Contains($"m = Widen{lanes}(mRef, i);", code, System.StringComparison.Ordinal);
            Assert.Contains($"Narrow{lanes}(mRef, i, m);", code, System.StringComparison.Ordinal);
        }

        // v and p stay float32, read and written by each target's own float32 memory operations.
        Assert.Equal(3, Count(code, "ref float vRef = ref f.State(1);"));
        Assert.Contains("var v = Vector512.LoadUnsafe(ref vRef, (nuint)i);", code, System.StringComparison.Ordinal);
        Assert.Contains("float v = Unsafe.Add(ref vRef, i);", code, System.StringComparison.Ordinal);
        Assert.Contains("p.StoreUnsafe(ref pRef, (nuint)i);", code, System.StringComparison.Ordinal);
        Assert.DoesNotContain("Widen16(vRef", code, System.StringComparison.Ordinal);
    }

    [Fact]
    public void TheModel_CarriesTheFactsTheEmittersPrint()
    {
        var model = AnalysedModel(EmittedCodeTests.Adam);

        // Counted by hand from the Adam rule, every switch on. Naive passes: gradient scale 1; g += WeightDecay * p 2;
        // m = … (2 products, a sum, the copy) 4; v = … 5; vMax = Max(vMax, v) and its copy 2; p -= … (stepSize * m,
        // the select times invBiasCorrection2, sqrt, + eps, divide, subtract, copy) 7: 21. Element operations: add/sub
        // 1 + 1 + 1 + 2 = 5; mul 1 + 2 + 3 + 2 = 8 (the division by 1 - β2^t is a product); 1 divide; 1 sqrt; Max 1.
        Assert.Equal(21, model.Facts.NaivePasses);
        Assert.Equal(new Generator.Analysis.OperationCounts(5, 8, 1, 1, 1), model.Facts.ElementOperations);
        Assert.True(model.Supports(Backends.Ilgpu));
    }

    private static RuleModel AnalysedModel(string source)
    {
        var run = GeneratorHarness.Generate(source);
        var step = run.Driver.GetRunResult().Results.Single().TrackedSteps[TrackingNames.Model].Single();
        return Assert.IsType<RuleModel>(step.Outputs.Single().Value);
    }

    private static int Count(string text, string part) => text.Split(part).Length - 1;
}

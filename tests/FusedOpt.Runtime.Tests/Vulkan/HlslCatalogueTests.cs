using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;
using FusedOpt.Optimizers;
using FusedOpt.Vulkan;
using Xunit;

namespace FusedOpt.Tests.Vulkan;

/// <summary>
/// The generated HLSL shaders (<see cref="OptimizerDescriptor.Hlsl"/>): every combination of every optimizer in the
/// catalogue — the library's and this test project's own (lion, hardening-*) — compiles with glslang's HLSL front end
/// without warnings, and binds as <see cref="HlslShader"/>'s contract says.
/// </summary>
public sealed partial class HlslCatalogueTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fusedopt-hlslcatalogue-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    public static TheoryData<string> Optimizers() => [.. OptimizerCatalog.All.Select(static d => d.Name)];

    [Fact]
    public void Catalogue_IncludesTheTestProjectsOwnOptimizers()
    {
        var names = OptimizerCatalog.All.Select(static d => d.Name).ToList();
        Assert.Contains("lion", names);
        Assert.Contains("hardening-keywords", names);
    }

    [Theory]
    [MemberData(nameof(Optimizers))]
    public void EveryCombination_CompilesWithoutWarnings_AndBindsAsTheContractSays(string name)
    {
        Requirements.Glslang();
        var d = OptimizerCatalog.Get(name);
        var compiler = new ShaderCompiler(Path.Combine(_dir, "cache"), []);
        int combinations = 1 << (d.Switches.Count + 1);
        for (int flags = 0; flags < combinations; flags++)
        {
            var shader = d.Hlsl(flags);
            Assert.NotNull(shader);
            Assert.Equal(flags, shader.Flags);
            Assert.Equal(["p", "g"], shader.Buffers.Take(2));
            Assert.Equal(d.ScalarCount + 1, shader.Constants.Count);
            Assert.Equal("gradScale", shader.Constants[0]);

            CompiledShader compiled;
            try
            {
                compiled = compiler.Compile(shader.Source, $"{name}.{flags}");
            }
            catch (ShaderCompilationException e)
            {
                Assert.Fail($"{name}, flags {flags}: {e.Message}\n{e.CompilerOutput}\n{shader.Source}");
                throw;
            }

            Assert.True(compiled.Warnings.IsEmpty, $"{name}, flags {flags}: {string.Join("\n", compiled.Warnings)}");
            var module = SpirvModule.Read(compiled.Spirv.AsSpan());
            Assert.Equal(["main"], module.ComputeEntryPoints);
            Assert.Equal((HlslShader.ThreadsPerGroup, 1, 1), module.LocalSize);

            // b0 at binding 0: uint n and one float per constant, 4 bytes apart; uK at binding K + 1, in Buffers order.
            var uniform = Assert.Single(module.Bindings, static b => b.Kind == SpirvBindingKind.UniformBuffer);
            Assert.Equal(new SpirvBinding(0, 0, SpirvBindingKind.UniformBuffer, BlockBytes: 4 * (1 + shader.Constants.Count)), uniform);
            var storage = module.Bindings.Where(static b => b.Kind == SpirvBindingKind.StorageBuffer).Select(static b => b.Binding).ToList();
            Assert.All(storage, b => Assert.InRange(b, 1, shader.Buffers.Count));
            Assert.Equal(shader.Buffers.Count, RegisterBuffers(shader.Source).Count);
        }

        Assert.Null(d.Hlsl(combinations));
        Assert.Null(d.Hlsl(-1));
    }

    [Fact]
    public void Adam_AllSwitchesOn_BoundsChecked_ConstantsInPrepareOrder_BuffersInDeclarationOrder()
    {
        IOptimizerRule adam = new Adam(Lr: 0.01f, Beta1: 0.8f, Beta2: 0.99f, Eps: 1e-6f, WeightDecay: 0.1f, Amsgrad: true);
        var d = Adam.Descriptor;
        Assert.Equal(["WeightDecay != 0", "Amsgrad"], d.Switches);
        var shader = d.Hlsl(0b111)!;

        Assert.Contains("[numthreads(256, 1, 1)]", shader.Source, StringComparison.Ordinal);
        Assert.Matches(@"void main\(uint3 id : SV_DispatchThreadID\)\s*\{\s*uint i = id\.x;\s*if \(i >= n\) return;", shader.Source);
        Assert.Contains("optimizer \"adam\"", shader.Source, StringComparison.Ordinal);
        Assert.Contains("Switch combination 7", shader.Source, StringComparison.Ordinal);

        // The constant buffer: uint n, then Constants in order, each a float.
        var members = CbufferMembers(shader.Source);
        Assert.Equal(("uint", "n"), members[0]);
        Assert.Equal(shader.Constants, members.Skip(1).Select(static m => m.Name));
        Assert.All(members.Skip(1), static m => Assert.Equal("float", m.Type));
        Assert.Equal(["gradScale", "weightDecay", "beta1", "oneMinusBeta1", "beta2", "oneMinusBeta2", "invSqrtBiasCorrection2", "eps", "stepSize"], shader.Constants);

        // Constants[1 + i] is scalars[i] as Prepare writes them: checked against the formulas, step 3.
        var scalars = new float[d.ScalarCount];
        int flags = adam.Prepare(3, [], scalars);
        Assert.Equal(0b110, flags & 0b110);
        float Scalar(string name) => scalars[shader.Constants.ToList().IndexOf(name) - 1];
        Assert.Equal(0.1f, Scalar("weightDecay"));
        Assert.Equal(0.8f, Scalar("beta1"));
        Assert.Equal((float)(1 - (double)0.8f), Scalar("oneMinusBeta1"));
        Assert.Equal(0.99f, Scalar("beta2"));
        Assert.Equal(1e-6f, Scalar("eps"));
        Assert.Equal((float)(1.0 / Math.Sqrt(1 - Math.Pow(0.99f, 3))), Scalar("invSqrtBiasCorrection2"), 1e-6f);
        Assert.Equal((float)(0.01f / (1 - Math.Pow(0.8f, 3))), Scalar("stepSize"), 1e-6f);

        // Buffers: p, g, then m, v, vMax at u0… in that order.
        Assert.Equal(["p", "g", "m", "v", "vMax"], shader.Buffers);
        Assert.Equal(["pBuffer", "gBuffer", "mBuffer", "vBuffer", "vMaxBuffer"], RegisterBuffers(shader.Source));

        // Element values are precise (no FMA contraction), in the order of the rule.
        Assert.Contains("precise float m = mBuffer[i];", shader.Source, StringComparison.Ordinal);
        Assert.Matches(@"m = beta1 \* m \+ oneMinusBeta1 \* g;\s*v = beta2 \* v \+ oneMinusBeta2 \* g \* g;", shader.Source);

        // With Amsgrad off, vMax is neither read nor written, so it is not bound.
        var noAmsgrad = d.Hlsl(0b011)!;
        Assert.Equal(["p", "g", "m", "v"], noAmsgrad.Buffers);
        Assert.DoesNotContain("vMaxBuffer", noAmsgrad.Source, StringComparison.Ordinal);
        // Bit 0 clear: the gradient is not multiplied.
        Assert.DoesNotContain("g *= gradScale;", d.Hlsl(0b110)!.Source, StringComparison.Ordinal);
        Assert.Contains("g *= gradScale;", shader.Source, StringComparison.Ordinal);
    }

    [Fact]
    public void KeywordNames_AreEscapedForHlsl()
    {
        // hardening-keywords names things after C# keywords; none may reach HLSL as a keyword or intrinsic.
        var shader = OptimizerCatalog.Get("hardening-keywords").Hlsl(1)!;
        Assert.DoesNotMatch(@"\bfloat (in|out|inout|static|const|sample|line|point|main|n)\s*=", shader.Source);
    }

    /// <summary>(type, name) of each member of the first cbuffer, in order.</summary>
    private static List<(string Type, string Name)> CbufferMembers(string source)
    {
        var block = CbufferBlock().Match(source);
        Assert.True(block.Success, "no cbuffer at register(b0)");
        return [.. Member().Matches(block.Groups[1].Value).Select(static m => (m.Groups[1].Value, m.Groups[2].Value))];
    }

    /// <summary>The names of the RWStructuredBuffer&lt;float&gt;s in register order, checking the registers are u0, u1, … in text order.</summary>
    private static List<string> RegisterBuffers(string source)
    {
        var matches = Buffer().Matches(source);
        for (int k = 0; k < matches.Count; k++)
        {
            Assert.Equal(k.ToString(System.Globalization.CultureInfo.InvariantCulture), matches[k].Groups[2].Value);
        }

        return [.. matches.Select(static m => m.Groups[1].Value)];
    }

    [GeneratedRegex(@"cbuffer \w+ : register\(b0\)\s*\{([^}]*)\};")]
    private static partial Regex CbufferBlock();

    [GeneratedRegex(@"^\s*(\w+) (\w+);", RegexOptions.Multiline)]
    private static partial Regex Member();

    [GeneratedRegex(@"RWStructuredBuffer<float> (\w+) : register\(u(\d+)\);")]
    private static partial Regex Buffer();
}

using System;
using System.Buffers.Binary;
using System.IO;
using System.Linq;
using FusedOpt.Vulkan;
using Xunit;

namespace FusedOpt.Tests.Vulkan;

/// <summary>HLSL → SPIR-V: glslang, the SHA-256-keyed cache, prebuilt files, and the errors when none of them serves.</summary>
public sealed class ShaderCompilerTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fusedopt-shadercompiler-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Cache => Path.Combine(_dir, "cache");

    private string Prebuilt => Path.Combine(_dir, "prebuilt");

    /// <summary>A module of the header alone (magic, version 1.0, generator, bound, schema): SPIR-V, but no shader.</summary>
    private static byte[] HeaderOnlyModule()
    {
        var bytes = new byte[20];
        uint[] words = [SpirvModule.Magic, 0x00010000, 0, 1, 0];
        for (int i = 0; i < words.Length; i++)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(i * 4), words[i]);
        }

        return bytes;
    }

    [Fact]
    public void Key_IsTheSha256OfTheUtf8Text()
    {
        // FIPS 180-2's example: SHA-256("abc").
        Assert.Equal("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", ShaderCompiler.Key("abc"));
    }

    [Fact]
    public void Compile_HandWrittenAdam_WarningFree_BindingsFollowTheRegisterMap()
    {
        Requirements.Glslang();
        var compiler = new ShaderCompiler(Cache, []);
        var shader = compiler.Compile(Shaders.Read("adam.hlsl"), "adam");

        Assert.Equal(SpirvOrigin.Compiled, shader.Origin);
        Assert.Empty(shader.Warnings);
        var module = SpirvModule.Read(shader.Spirv.AsSpan());
        Assert.Contains("main", module.ComputeEntryPoints);
        Assert.Equal((256, 1, 1), module.LocalSize);
        Assert.Equal(
            [
                new SpirvBinding(0, 0, SpirvBindingKind.UniformBuffer, BlockBytes: 36), // register(b0): uint n + 8 floats
                new SpirvBinding(0, 1, SpirvBindingKind.StorageBuffer), // register(u0): p
                new SpirvBinding(0, 2, SpirvBindingKind.StorageBuffer), // u1: g
                new SpirvBinding(0, 3, SpirvBindingKind.StorageBuffer), // u2: m
                new SpirvBinding(0, 4, SpirvBindingKind.StorageBuffer), // u3: v
            ],
            module.Bindings.ToArray());
        Assert.True(File.Exists(Path.Combine(Cache, shader.Key + ".spv")), "the compiled module is cached under its key");
    }

    [Fact]
    public void Compile_SecondTime_ComesFromTheCache_WithoutGlslang()
    {
        Requirements.Glslang();
        string hlsl = Shaders.Read("sgd_momentum.hlsl");
        var first = new ShaderCompiler(Cache, []).Compile(hlsl);
        var second = new ShaderCompiler(Cache, [], glslang: "").Compile(hlsl);

        Assert.Equal(SpirvOrigin.Compiled, first.Origin);
        Assert.Equal(SpirvOrigin.Cache, second.Origin);
        Assert.Equal(first.Spirv.ToArray(), second.Spirv.ToArray());
    }

    [Fact]
    public void Compile_CorruptCacheEntry_IsCompiledAgain()
    {
        Requirements.Glslang();
        string hlsl = Shaders.Read("sgd_momentum.hlsl");
        Directory.CreateDirectory(Cache);
        File.WriteAllBytes(Path.Combine(Cache, ShaderCompiler.Key(hlsl) + ".spv"), [1, 2, 3]); // a write cut short

        var shader = new ShaderCompiler(Cache, []).Compile(hlsl);

        Assert.Equal(SpirvOrigin.Compiled, shader.Origin);
        Assert.Equal(shader.Spirv.ToArray(), File.ReadAllBytes(Path.Combine(Cache, shader.Key + ".spv")));
    }

    [Fact]
    public void Compile_PrebuiltModule_IsUsedFirst_NoCompilerNeeded()
    {
        const string hlsl = "// any text: only its hash is looked up\n";
        Directory.CreateDirectory(Prebuilt);
        File.WriteAllBytes(Path.Combine(Prebuilt, ShaderCompiler.Key(hlsl) + ".spv"), HeaderOnlyModule());

        var shader = new ShaderCompiler(Cache, [Path.Combine(_dir, "absent"), Prebuilt], glslang: "").Compile(hlsl);

        Assert.Equal(SpirvOrigin.Prebuilt, shader.Origin);
        Assert.Equal(HeaderOnlyModule(), shader.Spirv.ToArray());
    }

    [Fact]
    public void Compile_NothingStoredAndNoGlslang_ThrowsNamingWhatWasLookedFor()
    {
        const string hlsl = "[numthreads(256, 1, 1)] void main() {}\n";
        var compiler = new ShaderCompiler(Cache, [Prebuilt], glslang: "");

        var e = Assert.Throws<ShaderCompilationException>(() => compiler.Compile(hlsl, "adam"));

        Assert.Contains("no SPIR-V for adam", e.Message, StringComparison.Ordinal);
        Assert.Contains(ShaderCompiler.Key(hlsl), e.Message, StringComparison.Ordinal);
        Assert.Contains(Prebuilt, e.Message, StringComparison.Ordinal);
        Assert.Contains(Cache, e.Message, StringComparison.Ordinal);
        Assert.Contains("glslang-tools", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Compile_GlslangMissingAtTheNamedPath_ThrowsSayingSo()
    {
        var compiler = new ShaderCompiler(Cache, [], glslang: Path.Combine(_dir, "no-such-glslangValidator"));

        var e = Assert.Throws<ShaderCompilationException>(() => compiler.Compile("void main() {}\n", "x"));

        Assert.Contains("could not be started", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Compile_InvalidHlsl_ThrowsWithGlslangsErrorAndLine()
    {
        Requirements.Glslang();
        const string hlsl = "RWStructuredBuffer<float> p : register(u0);\n[numthreads(256, 1, 1)]\nvoid main(uint3 id : SV_DispatchThreadID)\n{\n    p[id.x] = undefinedThing;\n}\n";

        var e = Assert.Throws<ShaderCompilationException>(() => new ShaderCompiler(Cache, []).Compile(hlsl, "broken"));

        Assert.Contains("glslangValidator rejected broken", e.Message, StringComparison.Ordinal);
        Assert.Contains("broken.hlsl:5: 'undefinedThing' : unknown variable", e.CompilerOutput, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Cache) && Directory.EnumerateFiles(Cache).Any(), "nothing is cached for a failed compile");
    }

    [Fact]
    public void Compile_Warning_IsReported()
    {
        Requirements.Glslang();
        string hlsl = Shaders.Read("sgd_momentum.hlsl").Replace("    float pi = p[i];", "    [someunknownattribute]\n    float pi = p[i];", StringComparison.Ordinal);

        var shader = new ShaderCompiler(Cache, []).Compile(hlsl, "sgd");

        var warning = Assert.Single(shader.Warnings);
        Assert.Contains("'someunknownattribute' : unrecognized attribute", warning, StringComparison.Ordinal);
    }

    [Fact]
    public void DefaultCacheDirectory_IsUnderTheUsersCache_NamedAfterTheFlags()
    {
        string dir = ShaderCompiler.DefaultCacheDirectory;
        Assert.EndsWith(Path.Combine("fusedopt", "spirv", ShaderCompiler.FlagsTag), dir, StringComparison.Ordinal);
        if (Environment.GetEnvironmentVariable("XDG_CACHE_HOME") is { Length: > 0 } xdg && Path.IsPathRooted(xdg))
        {
            Assert.StartsWith(xdg, dir, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData(new byte[] { 1, 2, 3 }, "multiple of 4")]
    [InlineData(new byte[] { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 }, "the first word is 0x00000000")]
    public void SpirvModule_NotSpirv_ThrowsFormatException(byte[] bytes, string expected)
    {
        var e = Assert.Throws<FormatException>(() => SpirvModule.Read(bytes));
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }
}

using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;
using FusedOpt.Vulkan;
using Xunit;

namespace FusedOpt.Tests.Vulkan;

/// <summary>The constant buffer's byte layout: by the packing rules written out, and as glslang itself lays it out.</summary>
public sealed partial class UniformLayoutTests
{
    private static readonly (string, UniformType)[] Mixed =
    [
        ("a", UniformType.Float), ("b", UniformType.Double), ("c", UniformType.Int), ("d", UniformType.Float),
        ("e", UniformType.Double), ("f", UniformType.UInt), ("g", UniformType.Float), ("h", UniformType.Float), ("k", UniformType.Double),
    ];

    [Fact]
    public void Create_MixedScalars_FollowsThePackingRules()
    {
        var layout = UniformLayout.Create(Mixed);

        // n at 0; a at 4; b (8 bytes) at the next multiple of 8; c, d after it; e at 24; f at 32; g, h; k: 44 → 48.
        Assert.Equal(
            [("n", 0), ("a", 4), ("b", 8), ("c", 16), ("d", 20), ("e", 24), ("f", 32), ("g", 36), ("h", 40), ("k", 48)],
            layout.Fields.Select(static f => (f.Name, f.Offset)).ToArray());
        Assert.Equal(64, layout.Size); // 56 rounded up to a 16-byte row
    }

    [Fact]
    public void Create_OneFloat_IsOneRow()
    {
        var layout = UniformLayout.Create(("lr", UniformType.Float));
        Assert.Equal(16, layout.Size);
        Assert.Equal(4, layout["lr"].Offset);
    }

    /// <summary>glslang's reflection (<c>-q</c>) of the cbuffer that <see cref="UniformLayout.ToHlsl"/> writes gives the same offsets.</summary>
    [Fact]
    public void Create_MixedScalars_OffsetsMatchGlslangsReflection()
    {
        string glslang = Requirements.Glslang();
        var layout = UniformLayout.Create(Mixed);
        string uses = string.Join(" + ", layout.Fields.Select(static f => $"(float){f.Name}"));
        string hlsl = layout.ToHlsl() + $"RWStructuredBuffer<float> p : register(u0);\n[numthreads(256, 1, 1)]\nvoid main(uint3 id : SV_DispatchThreadID)\n{{\n    p[id.x] = {uses};\n}}\n";
        string dir = Directory.CreateTempSubdirectory("fusedopt-layout-").FullName;
        try
        {
            string file = Path.Combine(dir, "layout.hlsl");
            File.WriteAllText(file, hlsl);
            var start = new ProcessStartInfo(glslang) { RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (string arg in ShaderCompiler.Flags.Concat(["-q", "-o", Path.Combine(dir, "layout.spv"), file]))
            {
                start.ArgumentList.Add(arg);
            }

            using var process = Process.Start(start)!;
            string output = process.StandardOutput.ReadToEnd() + process.StandardError.ReadToEnd();
            process.WaitForExit();
            Assert.True(process.ExitCode == 0, output);

            var reflected = new Dictionary<string, int>(StringComparer.Ordinal);
            foreach (Match match in ReflectedOffset().Matches(output))
            {
                reflected[match.Groups[1].Value] = int.Parse(match.Groups[2].Value, CultureInfo.InvariantCulture);
            }

            foreach (var field in layout.Fields)
            {
                Assert.True(reflected.TryGetValue(field.Name, out int offset), $"glslang did not reflect {field.Name}:\n{output}");
                Assert.True(offset == field.Offset, $"{field.Name}: glslang puts it at {offset}, the layout at {field.Offset}");
            }

            var block = Regex.Match(output, @"^Step: offset -1, type \w+, size (\d+)", RegexOptions.Multiline);
            Assert.True(block.Success, output);
            Assert.True(int.Parse(block.Groups[1].Value, CultureInfo.InvariantCulture) <= layout.Size, $"glslang's block size {block.Groups[1].Value} exceeds {layout.Size}");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [GeneratedRegex(@"^(\w+): offset (\d+), type", RegexOptions.Multiline)]
    private static partial Regex ReflectedOffset();

    [Theory]
    [InlineData("n", "'n' is the element count")]
    [InlineData("1x", "not an HLSL identifier")]
    [InlineData("", "not an HLSL identifier")]
    public void Create_BadName_Throws(string name, string expected)
    {
        var e = Assert.Throws<ArgumentException>(() => UniformLayout.Create((name, UniformType.Float)));
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Create_RepeatedName_Throws()
    {
        var e = Assert.Throws<ArgumentException>(() => UniformLayout.Create(("lr", UniformType.Float), ("lr", UniformType.Float)));
        Assert.Contains("'lr' is declared twice", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void SetScalars_WritesTheMembersAfterN_InOrder()
    {
        var layout = UniformLayout.Create(("s0", UniformType.Float), ("s1", UniformType.Float), ("flag", UniformType.UInt));
        var block = new byte[layout.Size];
        layout.SetScalars(block, [1.5f, -2f]);

        Assert.Equal(0u, BitConverter.ToUInt32(block, 0));
        Assert.Equal(1.5f, BitConverter.ToSingle(block, 4));
        Assert.Equal(-2f, BitConverter.ToSingle(block, 8));
        Assert.Contains("'flag', which is uint, not float",
            Assert.Throws<ArgumentException>(() => layout.SetScalars(block, [1f, 2f, 3f])).Message, StringComparison.Ordinal);
        Assert.Contains("4 scalars do not fit the 3 members",
            Assert.Throws<ArgumentException>(() => layout.SetScalars(block, [1f, 2f, 3f, 4f])).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Set_WritesLittleEndianAtTheOffset_AndChecksTheType()
    {
        var layout = UniformLayout.Create(("lr", UniformType.Float), ("t", UniformType.Double));
        var block = new byte[layout.Size];
        layout.Set(block, "lr", 0.5f);
        layout.Set(block, "t", 3.0);

        Assert.Equal(0.5f, BitConverter.ToSingle(block, 4));
        Assert.Equal(3.0, BitConverter.ToDouble(block, 8));
        Assert.Contains("'lr' is float, not double", Assert.Throws<ArgumentException>(() => layout.Set(block, "lr", 1.0)).Message, StringComparison.Ordinal);
        Assert.Contains("has no member 'beta'", Assert.Throws<KeyNotFoundException>(() => layout.Set(block, "beta", 1f)).Message, StringComparison.Ordinal);
    }
}

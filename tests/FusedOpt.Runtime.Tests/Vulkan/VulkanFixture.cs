using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.IO;
using FusedOpt.Gpu;
using FusedOpt.Vulkan;
using Xunit;

namespace FusedOpt.Tests.Vulkan;

/// <summary>
/// The Vulkan tests run one at a time on one device (Mesa's lavapipe here: a CPU driver whose dispatches use every
/// core), sharing one compiled copy of each test shader.
/// </summary>
[CollectionDefinition(Name)]
public sealed class VulkanCollection : ICollectionFixture<VulkanFixture>
{
    public const string Name = "Vulkan device";
}

/// <summary>
/// Vulkan device 0 and a shader compiler whose cache is a fresh temporary folder, so every run compiles the test shaders
/// with glslang. What is missing (the loader, a device, glslang) skips the tests that need it, with the reason, except
/// under <c>CI=true</c>, where it fails them: <c>.ci/run</c> installs libvulkan1, mesa-vulkan-drivers and glslang-tools.
/// </summary>
public sealed class VulkanFixture : IDisposable
{
    private readonly Lazy<(VulkanDevice? Device, string? Missing)> _device = new(static () =>
    {
        try
        {
            return (VulkanDevice.Open(0), null);
        }
        catch (DeviceUnavailableException e)
        {
            return (null, e.Message);
        }
    });

    private readonly ConcurrentDictionary<string, byte[]> _spirv = new(StringComparer.Ordinal);

    public VulkanFixture()
    {
        CacheDirectory = Directory.CreateTempSubdirectory("fusedopt-spirv-test-").FullName;
        Compiler = new ShaderCompiler(CacheDirectory, prebuiltDirectories: []);
    }

    /// <summary>The compiler's (temporary) cache folder.</summary>
    public string CacheDirectory { get; }

    /// <summary>A compiler with no prebuilt folders and the temporary cache.</summary>
    public ShaderCompiler Compiler { get; }

    /// <summary>Device 0; skips (fails under CI) when there is no loader or no device.</summary>
    public VulkanDevice Device
    {
        get
        {
            var (device, missing) = _device.Value;
            if (device is null)
            {
                Requirements.Missing($"No Vulkan device: {missing}");
            }

            return device!;
        }
    }

    /// <summary>The SPIR-V of test shader <paramref name="file"/> (in Vulkan/Shaders), compiled once; skips without glslang.</summary>
    public byte[] Spirv(string file)
    {
        Requirements.Glslang();
        return _spirv.GetOrAdd(file, f =>
        {
            var compiled = Compiler.Compile(Shaders.Read(f), f);
            Assert.Empty(compiled.Warnings);
            return [.. compiled.Spirv];
        });
    }

    public void Dispose()
    {
        if (_device.IsValueCreated)
        {
            _device.Value.Device?.Dispose();
        }

        try
        {
            Directory.Delete(CacheDirectory, recursive: true);
        }
        catch (IOException)
        {
            // A leftover temporary folder is harmless.
        }
    }
}

/// <summary>The hand-written test shaders, copied beside the test binaries.</summary>
internal static class Shaders
{
    public static string Directory => Path.Combine(AppContext.BaseDirectory, "Vulkan", "Shaders");

    public static string Read(string file) => File.ReadAllText(Path.Combine(Directory, file));
}

/// <summary>Skip-or-fail for what the Vulkan tests need.</summary>
internal static class Requirements
{
    /// <summary>True under <c>CI=true</c> (or <c>1</c>).</summary>
    public static bool UnderCi => Environment.GetEnvironmentVariable(SharedData.CiVariable) is { } ci && (ci.Equals("true", StringComparison.OrdinalIgnoreCase) || ci == "1");

    /// <summary>Skips the test with <paramref name="message"/>; under CI fails it instead.</summary>
    public static void Missing(string message)
    {
        if (UnderCi)
        {
            Assert.Fail($"{message} Under {SharedData.CiVariable}=true this fails instead of skipping: .ci/run installs libvulkan1, mesa-vulkan-drivers and glslang-tools from .ci/apt-packages.");
        }

        Assert.Skip(message);
    }

    /// <summary>Skips (fails under CI) unless glslangValidator is present.</summary>
    public static string Glslang()
    {
        var glslang = ShaderCompiler.FindGlslang();
        if (glslang is null)
        {
            Missing($"glslangValidator not found on PATH (Debian: glslang-tools; or set {ShaderCompiler.GlslangVariable}).");
        }

        return glslang!;
    }
}

/// <summary>Compares device results with a float64 oracle, printing the worst elements on failure.</summary>
internal static class Oracle
{
    /// <summary>Asserts max |expected − actual| / (|expected| + 1e-3) ≤ <paramref name="tolerance"/>.</summary>
    public static void AssertClose(ReadOnlySpan<double> expected, ReadOnlySpan<float> actual, double tolerance, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        double worst = 0;
        int worstIndex = -1;
        var bad = new List<string>();
        for (int i = 0; i < expected.Length; i++)
        {
            double error = Math.Abs(expected[i] - actual[i]) / (Math.Abs(expected[i]) + 1e-3);
            if (double.IsNaN(error))
            {
                error = double.PositiveInfinity;
            }

            if (error > worst)
            {
                worst = error;
                worstIndex = i;
            }

            if (error > tolerance && bad.Count < 5)
            {
                bad.Add($"[{i}] expected {expected[i]:R}, got {actual[i]:R}");
            }
        }

        Assert.True(worst <= tolerance, $"{what}: worst relative error {worst:E2} at {worstIndex} > {tolerance:E0}; {string.Join("; ", bad)}");
    }
}

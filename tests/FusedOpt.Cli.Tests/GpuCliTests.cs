using System;
using System.IO;
using System.Linq;
using System.Text.Json;
using FusedOpt.Gpu;
using Xunit;

namespace FusedOpt.Tests;

/// <summary>
/// <c>fusedopt devices</c>, and <c>--device</c> on <c>replay</c> and <c>bench step</c>: the ILGPU CPU accelerator runs
/// the generated GPU kernels here; an absent CUDA device, an unknown name or a host-only option is a one-line error
/// with exit code 2, never a crash.
/// </summary>
public sealed class GpuCliTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fusedopt-gpu-cli-").FullName;

    public GpuCliTests() => File.WriteAllText(Path.Combine(_dir, "tiny.json"), """
        {"name": "tiny_sgd", "torch_optimizer": "SGD", "hyperparameters": {"lr": 0.5},
         "initial": [1.0, -2.0], "gradients": [[0.5, 1.0], [1.0, 0.0]], "expected": [[0.75, -2.5], [0.25, -2.5]]}
        """);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static bool Present(DeviceKind kind) => GpuDevices.Discover().Devices.Any(d => d.Device.Kind == kind);

    [Fact]
    public void Devices_ListsTheHostPath_AndTheIlgpuCpuAccelerator_AndJsonParses()
    {
        var table = CliHarness.Run("devices");
        var json = CliHarness.Run("devices", "--json");

        Assert.Equal(0, table.ExitCode);
        Assert.Contains("ilgpu-cpu", table.Output, StringComparison.Ordinal);
        Assert.Contains("host fused kernels", table.Output, StringComparison.Ordinal);
        Assert.Equal(0, json.ExitCode);
        using var doc = JsonDocument.Parse(json.Output);
        var devices = doc.RootElement.GetProperty("devices").EnumerateArray().Select(static d => d.GetProperty("device").GetString()).ToList();
        Assert.Equal("cpu", devices[0]);
        Assert.Contains("ilgpu-cpu", devices);
    }

    [Fact]
    public void Replay_OnTheIlgpuCpuAccelerator_PassesEverySharedReference()
    {
        SharedData.RequireDirectory(SharedData.ReferenceOptimizers, "Reference trajectories");

        var result = CliHarness.Run("replay", SharedData.ReferenceOptimizers, "--device", "ilgpu-cpu", "--json");

        Assert.True(result.ExitCode == 0, result.Output + result.Error);
        using var doc = JsonDocument.Parse(result.Output);
        Assert.Equal(21, doc.RootElement.GetArrayLength());
        Assert.All(doc.RootElement.EnumerateArray(), static r =>
        {
            Assert.True(r.GetProperty("passed").GetBoolean());
            Assert.StartsWith("ilgpu-cpu (", r.GetProperty("device").GetString(), StringComparison.Ordinal);
        });
    }

    [Fact]
    public void Replay_OnTheIlgpuCpuAccelerator_ShowsTheDeviceInTheTable_AndWritesTheTrajectory()
    {
        string output = Path.Combine(_dir, "out.json");

        var result = CliHarness.Run("replay", Path.Combine(_dir, "tiny.json"), "--device", "ilgpu-cpu", "--out", output);

        Assert.Equal(0, result.ExitCode);
        using var doc = JsonDocument.Parse(File.ReadAllText(output));
        Assert.Equal([0.25f, -2.5f], [.. doc.RootElement.GetProperty("final").EnumerateArray().Select(static e => e.GetSingle())]);
        Assert.Contains("GPU kernel on ilgpu-cpu", result.Output, StringComparison.Ordinal);
        Assert.Contains("1 cases within tolerance.", result.Output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("replay")]
    [InlineData("bench")]
    public void Cuda_WhenAbsent_IsAClearError_NamingWhatIlgpuSaw(string command)
    {
        if (Present(DeviceKind.Cuda))
        {
            Assert.Skip("A CUDA device is present here; this test checks the error on machines without one.");
        }

        string[] args = command == "replay"
            ? ["replay", _dir, "--device", "cuda"]
            : ["bench", "step", "--device", "cuda", "--optimizer", "adam", "--size", "256M"];
        var result = CliHarness.Run(args);

        Assert.Equal(2, result.ExitCode);
        Assert.StartsWith("error: no CUDA device found (ILGPU saw: CPU 'CPUAccelerator')", result.Error, StringComparison.Ordinal);
        Assert.Contains("--device cpu or ilgpu-cpu", result.Error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(new[] { "replay", "DIR", "--device", "gpu" }, "--device 'gpu' is not a device; expected cpu, cuda, opencl, ilgpu-cpu or vulkan")]
    [InlineData(new[] { "bench", "step", "--device", "tpu" }, "--device 'tpu' is not a device")]
    [InlineData(new[] { "replay", "DIR", "--device", "ilgpu-cpu", "--naive" }, "--naive is the CPU multi-pass baseline; it does not apply to --device ilgpu-cpu.")]
    [InlineData(new[] { "bench", "step", "--device", "ilgpu-cpu", "--isa", "scalar" }, "--isa scalar chooses a CPU instruction set; it does not apply to --device ilgpu-cpu.")]
    [InlineData(new[] { "bench", "step", "--device", "ilgpu-cpu:2" }, "--device ilgpu-cpu:2: only 1 ILGPU CPU accelerator device found")]
    public void BadDeviceOptions_AreClearErrors(string[] args, string message)
    {
        var result = CliHarness.Run([.. args.Select(a => a == "DIR" ? _dir : a)]);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains(message, result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void BenchStep_OnTheIlgpuCpuAccelerator_ReportsTheStepTheCopyAndTheirRatio()
    {
        var result = CliHarness.Run("bench", "step", "--device", "ilgpu-cpu", "--optimizer", "adam", "--size", "4K", "--rounds", "1", "--json");

        Assert.True(result.ExitCode == 0, result.Output + result.Error);
        using var doc = JsonDocument.Parse(result.Output);
        var root = doc.RootElement;
        Assert.Equal("ilgpu-cpu", root.GetProperty("device").GetProperty("spec").GetString());
        var variants = root.GetProperty("variants");
        Assert.Equal(2, variants.GetArrayLength());
        Assert.All(variants.EnumerateArray(), static v =>
        {
            Assert.Equal(28, v.GetProperty("bytesPerParameter").GetInt32());
            Assert.True(v.GetProperty("gBps").GetDouble() > 0);
            Assert.True(v.GetProperty("nsPerParameter").GetDouble() > 0);
        });
        Assert.Equal(4096 * 28 / 8, root.GetProperty("copyFloats").GetInt64());
        Assert.True(root.GetProperty("fractionOfCopy").GetDouble() > 0);
        Assert.Equal(0.9, root.GetProperty("target").GetDouble());
    }

    [Fact]
    public void BenchStep_OnTheIlgpuCpuAccelerator_RendersATable()
    {
        var result = CliHarness.Run("bench", "step", "--device", "ilgpu-cpu", "--optimizer", "sgd", "--size", "1K", "--rounds", "1");

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("sgd step (ilgpu-cpu)", result.Output, StringComparison.Ordinal);
        Assert.Contains("device copy, same bytes", result.Output, StringComparison.Ordinal);
        Assert.Contains("step / device copy bandwidth:", result.Output, StringComparison.Ordinal);
    }
}

using System;
using System.Linq;
using FusedOpt.Gpu;
using FusedOpt.Kernels;
using FusedOpt.Memory;
using FusedOpt.Optimizers;
using Xunit;

namespace FusedOpt.Tests;

/// <summary>Device names, discovery, and clear errors for absent devices and for what the device path refuses.</summary>
[Collection(IlgpuCpuCollection.Name)]
public sealed class GpuDeviceTests(IlgpuCpuFixture fixture)
{
    [Theory]
    [InlineData(null, DeviceKind.Cpu, 0)]
    [InlineData("cpu", DeviceKind.Cpu, 0)]
    [InlineData("CUDA", DeviceKind.Cuda, 0)]
    [InlineData("cuda:1", DeviceKind.Cuda, 1)]
    [InlineData("opencl", DeviceKind.OpenCL, 0)]
    [InlineData("ilgpu-cpu", DeviceKind.IlgpuCpu, 0)]
    [InlineData("Vulkan:1", DeviceKind.Vulkan, 1)]
    public void DeviceNames_Parse_WithIndices(string? text, DeviceKind kind, int index)
    {
        var spec = DeviceSpec.Parse(text);

        Assert.Equal(new DeviceSpec(kind, index), spec);
        Assert.Equal(spec, DeviceSpec.Parse(spec.ToString()));
    }

    [Theory]
    [InlineData("gpu", "--device 'gpu' is not a device; expected cpu, cuda, opencl, ilgpu-cpu or vulkan")]
    [InlineData("cuda:x", "--device 'cuda:x': 'x' is not a device index")]
    [InlineData("cpu:1", "--device 'cpu:1': the host CPU path has no device index")]
    public void UnknownDeviceNames_AreClearErrors(string text, string message)
    {
        var e = Assert.Throws<FormatException>(() => DeviceSpec.Parse(text));

        Assert.StartsWith(message, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Discover_ListsTheHostPath_AndTheIlgpuCpuAccelerator()
    {
        var report = GpuDevices.Discover();

        Assert.Equal(DeviceSpec.Cpu, report.Devices[0].Device);
        var cpu = Assert.Single(report.Devices, static d => d.Device.Kind == DeviceKind.IlgpuCpu);
        Assert.Equal(new DeviceSpec(DeviceKind.IlgpuCpu), cpu.Device);
        Assert.True(cpu.Float64);
        Assert.True(cpu.MemoryBytes > 0);
        Assert.All(report.Devices, static d => Assert.False(string.IsNullOrWhiteSpace(d.Name)));
    }

    [Fact]
    public void AbsentDeviceKind_IsAClearError_NamingWhatIlgpuSaw()
    {
        var present = GpuDevices.Discover().Devices.Select(static d => d.Device.Kind).ToHashSet();
        var absent = new[] { DeviceKind.Cuda, DeviceKind.OpenCL }.Where(k => !present.Contains(k)).ToList();
        if (absent.Count == 0)
        {
            Assert.Skip("CUDA and OpenCL are both present here; nothing is absent to ask for.");
        }

        var e = Assert.Throws<DeviceUnavailableException>(() => GpuDevices.Open(new DeviceSpec(absent[0])));

        Assert.StartsWith($"no {DeviceSpec.DisplayName(absent[0])} device found (ILGPU saw: ", e.Message, StringComparison.Ordinal);
        Assert.Contains("CPU 'CPUAccelerator'", e.Message, StringComparison.Ordinal);
        Assert.Contains("fusedopt devices", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void IndexPastTheLastDevice_IsAClearError()
    {
        var e = Assert.Throws<DeviceUnavailableException>(() => GpuDevices.Open(DeviceSpec.Parse("ilgpu-cpu:3")));

        Assert.Equal("--device ilgpu-cpu:3: only 1 ILGPU CPU accelerator device found (0: CPUAccelerator).", e.Message);
    }

    [Fact]
    public void TheHostPath_HasNoAcceleratorToOpen()
    {
        var e = Assert.Throws<ArgumentException>(() => GpuDevices.Open(DeviceSpec.Cpu));

        Assert.Contains("--device cpu is the host fused path", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void RuleWithoutAGpuKernel_IsRefused_NamingFOPT021()
    {
        using var arena = new ParameterArena();
        arena.Add("x", 10);
        arena.Build();

        var e = Assert.Throws<ArgumentException>(() => new DeviceOptimizer(fixture.Accelerator, arena, new NoGpuKernel(new Adam())));

        Assert.Contains("adam has no GPU kernel: its rule needs 8 step scalars and a GPU launch carries 32 (FOPT021)", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void NaiveMode_AndABadMaxGradNorm_AreRefused()
    {
        using var arena = new ParameterArena();
        arena.Add("x", 10);
        arena.Build();

        var naive = Assert.Throws<ArgumentException>(() => new DeviceOptimizer(fixture.Accelerator, arena, new Sgd(), new OptimizerOptions { Mode = StepMode.Naive }));
        var norm = Assert.Throws<ArgumentOutOfRangeException>(() => new DeviceOptimizer(fixture.Accelerator, arena, new Sgd(), new OptimizerOptions { MaxGradNorm = -1 }));
        var lossScale = Assert.Throws<ArgumentOutOfRangeException>(() =>
        {
            using var device = new DeviceOptimizer(fixture.Accelerator, arena, new Sgd());
            device.Step(lossScale: 0);
        });

        Assert.Contains("StepMode.Naive is a CPU baseline", naive.Message, StringComparison.Ordinal);
        Assert.Contains("MaxGradNorm must be > 0, got -1.", norm.Message, StringComparison.Ordinal);
        Assert.Contains("The loss scale must be finite and > 0, got 0.", lossScale.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void HostMirrorOfAnotherLayout_IsRefused()
    {
        using var arena = new ParameterArena();
        arena.Add("x", 10);
        arena.Build();
        using var other = new ParameterArena();
        other.Add("x", 100);
        other.Build();
        using var device = new DeviceOptimizer(fixture.Accelerator, arena, new Sgd());
        using var host = new Optimizer(other, new Sgd());
        using var adam = new Optimizer(arena, new Adam());

        Assert.Contains("does not have this one's layout", Assert.Throws<ArgumentException>(() => device.DownloadTo(host)).Message, StringComparison.Ordinal);
        Assert.Contains("runs adam; this device optimizer runs sgd", Assert.Throws<ArgumentException>(() => device.UploadFrom(adam)).Message, StringComparison.Ordinal);
    }

    /// <summary>A rule as the generator writes it when its scalars do not fit a GPU launch (FOPT021).</summary>
    private sealed class NoGpuKernel(IOptimizerRule inner) : IOptimizerRule
    {
        public OptimizerDescriptor Descriptor => inner.Descriptor;

        public Gpu.GpuKernelMethod? GpuKernel => null;

        public void Validate() => inner.Validate();

        public double[] GetHyperparameters() => inner.GetHyperparameters();

        public bool IsStateNeeded(int state) => inner.IsStateNeeded(state);

        public int Prepare(long t, Span<double> stepState, Span<float> scalars) => inner.Prepare(t, stepState, scalars);

        public void RunFused(Isa isa, int flags, ref readonly StepFrame frame, nint start, nint end) => inner.RunFused(isa, flags, in frame, start, end);

        public void RunNaive(int flags, ref readonly StepFrame frame, nint start, nint end, NaiveScratch scratch) => inner.RunNaive(flags, in frame, start, end, scratch);
    }
}

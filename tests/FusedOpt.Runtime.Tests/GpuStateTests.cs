using System;
using System.IO;
using FusedOpt.Gpu;
using FusedOpt.Memory;
using FusedOpt.State;
using Xunit;

namespace FusedOpt.Tests;

/// <summary>
/// Device state round trips through the CPU path's file format: a file saved on the device loads on the CPU and the
/// other way round, and either way the run continues as if it had never moved; a bad file changes nothing.
/// </summary>
[Collection(IlgpuCpuCollection.Name)]
public sealed class GpuStateTests(IlgpuCpuFixture fixture) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fusedopt-gpu-state-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static (ParameterArena Arena, TensorSlot X) NewArena()
    {
        var arena = new ParameterArena();
        var x = arena.Add("x", [1001], group: 0);
        arena.Add("y", [37], group: 1);
        arena.Build();
        return (arena, x);
    }

    /// <summary>Ten steps on the CPU, straight through: what every round trip must reproduce.</summary>
    private static float[] Straight(IOptimizerRule rule, float[] p, float[][] grads)
    {
        var (arena, x) = NewArena();
        using (arena)
        {
            using var cpu = new Optimizer(arena, [rule, rule]);
            p.CopyTo(arena.Param(x));
            foreach (var g in grads)
            {
                g.CopyTo(arena.Grad(x));
                cpu.Step();
            }

            return arena.Param(x).ToArray();
        }
    }

    [Theory]
    [InlineData("nadam")]
    [InlineData("adam")]
    [InlineData("rmsprop")]
    public void SavedOnTheDevice_LoadsOnTheCpu_AndContinuesBitwise(string name)
    {
        var rule = OptimizerCatalog.Create(name, TestData.Configurations[name][^1]);
        var (p, grads) = TestData.Inputs(1001, 10);
        string path = Path.Combine(_dir, name + ".fopt");

        var (arena, x) = NewArena();
        using (arena)
        {
            p.CopyTo(arena.Param(x));
            using (var device = new DeviceOptimizer(fixture.Accelerator, arena, [rule, rule]))
            {
                for (int s = 0; s < 5; s++)
                {
                    grads[s].CopyTo(arena.Grad(x));
                    device.UploadGradients();
                    device.Step();
                }

                device.Save(path);
            }

            arena.Params.Span.Fill(123f);
            using var cpu = new Optimizer(arena, OptimizerCatalog.Create(name));
            cpu.Load(path);
            Assert.Equal(5, cpu.GetStepCount(1));
            for (int s = 5; s < 10; s++)
            {
                grads[s].CopyTo(arena.Grad(x));
                cpu.Step();
            }

            TestData.AssertBitwiseEqual(Straight(rule, p, grads), arena.Param(x), "device → file → CPU");
        }
    }

    [Theory]
    [InlineData("nadam")]
    [InlineData("adabelief")]
    public void SavedOnTheCpu_LoadsOnTheDevice_AndContinuesBitwise(string name)
    {
        var rule = OptimizerCatalog.Create(name, TestData.Configurations[name][^1]);
        var (p, grads) = TestData.Inputs(1001, 10);
        string path = Path.Combine(_dir, name + ".fopt");

        var (arena, x) = NewArena();
        using (arena)
        {
            p.CopyTo(arena.Param(x));
            using (var cpu = new Optimizer(arena, [rule, rule]))
            {
                for (int s = 0; s < 5; s++)
                {
                    grads[s].CopyTo(arena.Grad(x));
                    cpu.Step();
                }

                cpu.Save(path);
            }

            arena.Params.Span.Fill(-7f);
            using var device = new DeviceOptimizer(fixture.Accelerator, arena, OptimizerCatalog.Create(name));
            device.Load(path);
            Assert.Equal(5, device.GetStepCount(0));
            Assert.Equal(rule, device.GetRule(1));
            for (int s = 5; s < 10; s++)
            {
                grads[s].CopyTo(arena.Grad(x));
                device.UploadGradients();
                device.Step();
            }

            device.DownloadParameters();
            TestData.AssertBitwiseEqual(Straight(rule, p, grads), arena.Param(x), "CPU → file → device");
        }
    }

    [Fact]
    public void TheSameState_SavesTheSameBytes_OnTheDeviceAndOnTheCpu()
    {
        var rule = OptimizerCatalog.Create("adam", TestData.Configurations["adam"][1]);
        var (p, grads) = TestData.Inputs(1001, 3);
        string cpuFile = Path.Combine(_dir, "cpu.fopt"), deviceFile = Path.Combine(_dir, "device.fopt");

        var (arena, x) = NewArena();
        using (arena)
        {
            p.CopyTo(arena.Param(x));
            using var cpu = new Optimizer(arena, [rule, rule]);
            foreach (var g in grads)
            {
                g.CopyTo(arena.Grad(x));
                cpu.Step();
            }

            cpu.Save(cpuFile);
            using var device = new DeviceOptimizer(fixture.Accelerator, arena, OptimizerCatalog.Create("adam"));
            device.UploadFrom(cpu);
            device.Save(deviceFile);
        }

        Assert.Equal(File.ReadAllBytes(cpuFile), File.ReadAllBytes(deviceFile));
    }

    [Fact]
    public void CorruptFile_IsRefused_AndLeavesTheDeviceUnchanged()
    {
        var rule = OptimizerCatalog.Create("nadam");
        var (p, grads) = TestData.Inputs(1001, 2);
        string path = Path.Combine(_dir, "corrupt.fopt");
        var (arena, x) = NewArena();
        using (arena)
        {
            p.CopyTo(arena.Param(x));
            using var device = new DeviceOptimizer(fixture.Accelerator, arena, [rule, rule]);
            grads[0].CopyTo(arena.Grad(x));
            device.UploadGradients();
            device.Step();
            device.Save(path);
            var bytes = File.ReadAllBytes(path);
            bytes[bytes.Length / 2] ^= 0x40;
            File.WriteAllBytes(path, bytes);
            using var before = new Optimizer(arena, [rule, rule]);
            device.DownloadTo(before);
            var m = before.GetState(0)!.Span.ToArray();

            var e = Assert.Throws<StateFileException>(() => device.Load(path));

            Assert.Contains("checksum mismatch", e.Message, StringComparison.Ordinal);
            Assert.Equal(1, device.GetStepCount());
            using var after = new Optimizer(arena, [rule, rule]);
            device.DownloadTo(after);
            TestData.AssertBitwiseEqual(m, after.GetState(0)!.Span, "m after a refused load");
        }
    }

    [Fact]
    public void CompressedStates_AreRefusedOnTheDevice_AndACompressedHostIsNotCopiedBufferToBuffer()
    {
        var (arena, x) = NewArena();
        using (arena)
        {
            var bf16 = new OptimizerOptions { StateStorage = FusedOpt.Storage.StateStorage.Bf16 };
            var refused = Assert.Throws<NotSupportedException>(() => new DeviceOptimizer(fixture.Accelerator, arena, OptimizerCatalog.Create("adam"), bf16));
            Assert.Contains("bf16", refused.Message);

            arena.Grad(x).Fill(0.1f);
            using var host = new Optimizer(arena, OptimizerCatalog.Create("adam"), bf16);
            host.Step();
            using var device = new DeviceOptimizer(fixture.Accelerator, arena, OptimizerCatalog.Create("adam"));
            var up = Assert.Throws<ArgumentException>(() => device.UploadFrom(host));
            Assert.Contains("state file", up.Message);
            Assert.Throws<ArgumentException>(() => device.DownloadTo(host));
            Assert.Equal(1, host.GetStepCount());   // nothing changed

            // A state file converts: the compressed host's file loads into the device, widened.
            string path = Path.Combine(Path.GetTempPath(), $"fusedopt-bf16-host-{Guid.NewGuid():N}.fopt");
            try
            {
                host.Save(path);
                device.Load(path);
                Assert.Equal(1, device.GetStepCount());
            }
            finally
            {
                File.Delete(path);
            }
        }
    }
}

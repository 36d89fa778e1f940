using System;
using System.IO;
using FusedOpt.Memory;
using FusedOpt.Optimizers;
using FusedOpt.State;
using Xunit;

namespace FusedOpt.Tests;

/// <summary>State files: save, load and continue bit-identically; corrupt, truncated or mismatched files change nothing.</summary>
public sealed class StateFileTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fusedopt-state-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static (ParameterArena Arena, TensorSlot X) NewArena(int length = 1000, int groups = 2)
    {
        var arena = new ParameterArena();
        var x = arena.Add("x", [length], group: 0);
        for (int g = 1; g < groups; g++)
        {
            arena.Add($"y{g}", [37], group: g);
        }

        arena.Build();
        return (arena, x);
    }

    [Theory]
    [InlineData("nadam")]
    [InlineData("adagrad")]
    [InlineData("sgd")]
    [InlineData("lion")]
    public void Resume_ReproducesTheNextStepsBitwise(string name)
    {
        var rule = OptimizerCatalog.Create(name, TestData.Configurations[name][^1]);
        var (p, grads) = TestData.Inputs(1000, 10);
        string path = Path.Combine(_dir, name + ".fopt");

        // Straight through: 10 steps. Saved after 5, then 5 more.
        var (arena, x) = NewArena();
        using (arena)
        using (var optimizer = new Optimizer(arena, [rule, rule], new OptimizerOptions { Threads = 2 }))
        {
            p.CopyTo(arena.Param(x));
            for (int s = 0; s < 10; s++)
            {
                if (s == 5)
                {
                    optimizer.Save(path);
                }

                grads[s].CopyTo(arena.Grad(x));
                optimizer.Step();
            }

            var straight = arena.Param(x).ToArray();

            // Fresh optimizer with other hyperparameters and garbage parameters: Load must restore everything.
            var (arena2, x2) = NewArena();
            using (arena2)
            using (var resumed = new Optimizer(arena2, OptimizerCatalog.Create(name), new OptimizerOptions { Threads = 2 }))
            {
                arena2.Param(x2).Fill(42);
                resumed.Load(path);
                Assert.Equal(5, resumed.GetStepCount());
                for (int s = 5; s < 10; s++)
                {
                    grads[s].CopyTo(arena2.Grad(x2));
                    resumed.Step();
                }

                TestData.AssertBitwiseEqual(straight, arena2.Param(x2), name + " resumed");
                Assert.Equal(optimizer.GetRule(0).GetHyperparameters(), resumed.GetRule(0).GetHyperparameters());
            }
        }
    }

    [Fact]
    public void Save_IsAtomic_AndLeavesNoTemporaryFile()
    {
        var (arena, _) = NewArena();
        using (arena)
        using (var optimizer = new Optimizer(arena, new Adam()))
        {
            string path = Path.Combine(_dir, "a.fopt");
            optimizer.Save(path);
            optimizer.Save(path);

            Assert.Equal(["a.fopt"], Array.ConvertAll(Directory.GetFiles(_dir), static f => Path.GetFileName(f)!));
        }
    }

    [Theory]
    [InlineData("flip", "checksum mismatch")]
    [InlineData("truncate", "checksum mismatch")]
    [InlineData("short", "not a FusedOpt state file")]
    [InlineData("version", "format version 99 is not supported")]
    public void CorruptFile_IsAClearError_AndChangesNothing(string damage, string message)
    {
        var (arena, x) = NewArena();
        using (arena)
        using (var optimizer = new Optimizer(arena, new Adam()))
        {
            arena.Param(x).Fill(1);
            arena.Grad(x).Fill(0.5f);
            optimizer.Step();
            string path = Path.Combine(_dir, "s.fopt");
            optimizer.Save(path);
            var bytes = File.ReadAllBytes(path);
            bytes = damage switch
            {
                "flip" => Flip(bytes, bytes.Length / 2),
                "truncate" => bytes[..^100],
                "short" => bytes[..10],
                _ => SetVersion(bytes, 99),
            };
            File.WriteAllBytes(path, bytes);
            optimizer.Step();
            var before = arena.Param(x).ToArray();
            var m = optimizer.GetState("m", x).ToArray();

            var e = Assert.Throws<StateFileException>(() => optimizer.Load(path));

            Assert.Contains(message, e.Message, StringComparison.Ordinal);
            Assert.StartsWith(path, e.Message, StringComparison.Ordinal);
            Assert.Equal(2, optimizer.GetStepCount());
            TestData.AssertBitwiseEqual(before, arena.Param(x), "params");
            TestData.AssertBitwiseEqual(m, optimizer.GetState("m", x), "m");
        }
    }

    [Fact]
    public void OtherOptimizer_OrOtherModel_IsRejected_ByName()
    {
        string path = Path.Combine(_dir, "adam.fopt");
        var (arena, _) = NewArena();
        using (arena)
        using (var adam = new Optimizer(arena, new Adam()))
        {
            adam.Save(path);
            using var sgd = new Optimizer(arena, new Sgd());
            Assert.Contains("holds a 'adam' state but the optimizer is 'sgd'", Assert.Throws<StateFileException>(() => sgd.Load(path)).Message, StringComparison.Ordinal);
        }

        var (other, _) = NewArena(length: 999);
        using (other)
        using (var adam = new Optimizer(other, new Adam()))
        {
            var e = Assert.Throws<StateFileException>(() => adam.Load(path));
            Assert.Contains("tensor 0 is 'x' [1000]", e.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void MissingFile_IsAClearError()
    {
        var (arena, _) = NewArena();
        using (arena)
        using (var optimizer = new Optimizer(arena, new Adam()))
        {
            Assert.Contains("no such state file", Assert.Throws<StateFileException>(() => optimizer.Load(Path.Combine(_dir, "none.fopt"))).Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Load_FileWithoutAState_ResetsTheHeldBuffer_SoContinuingEqualsAFreshLoad()
    {
        var (p, grads) = TestData.Inputs(1000, 8);
        string path = Path.Combine(_dir, "plain-adam.fopt");
        var amsgrad = new Adam(Lr: 1e-2f, Amsgrad: true);

        // A plain Adam run saved after 3 steps: the file carries m and v, not vMax.
        var (source, xs) = NewArena(groups: 1);
        using (source)
        using (var plain = new Optimizer(source, new Adam(Lr: 1e-2f)))
        {
            p.CopyTo(source.Param(xs));
            for (int s = 0; s < 3; s++)
            {
                grads[s].CopyTo(source.Grad(xs));
                plain.Step();
            }

            plain.Save(path);
        }

        float[] Continue(Optimizer optimizer, ParameterArena arena, TensorSlot x)
        {
            optimizer.Load(path);
            optimizer.SetRule(0, amsgrad);
            for (int s = 3; s < 8; s++)
            {
                grads[s].CopyTo(arena.Grad(x));
                optimizer.Step();
            }

            return arena.Param(x).ToArray();
        }

        // Fresh: a new optimizer loads the file, switches AMSGrad on and continues; vMax starts at its initial value 0.
        var (freshArena, xf) = NewArena(groups: 1);
        using var freshOwner = freshArena;
        using var fresh = new Optimizer(freshArena, new Adam(Lr: 1e-2f));
        var expected = Continue(fresh, freshArena, xf);

        // Reused: an AMSGrad optimizer that has run (its vMax is large) loads the same file and continues the same way.
        var (usedArena, xu) = NewArena(groups: 1);
        using var usedOwner = usedArena;
        using var used = new Optimizer(usedArena, amsgrad);
        usedArena.Grad(xu).Fill(5f);
        used.Step();
        Assert.True(used.GetState("vMax", xu)[0] > 0.01f);
        var actual = Continue(used, usedArena, xu);

        TestData.AssertBitwiseEqual(expected, actual, "load-then-continue after a run vs a fresh load");
        Assert.Equal(fresh.GetState("vMax", xf).ToArray(), used.GetState("vMax", xu).ToArray());
    }

    [Theory]
    [InlineData(int.MaxValue)]
    [InlineData(1L << 40)]
    public void Load_StepCountPastIntRange_IsRefused_AndChangesNothing(long steps)
    {
        string path = Path.Combine(_dir, "late.fopt");
        var (arena, x) = NewArena(groups: 1);
        using (arena)
        using (var optimizer = new Optimizer(arena, new Adam()))
        {
            optimizer.Restore([new Adam()], [steps], [[]]);
            optimizer.Save(path);
        }

        var (target, y) = NewArena(groups: 1);
        using (target)
        using (var loaded = new Optimizer(target, new Adam()))
        {
            target.Param(y).Fill(1);
            target.Grad(y).Fill(0.5f);
            loaded.Step();
            var before = target.Param(y).ToArray();

            var e = Assert.Throws<StateFileException>(() => loaded.Load(path));

            Assert.Contains($"step count {steps:N0}; at most 2,147,483,646 is supported", e.Message, StringComparison.Ordinal);
            Assert.Equal(1, loaded.GetStepCount());
            TestData.AssertBitwiseEqual(before, target.Param(y), "params");
        }
    }

    [Fact]
    public void Load_LastSupportedStepCount_ContinuesWithFiniteParameters_ThenRefusesToWrap()
    {
        string path = Path.Combine(_dir, "last.fopt");
        var (arena, x) = NewArena(groups: 1);
        using (arena)
        using (var optimizer = new Optimizer(arena, new Adam()))
        {
            optimizer.Restore([new Adam()], [StateFile.MaxStepCount], [[]]);
            optimizer.Save(path);
            arena.Param(x).Fill(1);
            arena.Grad(x).Fill(0.5f);

            optimizer.Load(path);
            optimizer.Step();

            Assert.Equal(int.MaxValue, optimizer.GetStepCount());
            Assert.All(arena.Param(x).ToArray(), static v => Assert.True(float.IsFinite(v)));

            // One more would wrap the rule's int t: refused, and nothing changes.
            var before = arena.Param(x).ToArray();
            var e = Assert.Throws<InvalidOperationException>(() => optimizer.Step());
            Assert.Contains("Group 0 has taken 2,147,483,647 steps", e.Message, StringComparison.Ordinal);
            Assert.Equal(int.MaxValue, optimizer.GetStepCount());
            TestData.AssertBitwiseEqual(before, arena.Param(x), "params after the refused step");
        }
    }

    private static byte[] Flip(byte[] bytes, int index)
    {
        bytes[index] ^= 0x40;
        return bytes;
    }

    private static byte[] SetVersion(byte[] bytes, uint version)
    {
        BitConverter.GetBytes(version).CopyTo(bytes, 8);
        return bytes;
    }
}

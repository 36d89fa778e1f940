using System;
using System.IO;
using System.Linq;
using FusedOpt.Models.Data;
using FusedOpt.Models.Training;
using FusedOpt.Storage;
using FusedOpt.Tests.Data;
using Xunit;

namespace FusedOpt.Tests.Training;

/// <summary>
/// The trainer with compressed optimizer states (<see cref="TrainOptions.StateStorage"/>, issue 14): the storage
/// reaches the optimizer, a checkpoint records it and a resumed run continues bit for bit, and options that do not go
/// together are refused.
/// </summary>
public sealed class CompressedStatesTrainerTests : IDisposable
{
    private readonly SyntheticCifar10 _files = SmallRun.Files();
    private readonly string _dir = Directory.CreateTempSubdirectory("fusedopt-train-states-").FullName;

    public void Dispose()
    {
        _files.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    private Cifar10Dataset Data() => Cifar10.Load(_files.Folder, SyntheticCifar10.Options);

    private static TrainOptions Small(int epochs, StateStorage storage, bool stochastic = false, long q8MinElements = 4096, bool keepPositive = false) =>
        SmallRun.Options(epochs) with { StateStorage = storage, StochasticRounding = stochastic, Q8MinElements = q8MinElements, Q8KeepPositive = keepPositive };

    [Theory]
    [InlineData(StateStorage.Bf16, false, 4096L, false)]
    [InlineData(StateStorage.Bf16, true, 4096L, false)]
    [InlineData(StateStorage.Q8, false, 4096L, false)]
    [InlineData(StateStorage.Q8, false, 0L, false)]
    [InlineData(StateStorage.Q8, false, 0L, true)]
    public void TwoEpochs_EqualOneEpoch_Checkpoint_ResumeOneEpoch_Bitwise(StateStorage storage, bool stochastic, long q8MinElements, bool keepPositive)
    {
        var data = Data();
        float[] straight;
        using (var trainer = new Trainer(data, Small(2, storage, stochastic, q8MinElements, keepPositive)))
        {
            Assert.Equal(storage, trainer.Optimizer.Options.StateStorage);
            Assert.Equal(stochastic, trainer.Optimizer.Options.StochasticRounding);
            Assert.Equal(q8MinElements, trainer.Optimizer.Options.Q8MinElements);
            Assert.Equal(keepPositive, trainer.Optimizer.Options.Q8KeepPositive);
            trainer.RunEpoch();
            trainer.RunEpoch();
            straight = trainer.Arena.Params.Span.ToArray();
        }

        string path = Path.Combine(_dir, "checkpoint.fopt");
        using (var first = new Trainer(data, Small(2, storage, stochastic, q8MinElements, keepPositive)))
        {
            first.RunEpoch();
            first.SaveCheckpoint(path);
        }

        var saved = Checkpoint.Read(path).Header.Options;
        using var resumed = Trainer.Resume(Data(), path);
        resumed.RunEpoch();

        Assert.Equal(storage, saved.StateStorage);
        Assert.Equal(stochastic, saved.StochasticRounding);
        Assert.Equal(q8MinElements, saved.Q8MinElements);
        Assert.Equal(keepPositive, saved.Q8KeepPositive);
        Assert.Equal(storage, resumed.Optimizer.Options.StateStorage);
        Assert.Equal(q8MinElements, resumed.Optimizer.Options.Q8MinElements);
        Assert.Equal(keepPositive, resumed.Optimizer.Options.Q8KeepPositive);
        Assert.True(straight.AsSpan().SequenceEqual(resumed.Arena.Params.Span), "resumed parameters differ from the uninterrupted run");
    }

    [Fact]
    public void EachStorage_TrainsElsewhere_Deterministically()
    {
        var data = Data();
        float[] Train(StateStorage storage, bool stochastic = false, long q8MinElements = 4096)
        {
            using var trainer = new Trainer(data, Small(1, storage, stochastic, q8MinElements));
            trainer.RunEpoch();
            return trainer.Arena.Params.Span.ToArray();
        }

        float[] fp32 = Train(StateStorage.Fp32), bf16 = Train(StateStorage.Bf16), stochastic = Train(StateStorage.Bf16, stochastic: true), q8 = Train(StateStorage.Q8);

        Assert.False(fp32.AsSpan().SequenceEqual(bf16), "bf16 states trained to the fp32 run's parameters");
        Assert.False(bf16.AsSpan().SequenceEqual(stochastic), "stochastic rounding trained to nearest rounding's parameters");
        Assert.False(fp32.AsSpan().SequenceEqual(q8), "q8 states trained to the fp32 run's parameters");
        // The small tensors (the 24×16 and 16×10 weights, the biases) are quantized too with a threshold of 0.
        Assert.False(q8.AsSpan().SequenceEqual(Train(StateStorage.Q8, q8MinElements: 0)), "q8 of every tensor trained to the default threshold's parameters");
        Assert.True(q8.AsSpan().SequenceEqual(Train(StateStorage.Q8)), "the same options gave other parameters");
        // The keep-positive rule reaches the optimizer: every tensor quantized, it changes some stored v and so the run.
        using (var kept = new Trainer(data, Small(1, StateStorage.Q8, q8MinElements: 0, keepPositive: true)))
        {
            kept.RunEpoch();
            Assert.False(Train(StateStorage.Q8, q8MinElements: 0).AsSpan().SequenceEqual(kept.Arena.Params.Span), "q8 keeping positive v trained to bitsandbytes' quantizer's parameters");
        }

        Assert.True(stochastic.AsSpan().SequenceEqual(Train(StateStorage.Bf16, stochastic: true)), "the same seed gave other stochastic rounding");
    }

    [Theory]
    [InlineData(StateStorage.Fp32)]
    [InlineData(StateStorage.Q8)]
    public void StochasticRounding_WithoutBf16_IsRefused(StateStorage storage)
    {
        var e = Assert.Throws<ArgumentException>(Small(1, storage, stochastic: true).Validate);

        Assert.Equal($"--stochastic-rounding rounds bf16 states; it does not apply to --state {StateStorages.Name(storage)}.", e.Message);
    }

    [Fact]
    public void Q8MinElements_NegativeOrWithoutQ8_IsRefused()
    {
        var negative = Assert.Throws<ArgumentException>(Small(1, StateStorage.Q8, q8MinElements: -1).Validate);
        var bf16 = Assert.Throws<ArgumentException>(Small(1, StateStorage.Bf16, q8MinElements: 0).Validate);

        Assert.Equal("--q8-min-elements must be ≥ 0 (0 quantizes every tensor), got -1.", negative.Message);
        Assert.Equal("--q8-min-elements keeps the small tensors of q8 states in fp32; it does not apply to --state bf16.", bf16.Message);
        Small(1, StateStorage.Q8, q8MinElements: 0).Validate();
        Small(1, StateStorage.Fp32).Validate();
    }

    [Theory]
    [InlineData(StateStorage.Fp32)]
    [InlineData(StateStorage.Bf16)]
    public void Q8KeepPositive_WithoutQ8_IsRefused(StateStorage storage)
    {
        var e = Assert.Throws<ArgumentException>(Small(1, storage, keepPositive: true).Validate);

        Assert.Equal($"--q8-keep-positive codes the non-negative states of q8 storage; it does not apply to --state {StateStorages.Name(storage)}.", e.Message);
        Small(1, StateStorage.Q8, keepPositive: true).Validate();
        Assert.True(Small(1, StateStorage.Q8, keepPositive: true).OptimizerOptions().Q8KeepPositive);
        Assert.False(Small(1, StateStorage.Q8).OptimizerOptions().Q8KeepPositive);
    }

    [Fact]
    public void ResumeConflicts_NameTheKeepPositiveRule()
    {
        var conflicts = TrainOptions.ResumeConflicts(Small(1, StateStorage.Q8, keepPositive: true), Small(1, StateStorage.Q8));

        Assert.Equal(["--q8-keep-positive off (the checkpoint has on)"], conflicts);
        Assert.Empty(TrainOptions.ResumeConflicts(Small(1, StateStorage.Q8, keepPositive: true), Small(2, StateStorage.Q8, keepPositive: true)));
    }

    [Fact]
    public void Checkpoint_WrittenBeforeTheKeepPositiveRule_ReadsAsOff()
    {
        // A checkpoint header without the property (written before it existed) gives the default: bitsandbytes' quantizer.
        var json = System.Text.Json.JsonSerializer.Serialize(Small(1, StateStorage.Q8, keepPositive: true));
        Assert.Contains("\"Q8KeepPositive\":true", json, StringComparison.Ordinal);
        var old = System.Text.Json.JsonSerializer.Deserialize<TrainOptions>(json.Replace("\"Q8KeepPositive\":true,", "", StringComparison.Ordinal))!;
        Assert.False(old.Q8KeepPositive);
        Assert.Equal(StateStorage.Q8, old.StateStorage);
    }

    [Fact]
    public void CheckpointFile_WhoseHeaderLacksTheKeepPositiveRule_ReadsAsOff()
    {
        // A real checkpoint file, its header rewritten as a build before the option would have written it (the property
        // absent, the length and the XxHash3 checksum recomputed), read back through Checkpoint.Read's own JSON options.
        string path = Path.Combine(_dir, "old-header.fopt");
        using (var trainer = new Trainer(Data(), Small(1, StateStorage.Q8, keepPositive: true)))
        {
            trainer.RunEpoch();
            trainer.SaveCheckpoint(path);
        }

        byte[] bytes = File.ReadAllBytes(path);
        const int fixedPart = 8 + 8; // magic "FOPTCKPT", version, header length
        int jsonLength = (int)System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(12));
        string header = System.Text.Encoding.UTF8.GetString(bytes, fixedPart, jsonLength);
        string oldHeader = header.Replace("\"Q8KeepPositive\":true,", "", StringComparison.Ordinal);
        Assert.NotEqual(header, oldHeader);
        byte[] json = System.Text.Encoding.UTF8.GetBytes(oldHeader);
        byte[] rest = bytes.AsSpan(fixedPart + jsonLength, bytes.Length - 8 - fixedPart - jsonLength).ToArray();
        byte[] length = new byte[4];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(length, (uint)json.Length);
        byte[] body = [.. bytes.AsSpan(0, 12), .. length, .. json, .. rest];
        byte[] checksum = new byte[8];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(checksum, System.IO.Hashing.XxHash3.HashToUInt64(body));
        File.WriteAllBytes(path, [.. body, .. checksum]);

        var contents = Checkpoint.Read(path);

        Assert.False(contents.Header.Options.Q8KeepPositive);
        Assert.Equal(StateStorage.Q8, contents.Header.Options.StateStorage);
    }

    [Fact]
    public void ResumeConflicts_NameTheQ8Threshold()
    {
        var conflicts = TrainOptions.ResumeConflicts(Small(1, StateStorage.Q8, q8MinElements: 0), Small(1, StateStorage.Q8));

        Assert.Equal(["--q8-min-elements 4096 (the checkpoint has 0)"], conflicts);
        Assert.Empty(TrainOptions.ResumeConflicts(Small(1, StateStorage.Q8, q8MinElements: 0), Small(2, StateStorage.Q8, q8MinElements: 0)));
    }

    [Fact]
    public void ResumeConflicts_NameTheStorageAndTheRounding()
    {
        var conflicts = TrainOptions.ResumeConflicts(Small(1, StateStorage.Bf16, stochastic: true), Small(1, StateStorage.Q8));

        Assert.Equal(["--state q8 (the checkpoint has bf16)", "--stochastic-rounding off (the checkpoint has on)"], conflicts);
        Assert.Empty(TrainOptions.ResumeConflicts(Small(1, StateStorage.Q8), Small(3, StateStorage.Q8) with { Threads = 1 }));
    }

    [Fact]
    public void OptimizerOptions_SeedTheRoundingWithTheRunsSeed()
    {
        var options = Small(1, StateStorage.Bf16, stochastic: true).OptimizerOptions();

        Assert.Equal(StateStorage.Bf16, options.StateStorage);
        Assert.True(options.StochasticRounding);
        Assert.Equal(SmallRun.Options(1).Seed, options.RoundingSeed);
        Assert.Equal("bf16 (stochastic rounding)", Small(1, StateStorage.Bf16, stochastic: true).StatesLabel());
        Assert.Equal("q8 (tensors under 4,096 elements fp32)", Small(1, StateStorage.Q8).StatesLabel());
        Assert.Equal("q8 (every tensor)", Small(1, StateStorage.Q8, q8MinElements: 0).StatesLabel());
        Assert.Equal(4096, Small(1, StateStorage.Q8).OptimizerOptions().Q8MinElements);
        Assert.Equal(100, Small(1, StateStorage.Q8, q8MinElements: 100).OptimizerOptions().Q8MinElements);
    }
}

using System;
using System.IO;
using System.Linq;
using System.Threading.Tasks;
using FusedOpt.Memory;
using FusedOpt.Models;
using FusedOpt.Models.Data;
using FusedOpt.Models.Gadam;
using FusedOpt.Models.Losses;
using FusedOpt.Optimizers;
using Xunit;

namespace FusedOpt.Tests.Gadam;

/// <summary>
/// The Gadam engine: eq. 43 (learning) against a plain Adam loop, eq. 44 (fitness) on hand-checked numbers, a
/// generation's record against eq. 45–49 recomputed from its own numbers, eq. 50, and the same population from 1, 2
/// and 3 ranks (threads standing in for MPI processes), across a checkpoint too.
/// </summary>
public sealed class GadamRunTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fusedopt-gadam-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static Cifar10Dataset Data(int train = 60, int test = 20)
    {
        static ImageSet Set(string name, int count, int seed)
        {
            var rng = new System.Random(seed);
            var labels = new byte[count];
            var pixels = new byte[count * Cifar10Layout.ImageSize];
            for (int r = 0; r < count; r++)
            {
                labels[r] = (byte)rng.Next(10);
                for (int i = 0; i < Cifar10Layout.ImageSize; i++)
                {
                    pixels[(r * Cifar10Layout.ImageSize) + i] = (byte)((labels[r] * 20) + rng.Next(40));
                }
            }

            return new ImageSet(name, pixels, labels);
        }

        var trainSet = Set("train", train, 1);
        return new Cifar10Dataset("synthetic", trainSet, Set("test", test, 2), ChannelNormalization.FromImages(trainSet));
    }

    private static GadamOptions Small => new()
    {
        Hidden = [8], Population = 4, Generations = 3, EpochsPerGeneration = 1, BatchSize = 20, LearningRate = 1e-2,
        ValidationBatch = 30, Seed = 9, Workers = 2,
    };

    [Fact]
    public void Eq43_Learning_IsEEpochsOfAdam_OnTheMembersOwnBatches()
    {
        var data = Data();
        var options = Small with { EpochsPerGeneration = 2 };
        using var member = new GadamMember(Fcn.Spec(hidden: options.Hidden), options);
        member.Model.Initialize(5);

        var (lossSum, images) = member.Train(data.Train, data.Normalization, seed: 77, epochs: 2);

        // The plain loop: same model and initialisation, Adam(lr), batches from MinibatchIterator seeded 77.
        using var model = Fcn.Spec(hidden: options.Hidden).Build<float>();
        using var arena = new ParameterArena();
        model.Register(arena);
        arena.Build();
        model.Initialize(5);
        using var adam = new Optimizer(arena, new Adam(Lr: 1e-2f));
        var batches = new MinibatchIterator(data.Train, data.Normalization, new MinibatchOptions { BatchSize = 20, Seed = 77 });
        var x = new float[20 * Cifar10Layout.ImageSize];
        var y = new int[20];
        var dz = new float[200];
        var epochLoss = new double[2];
        for (int e = 0; e < 2; e++)
        {
            while (batches.TryNext(x, y, out int n))
            {
                arena.ZeroGrads();
                epochLoss[e] += new SoftmaxCrossEntropy().Evaluate(model.Forward(x.AsSpan(0, n * Cifar10Layout.ImageSize), n, true), y.AsSpan(0, n), 10, dz.AsSpan(0, n * 10)) * n;
                model.Backward(dz.AsSpan(0, n * 10));
                adam.Step();
            }
        }

        Assert.Equal(120, images);
        Assert.Equal(epochLoss.Sum(), lossSum);
        Assert.Equal(arena.Params.Span.ToArray(), member.Arena.Params.Span.ToArray());
        Assert.Equal(6, member.Optimizer.GetStepCount());
        Assert.True(epochLoss[1] < epochLoss[0], $"the loss falls: {epochLoss[0] / 60} then {epochLoss[1] / 60}");
    }

    [Fact]
    public void Eq44_FitnessLoss_IsTheMeanCrossEntropyOverTheBatch_HandChecked()
    {
        var options = Small with { Hidden = [4] };
        using var member = new GadamMember(Fcn.Spec(hidden: options.Hidden), options);
        member.Arena.Params.Span.Clear();
        member.Arena.Param(member.Arena["fc2.bias"])[1] = MathF.Log(3); // logits [0, ln 3, 0, …]: Σ e^z = 12
        int rows = 300;                                                 // more than one forward chunk of 250
        var inputs = Enumerable.Range(0, rows * Cifar10Layout.ImageSize).Select(static i => (float)Math.Sin(i)).ToArray();
        var labels = Enumerable.Range(0, rows).Select(static r => r % 2 == 0 ? 1 : 0).ToArray();

        double loss = member.Loss(inputs, labels, rows);

        // Label 1: ln 12 − ln 3 = ln 4; label 0: ln 12. Half of each.
        Assert.Equal((Math.Log(4) + Math.Log(12)) / 2, loss, 6);
    }

    [Fact]
    public void MutationValues_Init_RedrawFromEachLayersInitializer_Uniform_IsRandZeroOne()
    {
        using var member = new GadamMember(Fcn.Spec(hidden: [8]), Small);

        var init = member.MutationValues(MutationMode.Init);
        var uniform = member.MutationValues(MutationMode.Uniform);

        Assert.Equal(new MutationValue(MutationDraw.SymmetricUniform, (float)Math.Sqrt(6.0 / 3072)), init["fc1.weight"]); // He
        Assert.Equal(new MutationValue(MutationDraw.SymmetricUniform, (float)Math.Sqrt(6.0 / (8 + 10))), init["fc2.weight"]); // Xavier
        Assert.Equal(MutationDraw.Zero, init["fc1.bias"].Draw);
        Assert.All(uniform.Values, static v => Assert.Equal(MutationDraw.Unit, v.Draw));
        Assert.Equal(4, uniform.Count);
    }

    [Fact]
    public void Generation_Record_FollowsEquations45To49_FromItsOwnNumbers()
    {
        var options = Small;
        using var run = new GadamRun(Data(), options, new LocalComm());

        var r = run.Step();

        Assert.Equal(GadamMath.Normalize([.. r.FitnessLosses]), r.Normalized);
        Assert.Equal(GadamMath.SelectionProbabilities([.. r.Normalized]), r.Probabilities);
        long d = run.ParameterCount;
        foreach (var pair in r.Pairs)
        {
            Assert.Equal(GadamMath.DrawPair([.. r.Probabilities], options.Seed, 0, pair.Child), (pair.First, pair.Second));
            Assert.Equal(GadamMath.CrossoverProbability(r.Normalized[pair.First], r.Normalized[pair.Second]), pair.CrossoverProbability);
            Assert.Equal(GadamMath.MutationRate(0.01, r.Probabilities[pair.First], r.Probabilities[pair.Second]), pair.MutationRate);
            double sigma = Math.Sqrt(d * 0.25);
            Assert.InRange(pair.FromFirst, (d * pair.CrossoverProbability) - (6 * sigma), (d * pair.CrossoverProbability) + (6 * sigma));
            Assert.InRange(pair.Mutated, 0, (d * pair.MutationRate) + (6 * Math.Sqrt(d * pair.MutationRate)) + 1);
        }

        Assert.Equal(GadamMath.SelectTop([.. r.CandidateLosses], 4), r.Survivors);
        Assert.Equal(r.Survivors.Sum(c => r.CandidateLosses[c]), r.SurvivorLossSum);
        Assert.Equal(r.CandidateLosses[r.Survivors[0]], r.BestLoss);
        Assert.Equal(2L * 4 * 60, r.TrainImages); // g parents and g children, one epoch of 60 images each
        Assert.NotNull(r.TestAccuracy);
        Assert.Equal(0, r.BytesSent);
    }

    [Fact]
    public void Eq50_StopsWhenConsecutiveSumsAreWithinLambda_AndNeverWithNegativeLambda()
    {
        using var stops = new GadamRun(Data(), Small with { Lambda = 1e9, Generations = 5 }, new LocalComm());
        using var runs = new GadamRun(Data(), Small with { Lambda = -1, Generations = 3 }, new LocalComm());

        while (!stops.Finished)
        {
            stops.Step();
        }

        while (!runs.Finished)
        {
            runs.Step();
        }

        Assert.True(stops.Converged);
        Assert.Equal(2, stops.Generation); // the first generation has nothing to compare with
        Assert.False(runs.Converged);
        Assert.Equal(3, runs.Generation);
    }

    private static string[] RunOnRanks(Cifar10Dataset data, GadamOptions options, int ranks, int generations, string? checkpoint = null)
    {
        var comms = ThreadComm.Create(ranks);
        var hashes = new string[ranks];
        Parallel.For(0, ranks, new ParallelOptions { MaxDegreeOfParallelism = ranks }, r =>
        {
            using var run = new GadamRun(data, options, comms[r]);
            for (int k = 0; k < generations; k++)
            {
                run.Step();
            }

            if (checkpoint is not null)
            {
                run.SaveCheckpoint(checkpoint);
            }

            hashes[r] = run.PopulationHash();
        });
        return hashes;
    }

    [Fact]
    public void Ranks_1_2_3_4_GiveTheSamePopulation()
    {
        var data = Data();
        var options = Small with { Generations = 2 };
        using var single = new GadamRun(data, options, new LocalComm());
        single.Step();
        single.Step();
        string expected = single.PopulationHash();

        Assert.All(RunOnRanks(data, options, 2, 2), h => Assert.Equal(expected, h));
        Assert.All(RunOnRanks(data, options, 3, 2), h => Assert.Equal(expected, h));
        Assert.All(RunOnRanks(data, options, 4, 2), h => Assert.Equal(expected, h));
        Assert.All(RunOnRanks(data, options with { Mode = GadamMode.Parallel }, 2, 2), h => Assert.Equal(expected, h));
    }

    [Fact]
    public void Checkpoint_FromTwoRanks_ResumesStandalone_BitForBit()
    {
        var data = Data();
        var options = Small with { Generations = 2 };
        using var single = new GadamRun(data, options, new LocalComm());
        single.Step();
        single.Step();

        RunOnRanks(data, options, 2, 1, Path.Combine(_dir, "ckpt"));
        using var resumed = GadamRun.Resume(data, Path.Combine(_dir, "ckpt"), new LocalComm());
        Assert.Equal(1, resumed.Generation);
        resumed.Step();

        Assert.Equal(single.PopulationHash(), resumed.PopulationHash());
        Assert.Equal(single.SurvivorSums, resumed.SurvivorSums);
    }

    [Fact]
    public void Resume_OnOtherData_IsRejected()
    {
        using (var run = new GadamRun(Data(), Small, new LocalComm()))
        {
            run.Step();
            run.SaveCheckpoint(_dir);
        }

        var e = Assert.Throws<ArgumentException>(() => GadamRun.Resume(Data(train: 40), _dir, new LocalComm()));
        Assert.Contains("same images", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TooManyRanks_AreRejected()
    {
        var comms = ThreadComm.Create(9);
        var e = Assert.Throws<ArgumentException>(() => new GadamRun(Data(), Small, comms[0]));
        Assert.Contains("at most 8 ranks", e.Message, StringComparison.Ordinal);
    }
}

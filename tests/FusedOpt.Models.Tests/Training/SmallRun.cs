using System.Collections.Generic;
using FusedOpt.Models.Training;
using FusedOpt.Tests.Data;

namespace FusedOpt.Tests.Training;

/// <summary>The small training setting the trainer and run tests share: data that can be learned, and options that exercise every part of the loop.</summary>
internal static class SmallRun
{
    /// <summary>Six files of 8 training records and 10 test records whose labels follow the pixels.</summary>
    public static SyntheticCifar10 Files() => new(recordsPerTrainFile: 8, testRecords: 10, label: static (file, record) => (byte)(((record * 7) + (file * 29)) % 256 / 26));

    /// <summary>A small FCN with dropout, Adam, a step schedule, weight decay, augmentation and 2 threads, for <paramref name="epochs"/> epochs.</summary>
    public static TrainOptions Options(int epochs) => new()
    {
        Hidden = [24, 16],
        Dropout = 0.1,
        Optimizer = "adam",
        Hyperparameters = new Dictionary<string, double> { ["lr"] = 3e-3 },
        Epochs = epochs,
        BatchSize = 6,
        Schedule = "step:1:0.5",
        WeightDecay = 1e-3,
        Augment = true,
        Seed = 7,
        Threads = 2,
        EvalBatchSize = 4,
    };
}

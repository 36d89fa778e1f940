using System;
using System.Collections.Generic;
using System.Linq;
using FusedOpt.Kernels;
using FusedOpt.Models.Data;
using FusedOpt.Models.Training.Schedules;

namespace FusedOpt.Models.Training;

/// <summary>How weight decay is applied by the trainer (to weights only; biases are in a group without decay).</summary>
public enum WeightDecayMode
{
    /// <summary>L2 regularisation: λ·w is added to the gradient before the optimizer step (what Adam's weight_decay does).</summary>
    L2,

    /// <summary>Decoupled decay (Loshchilov &amp; Hutter): w ← w·(1 − η·λ) after the step, η the current learning rate.</summary>
    Decoupled,
}

/// <summary>Everything that defines a training run; stored in every checkpoint so a resumed run is the same run.</summary>
public sealed record TrainOptions
{
    /// <summary>Model: only <c>fcn</c> (seed 001's fully connected network) today.</summary>
    public string Model { get; init; } = "fcn";

    /// <summary>Hidden layer widths of the FCN.</summary>
    public IReadOnlyList<int> Hidden { get; init; } = [500, 500, 500];

    /// <summary>Dropout after each hidden activation (0 for none).</summary>
    public double Dropout { get; init; }

    /// <summary>Optimizer catalogue name.</summary>
    public string Optimizer { get; init; } = "adam";

    /// <summary>Hyperparameters other than the defaults (PyTorch or declaration names), e.g. <c>lr</c>.</summary>
    public IReadOnlyDictionary<string, double> Hyperparameters { get; init; } = new Dictionary<string, double>();

    /// <summary>Epochs to train.</summary>
    public int Epochs { get; init; } = 10;

    /// <summary>Minibatch size.</summary>
    public int BatchSize { get; init; } = 100;

    /// <summary>Learning-rate schedule, in the spec language of <see cref="ScheduleSpec"/> (e.g. <c>step:5:0.1</c>).</summary>
    public string Schedule { get; init; } = "constant";

    /// <summary>Weight decay λ applied by the trainer to weights (0 for none); see <see cref="DecayMode"/>.</summary>
    public double WeightDecay { get; init; }

    /// <summary>L2 or decoupled.</summary>
    public WeightDecayMode DecayMode { get; init; } = WeightDecayMode.L2;

    /// <summary>Random crop (padding 4) and horizontal flip of training images.</summary>
    public bool Augment { get; init; }

    /// <summary>Seed of initialisation, shuffling, augmentation and dropout.</summary>
    public ulong Seed { get; init; } = 1;

    /// <summary>Threads for matrix products and optimizer steps.</summary>
    public int Threads { get; init; } = 2;

    /// <summary>Instruction set to force (null: the widest).</summary>
    public Isa? Isa { get; init; }

    /// <summary>Fused optimizer step or the naive multi-pass baseline (same results, different time).</summary>
    public StepMode StepMode { get; init; } = StepMode.Fused;

    /// <summary>Images per forward pass when evaluating.</summary>
    public int EvalBatchSize { get; init; } = 500;

    /// <summary>Train on the first N training images (null: all 50,000).</summary>
    public int? Subset { get; init; }

    /// <summary>Take the subset class-balanced (N/10 per class, in file order).</summary>
    public bool BalancedSubset { get; init; }

    /// <summary>Evaluate on the first N test images (null: all 10,000).</summary>
    public int? TestSubset { get; init; }

    /// <summary>Records per data file: 10,000 in the official layout; null accepts any whole number (small synthetic sets).</summary>
    public int? RecordsPerFile { get; init; } = Cifar10Layout.RecordsPerFile;

    /// <summary>How to load the data this run trains on (a resumed run loads the same images).</summary>
    public Cifar10Options DataOptions() => new() { Subset = Subset, Balanced = BalancedSubset, TestSubset = TestSubset, RecordsPerFile = RecordsPerFile };

    /// <summary>The schedule, parsed.</summary>
    public LearningRateSchedule ParsedSchedule() => ScheduleSpec.Parse(Schedule);

    /// <summary>Checks every option; the error names the option and the value.</summary>
    public void Validate()
    {
        if (!string.Equals(Model, "fcn", StringComparison.OrdinalIgnoreCase))
        {
            throw new ArgumentException($"--model '{Model}' is not available; models: fcn.");
        }

        if (Hidden.Count == 0 || Hidden.Any(static h => h < 1))
        {
            throw new ArgumentException($"--hidden must list positive widths, got [{string.Join(", ", Hidden)}].");
        }

        if (Epochs < 1 || BatchSize < 1 || Threads < 1 || EvalBatchSize < 1)
        {
            throw new ArgumentException($"--epochs, --batch and --threads must be ≥ 1, got {Epochs}, {BatchSize} and {Threads}.");
        }

        if (!(WeightDecay >= 0) || !(Dropout >= 0 && Dropout < 1))
        {
            throw new ArgumentException($"--weight-decay must be ≥ 0 and --dropout in [0, 1), got {WeightDecay} and {Dropout}.");
        }

        OptimizerCatalog.Create(Optimizer, Hyperparameters);
        ParsedSchedule();
    }

    /// <summary>Minibatch settings for the training set.</summary>
    public MinibatchOptions Minibatches() => new()
    {
        BatchSize = BatchSize,
        Shuffle = true,
        Seed = Seed,
        Augmentation = Augment ? Augmentation.CropAndFlip : Augmentation.None,
    };
}

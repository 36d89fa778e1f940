using System;
using System.Collections.Immutable;
using FusedOpt.Kernels;

namespace FusedOpt.Models.Gadam;

/// <summary>How a mutated element is redrawn (eq. 48).</summary>
public enum MutationMode
{
    /// <summary>The seed's rand(0, 1): uniform in [0, 1) for every tensor.</summary>
    Uniform,

    /// <summary>
    /// A redraw from the element's own layer initializer (He/Xavier for weights, zero for biases). The default: a
    /// mutated weight stays on the scale the network was initialised at, instead of rand(0, 1)'s mean 0.5, which is
    /// 10–40× the initial weight bound of the FCN's layers (√(6/3072) ≈ 0.044 for fc1) and always positive.
    /// </summary>
    Init,
}

/// <summary>How the members of a process are trained.</summary>
public enum GadamMode
{
    /// <summary>One member after another.</summary>
    Standalone,

    /// <summary>Members trained concurrently, <see cref="GadamOptions.Workers"/> at a time.</summary>
    Parallel,
}

/// <summary>The settings of a Gadam run (seed 004 §6.1). Everything that decides the numbers is here and in the checkpoint.</summary>
public sealed record GadamOptions
{
    /// <summary>Model: <c>fcn</c>.</summary>
    public string Model { get; init; } = "fcn";

    /// <summary>Hidden widths of the FCN.</summary>
    public ImmutableArray<int> Hidden { get; init; } = [500, 500, 500];

    /// <summary>Population size g.</summary>
    public int Population { get; init; } = 4;

    /// <summary>Maximum number of generations K.</summary>
    public int Generations { get; init; } = 5;

    /// <summary>Epochs E each member (parent, then child) trains with Adam per generation.</summary>
    public int EpochsPerGeneration { get; init; } = 1;

    /// <summary>Minibatch size b.</summary>
    public int BatchSize { get; init; } = 100;

    /// <summary>Adam's learning rate (β₁ = 0.9, β₂ = 0.999, ε = 1e-8).</summary>
    public double LearningRate { get; init; } = 1e-3;

    /// <summary>Base mutation rate p of eq. 49.</summary>
    public double MutationRate { get; init; } = 0.01;

    /// <summary>What a mutated element becomes.</summary>
    public MutationMode Mutation { get; init; } = MutationMode.Init;

    /// <summary>Stop threshold λ of eq. 50 (on the summed mean validation losses); negative: never stop early.</summary>
    public double Lambda { get; init; } = -1;

    /// <summary>Images in each validation batch (sampled from the training set, shared by the population).</summary>
    public int ValidationBatch { get; init; } = 500;

    /// <summary>Seed of everything random.</summary>
    public ulong Seed { get; init; } = 1;

    /// <summary>Threads per member (matrix products and Adam step); fixed, so results do not depend on the mode.</summary>
    public int MemberThreads { get; init; } = 1;

    /// <summary>Execution mode of each process.</summary>
    public GadamMode Mode { get; init; } = GadamMode.Standalone;

    /// <summary>Members trained at once in <see cref="GadamMode.Parallel"/>, and threads of the crossover pass.</summary>
    public int Workers { get; init; } = Math.Max(1, Environment.ProcessorCount);

    /// <summary>Evaluate the best member on the test set after each generation.</summary>
    public bool EvaluateTest { get; init; } = true;

    /// <summary>Train on the first N CIFAR-10 training images (null: all); recorded so a resumed run loads the same data.</summary>
    public int? Subset { get; init; }

    /// <summary>Evaluate on the first N test images (null: all).</summary>
    public int? TestSubset { get; init; }

    /// <summary>Records per data file (10,000 in the official layout; null for small synthetic sets).</summary>
    public int? RecordsPerFile { get; init; } = 10000;

    /// <summary>Instruction set to force; null picks <c>FUSEDOPT_ISA</c> or the widest.</summary>
    public Isa? Isa { get; init; }

    /// <summary>Rows per forward pass when evaluating (fixed, so a loss does not depend on the mode).</summary>
    public const int EvalChunk = 250;

    /// <summary>Throws, naming the option and its value, when an option is out of range.</summary>
    public void Validate()
    {
        static void Check(bool ok, string message)
        {
            if (!ok)
            {
                throw new ArgumentException("gadam: " + message);
            }
        }

        Check(Model == "fcn", $"--model '{Model}' is not available; expected fcn (VGG11 once the convolutional runtime lands).");
        Check(!Hidden.IsDefaultOrEmpty && System.Linq.Enumerable.All(Hidden, static h => h >= 1), $"hidden widths must be ≥ 1, got [{string.Join(", ", Hidden.IsDefault ? [] : Hidden)}].");
        Check(Population >= 2, $"--population must be ≥ 2, got {Population}.");
        Check(Generations >= 1, $"--generations must be ≥ 1, got {Generations}.");
        Check(EpochsPerGeneration >= 1, $"--epochs-per-generation must be ≥ 1, got {EpochsPerGeneration}.");
        Check(BatchSize >= 1, $"--batch must be ≥ 1, got {BatchSize}.");
        Check(LearningRate > 0 && double.IsFinite(LearningRate), $"--lr must be finite and > 0, got {LearningRate}.");
        Check(MutationRate is >= 0 and <= 1, $"--mutation-rate must be in [0, 1], got {MutationRate}.");
        Check(!double.IsNaN(Lambda), "--lambda must be a number.");
        Check(ValidationBatch >= 1, $"--validation-batch must be ≥ 1, got {ValidationBatch}.");
        Check(MemberThreads is >= 1 and <= 64, $"--member-threads must be in [1, 64], got {MemberThreads}.");
        Check(Workers is >= 1 and <= 1024, $"--workers must be in [1, 1024], got {Workers}.");
    }
}

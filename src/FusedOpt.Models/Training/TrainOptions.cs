using System;
using System.Collections.Generic;
using System.Linq;
using FusedOpt.Kernels;
using FusedOpt.Models.Data;
using FusedOpt.Models.Training.Schedules;
using FusedOpt.Storage;

namespace FusedOpt.Models.Training;

/// <summary>
/// Which weight decay <see cref="TrainOptions.WeightDecay"/> asks for. The trainer does not apply it itself: it sets
/// the optimizer's own <c>weight_decay</c> hyperparameter on the weight group (see <see cref="WeightDecay"/>), and
/// refuses a mode the optimizer's rule does not implement.
/// </summary>
public enum WeightDecayMode
{
    /// <summary>L2 regularisation: λ·w added to the gradient inside the step (torch.optim.Adam's and SGD's weight_decay).</summary>
    L2,

    /// <summary>Decoupled decay (Loshchilov &amp; Hutter): w ← w·(1 − η·λ) inside the step (torch.optim.AdamW's weight_decay).</summary>
    Decoupled,
}

/// <summary>Everything that defines a training run; stored in every checkpoint so a resumed run is the same run.</summary>
public sealed record TrainOptions
{
    /// <summary>The optimizer's own default (a checkpoint written before the option existed reads as this).</summary>
    private static readonly long DefaultQ8MinElements = new OptimizerOptions().Q8MinElements;

    /// <summary>Model name in <see cref="ModelCatalog"/> (<c>fcn</c>: seed 001's fully connected network).</summary>
    public string Model { get; init; } = "fcn";

    /// <summary>Width multiplier for models that scale (1: the published size); must stay 1 for the FCN.</summary>
    public double Width { get; init; } = 1;

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

    /// <summary>
    /// Weight decay λ on the weight group (0 for none): the optimizer's <c>weight_decay</c> on weights (tensors of
    /// rank ≥ 2), 0 on biases and normalisation parameters (rank 1); see <see cref="DecayMode"/>. With 0, the rule's
    /// hyperparameters apply to every group unchanged.
    /// </summary>
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

    /// <summary>
    /// Step each layer's parameters inside the backward pass, as soon as its gradients are complete (while they are
    /// still in cache), instead of one optimizer pass over the whole arena after it. The same operations on every element
    /// in the same order: the results are bit-identical to the separate step. Kept by a resumed run.
    /// </summary>
    public bool StepInBackward { get; init; }

    /// <summary>
    /// How the optimizer stores its per-element states: float32 (as declared), bfloat16 or blockwise 8-bit (q8); see
    /// <see cref="OptimizerOptions.StateStorage"/>. Recorded in the checkpoint; a resumed run keeps it.
    /// </summary>
    public StateStorage StateStorage { get; init; } = StateStorage.Fp32;

    /// <summary>
    /// bf16 states only: round them stochastically, with <see cref="Seed"/> as the rounding seed
    /// (<see cref="OptimizerOptions.StochasticRounding"/>). Kept by a resumed run.
    /// </summary>
    public bool StochasticRounding { get; init; }

    /// <summary>
    /// q8 states only, opt-in: a positive value of a state coded with the unsigned map (Adam's v, AdaBelief's s) is never
    /// stored as 0 but as the smallest nonzero code (<see cref="OptimizerOptions.Q8KeepPositive"/>); signed states (m) are
    /// unchanged. Off: bitsandbytes' quantizer exactly. Recorded in the checkpoint; a resumed run keeps it.
    /// </summary>
    public bool Q8KeepPositive { get; init; }

    /// <summary>
    /// q8 states only: tensors with fewer elements keep float32 states (<see cref="OptimizerOptions.Q8MinElements"/>,
    /// bitsandbytes' <c>min_8bit_size</c>; 4096 by default); 0 quantizes every tensor. Must stay at the default with
    /// another storage. Recorded in the checkpoint; a resumed run keeps it.
    /// </summary>
    public long Q8MinElements { get; init; } = DefaultQ8MinElements;

    /// <summary>
    /// Images read per evaluation minibatch; each is run forward in slices no larger than the largest training forward so
    /// far (<see cref="BatchSize"/> before any), so evaluating never grows the model's workspaces beyond what training
    /// allocated.
    /// </summary>
    public int EvalBatchSize { get; init; } = 500;

    /// <summary>Train on the first N training images (null: all 50,000).</summary>
    public int? Subset { get; init; }

    /// <summary>Take the subset class-balanced (N/10 per class, in file order).</summary>
    public bool BalancedSubset { get; init; }

    /// <summary>Evaluate on the first N test images (null: all 10,000).</summary>
    public int? TestSubset { get; init; }

    /// <summary>
    /// Train on after a non-finite training loss. By default the run stops there with
    /// <see cref="TrainingDivergedException"/>; may change when a run is resumed.
    /// </summary>
    public bool KeepGoing { get; init; }

    /// <summary>Records per data file: 10,000 in the official layout; null accepts any whole number (small synthetic sets).</summary>
    public int? RecordsPerFile { get; init; } = Cifar10Layout.RecordsPerFile;

    /// <summary>How to load the data this run trains on (a resumed run loads the same images).</summary>
    public Cifar10Options DataOptions() => new() { Subset = Subset, Balanced = BalancedSubset, TestSubset = TestSubset, RecordsPerFile = RecordsPerFile };

    /// <summary>The schedule, parsed.</summary>
    public LearningRateSchedule ParsedSchedule() => ScheduleSpec.Parse(Schedule);

    /// <summary>Checks every option; the error names the option and the value.</summary>
    public void Validate()
    {
        var model = ModelCatalog.Get(Model);
        if (!(Width > 0) || double.IsInfinity(Width) || (!model.ScalesWithWidth && Width != 1))
        {
            throw new ArgumentException(model.ScalesWithWidth
                ? $"--width must be a positive multiplier, got {Width}."
                : $"--width {Width}: model {model.Name} does not scale with a width multiplier; leave --width at 1.");
        }

        if (Hidden.Count == 0 || Hidden.Any(static h => h < 1))
        {
            throw new ArgumentException($"--hidden must list positive widths, got [{string.Join(", ", Hidden)}].");
        }

        if (Epochs < 1 || BatchSize < 1 || Threads < 1 || EvalBatchSize < 1)
        {
            throw new ArgumentException($"--epochs, --batch and --threads must be ≥ 1, got {Epochs}, {BatchSize} and {Threads}.");
        }

        if (Subset is < 1 || TestSubset is < 1)
        {
            throw new ArgumentException(Subset is < 1
                ? $"--subset must be ≥ 1 image, got {Subset}."
                : $"--test-subset must be ≥ 1 image (every epoch ends with a test evaluation), got {TestSubset}.");
        }

        if (!(WeightDecay >= 0) || double.IsInfinity(WeightDecay) || !(Dropout >= 0 && Dropout < 1))
        {
            throw new ArgumentException($"--weight-decay must be ≥ 0 and --dropout in [0, 1), got {WeightDecay} and {Dropout}.");
        }

        if (!Enum.IsDefined(StateStorage))
        {
            throw new ArgumentException($"--state: {(int)StateStorage} is not a state storage; expected {StateStorages.Accepted}.");
        }

        if (StochasticRounding && StateStorage != StateStorage.Bf16)
        {
            throw new ArgumentException($"--stochastic-rounding rounds bf16 states; it does not apply to --state {StateStorages.Name(StateStorage)}.");
        }

        if (Q8MinElements < 0)
        {
            throw new ArgumentException($"--q8-min-elements must be ≥ 0 (0 quantizes every tensor), got {Q8MinElements}.");
        }

        if (Q8MinElements != DefaultQ8MinElements && StateStorage != StateStorage.Q8)
        {
            throw new ArgumentException(Q8ThresholdWithout(StateStorage));
        }

        if (Q8KeepPositive && StateStorage != StateStorage.Q8)
        {
            throw new ArgumentException($"--q8-keep-positive codes the non-negative states of q8 storage; it does not apply to --state {StateStorages.Name(StateStorage)}.");
        }

        Training.WeightDecay.GroupRules(this, groups: 2);
        ParsedSchedule();
    }

    /// <summary>
    /// What a resumed run may not change: every option that shapes the trajectory. Returns one line per conflict,
    /// naming the option, the checkpoint's value and the requested one; empty when <paramref name="requested"/> only
    /// changes what may change (epochs, threads, ISA, step mode, keep-going).
    /// </summary>
    public static IReadOnlyList<string> ResumeConflicts(TrainOptions saved, TrainOptions requested)
    {
        ArgumentNullException.ThrowIfNull(saved);
        ArgumentNullException.ThrowIfNull(requested);
        var conflicts = new List<string>();
        void Check<TValue>(string option, TValue a, TValue b, Func<TValue, string>? show = null)
        {
            if (!EqualityComparer<TValue>.Default.Equals(a, b))
            {
                show ??= static v => Convert.ToString(v, System.Globalization.CultureInfo.InvariantCulture) ?? "none";
                conflicts.Add($"{option} {show(b)} (the checkpoint has {show(a)})");
            }
        }

        Check("--model", saved.Model.ToLowerInvariant(), requested.Model.ToLowerInvariant());
        Check("--width", saved.Width, requested.Width);
        Check("--hidden", string.Join(",", saved.Hidden), string.Join(",", requested.Hidden));
        Check("--dropout", saved.Dropout, requested.Dropout);
        Check("--optimizer", saved.Optimizer.ToLowerInvariant(), requested.Optimizer.ToLowerInvariant());
        if (string.Equals(saved.Optimizer, requested.Optimizer, StringComparison.OrdinalIgnoreCase))
        {
            var a = OptimizerCatalog.Create(saved.Optimizer, saved.Hyperparameters);
            var b = OptimizerCatalog.Create(requested.Optimizer, requested.Hyperparameters);
            double[] av = a.GetHyperparameters(), bv = b.GetHyperparameters();
            for (int i = 0; i < av.Length; i++)
            {
                var h = a.Descriptor.Hyperparameters[i];
                Check(h.SnakeName == "lr" ? "--lr" : $"--set {h.SnakeName}", av[i], bv[i], v => h.FormatValue(v));
            }
        }

        Check("--batch", saved.BatchSize, requested.BatchSize);
        Check("--schedule", saved.Schedule, requested.Schedule);
        Check("--weight-decay", saved.WeightDecay, requested.WeightDecay);
        Check("--decay", saved.DecayMode, requested.DecayMode, static m => m.ToString().ToLowerInvariant());
        Check("--augment", saved.Augment, requested.Augment);
        Check("--seed", saved.Seed, requested.Seed);
        Check("--subset", saved.Subset, requested.Subset);
        Check("--balanced", saved.BalancedSubset, requested.BalancedSubset);
        Check("--test-subset", saved.TestSubset, requested.TestSubset);
        Check("--step-in-backward", saved.StepInBackward, requested.StepInBackward, static b => b ? "on" : "off");
        Check("--state", saved.StateStorage, requested.StateStorage, StateStorages.Name);
        Check("--stochastic-rounding", saved.StochasticRounding, requested.StochasticRounding, static b => b ? "on" : "off");
        Check("--q8-min-elements", saved.Q8MinElements, requested.Q8MinElements);
        Check("--q8-keep-positive", saved.Q8KeepPositive, requested.Q8KeepPositive, static b => b ? "on" : "off");
        Check("--records-per-file", saved.RecordsPerFile, requested.RecordsPerFile, static n => n?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "any");
        Check("eval batch size", saved.EvalBatchSize, requested.EvalBatchSize);
        return conflicts;
    }

    /// <summary>
    /// The optimizer's options for this run: threads, ISA, step mode, state storage, its rounding (seeded by
    /// <see cref="Seed"/>), q8's threshold and q8's keep-positive rule.
    /// </summary>
    public OptimizerOptions OptimizerOptions() => new()
    {
        Threads = Threads,
        Isa = Isa,
        Mode = StepMode,
        StateStorage = StateStorage,
        StochasticRounding = StochasticRounding,
        RoundingSeed = StochasticRounding ? Seed : 0,
        Q8MinElements = Q8MinElements,
        Q8KeepPositive = Q8KeepPositive,
    };

    /// <summary>
    /// The states as a run's header line names them: <c>fp32</c>, <c>bf16</c>, <c>bf16 (stochastic rounding)</c>,
    /// <c>q8 (tensors under 4,096 elements fp32)</c> or, with <see cref="Q8MinElements"/> 0, <c>q8 (every tensor)</c>;
    /// with <see cref="Q8KeepPositive"/> the q8 labels end in <c>, keep positive</c>.
    /// </summary>
    public string StatesLabel() => StateStorage switch
    {
        StateStorage.Q8 when Q8MinElements == 0 => "q8 (every tensor)" + KeepPositiveLabel,
        StateStorage.Q8 => string.Create(System.Globalization.CultureInfo.InvariantCulture, $"q8 (tensors under {Q8MinElements:N0} elements fp32)") + KeepPositiveLabel,
        _ => StateStorages.Name(StateStorage) + (StochasticRounding ? " (stochastic rounding)" : ""),
    };

    private string KeepPositiveLabel => Q8KeepPositive ? ", keep positive" : "";

    /// <summary>The refusal of a q8 threshold with another storage, naming it.</summary>
    private static string Q8ThresholdWithout(StateStorage storage) =>
        $"--q8-min-elements keeps the small tensors of q8 states in fp32; it does not apply to --state {StateStorages.Name(storage)}.";

    /// <summary>Minibatch settings for the training set.</summary>
    public MinibatchOptions Minibatches() => new()
    {
        BatchSize = BatchSize,
        Shuffle = true,
        Seed = Seed,
        Augmentation = Augment ? Augmentation.CropAndFlip : Augmentation.None,
    };
}

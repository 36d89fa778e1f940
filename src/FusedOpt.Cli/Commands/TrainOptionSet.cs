using System;
using System.Collections.Generic;
using System.CommandLine;
using System.Globalization;
using System.Linq;
using FusedOpt.Kernels;
using FusedOpt.Models.Training;
using FusedOpt.Models.Training.Schedules;
using FusedOpt.Storage;

namespace FusedOpt.Cli.Commands;

/// <summary>The options shared by <c>train</c> and <c>compare</c>, and their translation into <see cref="TrainOptions"/>.</summary>
internal sealed class TrainOptionSet
{
    public Option<string> Model { get; } = new("--model") { Description = $"Model: {ModelCatalog.Names}.", DefaultValueFactory = static _ => "fcn" };

    public Option<double> Width { get; } = new("--width") { Description = "Width multiplier for models that scale (1: the published size).", DefaultValueFactory = static _ => 1.0 };

    public Option<string> Hidden { get; } = new("--hidden") { Description = "Hidden layer widths of the FCN.", DefaultValueFactory = static _ => "500,500,500" };

    public Option<double> Dropout { get; } = new("--dropout") { Description = "Dropout after each hidden layer (0 for none)." };

    public Option<int> Epochs { get; } = new("--epochs") { Description = "Epochs.", DefaultValueFactory = static _ => 10 };

    public Option<int> Batch { get; } = new("--batch") { Description = "Minibatch size.", DefaultValueFactory = static _ => 100 };

    public Option<int?> Subset { get; } = new("--subset") { Description = "Train on the first N images (default: all 50,000)." };

    public Option<bool> Balanced { get; } = new("--balanced") { Description = "Make --subset class-balanced (N/10 per class)." };

    public Option<int?> TestSubset { get; } = new("--test-subset") { Description = "Evaluate on the first N test images (default: all 10,000)." };

    public Option<string> Schedule { get; } = new("--schedule") { Description = "Learning-rate schedule. " + ScheduleSpec.Grammar, DefaultValueFactory = static _ => "constant" };

    public Option<double> WeightDecay { get; } = new("--weight-decay") { Description = "Weight decay λ through the optimizer's weight_decay, on weights only (biases and normalisation parameters: none)." };

    public Option<string> Decay { get; } = new("--decay") { Description = "Which decay --weight-decay asks for: l2 (added to the gradient: adam, sgd…) or decoupled (w ← w(1 − ηλ): adamw…); refused when the optimizer's rule does the other.", DefaultValueFactory = static _ => "l2" };

    public Option<bool> KeepGoing { get; } = new("--keep-going") { Description = "Train on after a NaN or infinite loss (default: stop, exit 1)." };

    public Option<bool> Augment { get; } = new("--augment") { Description = "Random crop (padding 4) and horizontal flip." };

    public Option<ulong> Seed { get; } = new("--seed") { Description = "Seed of initialisation, shuffling, augmentation and dropout.", DefaultValueFactory = static _ => 1UL };

    public Option<int> Threads { get; } = new("--threads") { Description = "Threads.", DefaultValueFactory = static _ => Math.Min(2, Environment.ProcessorCount) };

    public Option<string?> Isa { get; } = new("--isa") { Description = "avx512, avx2, scalar or auto." };

    public Option<string?> Data { get; } = new("--data") { Description = "CIFAR-10 folder (binary layout); default FUSEDOPT_DATA, else downloaded once to the cache." };

    public Option<string> RecordsPerFile { get; } = new("--records-per-file") { Description = "Records per data file: 10000 (the official layout) or any (small synthetic data sets).", DefaultValueFactory = static _ => "10000", Hidden = true };

    public Option<bool> StepInBackward { get; } = new("--step-in-backward") { Description = "Step each layer's parameters inside the backward pass, as soon as its gradients are complete (no separate optimizer pass; bit-identical results). Kept by --resume." };

    public Option<string> State { get; } = new("--state")
    {
        Description = "How the optimizer stores its states: fp32, bf16 or q8 (blockwise 8-bit, as bitsandbytes). Parameters and gradients stay fp32. Kept by --resume.",
        DefaultValueFactory = static _ => "fp32",
    };

    public Option<bool> StochasticRounding { get; } = new("--stochastic-rounding") { Description = "With --state bf16: round the states stochastically (unbiased), seeded by --seed. Kept by --resume." };

    public Option<long> Q8MinElements { get; } = ReplayCommand.Q8MinElementsOption("With --state q8: tensors with fewer elements keep fp32 states (bitsandbytes' min_8bit_size); 0 quantizes every tensor. Kept by --resume.");

    public Option<bool> Q8KeepPositive { get; } = ReplayCommand.Q8KeepPositiveOption("With --state q8: never store a positive value of a non-negative state (Adam's v) as 0, but as the smallest nonzero code (default: bitsandbytes' quantizer exactly). Kept by --resume.");

    public Option<string[]> Set { get; } = new("--set") { Description = "Optimizer hyperparameters, e.g. --set momentum=0.9.", AllowMultipleArgumentsPerToken = true };

    public void AddTo(Command command)
    {
        foreach (var option in new Option[] { Model, Width, Hidden, Dropout, Epochs, Batch, Subset, Balanced, TestSubset, Schedule, WeightDecay, Decay, Augment, Seed, Threads, Isa, Data, RecordsPerFile, Set, KeepGoing, StepInBackward, State, StochasticRounding, Q8MinElements, Q8KeepPositive })
        {
            command.Options.Add(option);
        }
    }

    /// <summary>
    /// The options for <paramref name="optimizer"/>, with <paramref name="lr"/> when given. With
    /// <paramref name="saved"/> (a resumed run) every option not given on the command line keeps the saved value, and
    /// --set/--lr overlay the saved hyperparameters.
    /// </summary>
    public TrainOptions Build(ParseResult parse, string optimizer, double? lr, bool naive = false, TrainOptions? saved = null)
    {
        T Pick<T>(Option<T> option, Func<TrainOptions, T> old) => saved is null || Given(parse, option) ? parse.GetValue(option)! : old(saved);

        var hyper = saved is null ? new Dictionary<string, double>(StringComparer.OrdinalIgnoreCase) : new Dictionary<string, double>(saved.Hyperparameters, StringComparer.OrdinalIgnoreCase);
        foreach (var (name, value) in BenchStepCommand.ParseAssignments(parse.GetValue(Set) ?? []))
        {
            hyper[name] = value;
        }

        if (lr is { } rate)
        {
            hyper["lr"] = rate;
        }

        var storage = saved is null || Given(parse, State) ? StateStorages.Parse(parse.GetValue(State), "--state") : saved.StateStorage;
        long? threshold = ReplayCommand.Q8Threshold(parse, Q8MinElements, storage);
        var options = new TrainOptions
        {
            Model = Pick(Model, static o => o.Model),
            Width = Pick(Width, static o => o.Width),
            Hidden = saved is null || Given(parse, Hidden) ? ParseWidths(parse.GetValue(Hidden)!) : saved.Hidden,
            Dropout = Pick(Dropout, static o => o.Dropout),
            Optimizer = optimizer,
            Hyperparameters = hyper,
            Epochs = Pick(Epochs, static o => o.Epochs),
            BatchSize = Pick(Batch, static o => o.BatchSize),
            Subset = Pick(Subset, static o => o.Subset),
            BalancedSubset = Pick(Balanced, static o => o.BalancedSubset),
            TestSubset = Pick(TestSubset, static o => o.TestSubset),
            Schedule = Pick(Schedule, static o => o.Schedule),
            WeightDecay = Pick(WeightDecay, static o => o.WeightDecay),
            DecayMode = saved is null || Given(parse, Decay) ? ParseDecay(parse.GetValue(Decay)!) : saved.DecayMode,
            Augment = Pick(Augment, static o => o.Augment),
            Seed = Pick(Seed, static o => o.Seed),
            Threads = ReplayCommand.CheckThreads(Pick(Threads, static o => o.Threads)),
            Isa = saved is null || Given(parse, Isa) ? IsaSupport.Parse(parse.GetValue(Isa), "--isa") : saved.Isa,
            StepMode = naive ? StepMode.Naive : StepMode.Fused,
            KeepGoing = Pick(KeepGoing, static o => o.KeepGoing),
            StepInBackward = Pick(StepInBackward, static o => o.StepInBackward),
            StateStorage = storage,
            // A resume that names another storage keeps the saved rounding only where it applies (bf16), so that the
            // conflict with the checkpoint is what gets reported.
            StochasticRounding = saved is null || Given(parse, StochasticRounding) ? parse.GetValue(StochasticRounding) : saved.StochasticRounding && storage == StateStorage.Bf16,
            // Likewise q8's threshold: given, or the checkpoint's where the states stay q8, else the default.
            Q8MinElements = threshold ?? (saved?.StateStorage == StateStorage.Q8 && storage == StateStorage.Q8 ? saved.Q8MinElements : new TrainOptions().Q8MinElements),
            // And q8's keep-positive rule: given, or the checkpoint's where the states stay q8.
            Q8KeepPositive = saved is null || Given(parse, Q8KeepPositive) ? parse.GetValue(Q8KeepPositive) : saved.Q8KeepPositive && storage == StateStorage.Q8,
            RecordsPerFile = saved is null || Given(parse, RecordsPerFile) ? ParseRecordsPerFile(parse.GetValue(RecordsPerFile)!) : saved.RecordsPerFile,
            EvalBatchSize = saved?.EvalBatchSize ?? new TrainOptions().EvalBatchSize,
        };
        options.Validate();
        return options;
    }

    /// <summary>True when <paramref name="option"/> was written on the command line (not a default).</summary>
    public static bool Given(ParseResult parse, Option option) => parse.GetResult(option) is { Implicit: false };

    private static WeightDecayMode ParseDecay(string text) => text.ToLowerInvariant() switch
    {
        "l2" => WeightDecayMode.L2,
        "decoupled" => WeightDecayMode.Decoupled,
        var other => throw new ArgumentException($"--decay '{other}': expected l2 or decoupled."),
    };

    /// <summary><c>any</c> (null) or a positive count.</summary>
    public static int? ParseRecordsPerFile(string text) =>
        text.Trim().Equals("any", StringComparison.OrdinalIgnoreCase) ? null
        : int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out int n) && n > 0 ? n
        : throw new FormatException($"--records-per-file '{text}': expected a positive number or 'any'.");

    private static int[] ParseWidths(string text)
    {
        var parts = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var widths = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
        {
            if (!int.TryParse(parts[i], NumberStyles.Integer, CultureInfo.InvariantCulture, out widths[i]) || widths[i] < 1)
            {
                throw new FormatException($"--hidden '{text}': '{parts[i]}' is not a positive width.");
            }
        }

        return widths;
    }

    /// <summary>
    /// Parses <c>--lr</c> of compare: <c>0.01</c> (every optimizer) or <c>sgd=0.01,adam=1e-4</c> (per optimizer, each
    /// named in <paramref name="optimizers"/>). Errors name --lr and the offending part.
    /// </summary>
    public static Func<string, double?> ParseLearningRates(string? text, IReadOnlyCollection<string> optimizers)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return static _ => null;
        }

        if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double all))
        {
            return _ => all;
        }

        var map = new Dictionary<string, double>(StringComparer.OrdinalIgnoreCase);
        foreach (string item in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            int eq = item.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0)
            {
                throw new FormatException($"--lr '{item}': expected a number for every optimizer or optimizer=number, e.g. sgd=0.01,adam=1e-4.");
            }

            string name = item[..eq].Trim(), value = item[(eq + 1)..].Trim();
            if (!double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out double rate))
            {
                throw new FormatException($"--lr {name}: '{value}' is not a number.");
            }

            if (!optimizers.Contains(name, StringComparer.OrdinalIgnoreCase))
            {
                throw new ArgumentException($"--lr {name}={value}: {name} is not in --optimizers ({string.Join(", ", optimizers)}).");
            }

            if (!map.TryAdd(name, rate))
            {
                throw new ArgumentException($"--lr names {name} twice.");
            }
        }

        return name => map.TryGetValue(name, out double v) ? v : null;
    }
}

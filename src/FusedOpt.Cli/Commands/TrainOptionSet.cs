using System;
using System.Collections.Generic;
using System.CommandLine;
using System.Globalization;
using System.Linq;
using FusedOpt.Kernels;
using FusedOpt.Models.Training;
using FusedOpt.Models.Training.Schedules;

namespace FusedOpt.Cli.Commands;

/// <summary>The options shared by <c>train</c> and <c>compare</c>, and their translation into <see cref="TrainOptions"/>.</summary>
internal sealed class TrainOptionSet
{
    public Option<string> Model { get; } = new("--model") { Description = "Model: fcn (seed 001's fully connected network).", DefaultValueFactory = static _ => "fcn" };

    public Option<string> Hidden { get; } = new("--hidden") { Description = "Hidden layer widths of the FCN.", DefaultValueFactory = static _ => "500,500,500" };

    public Option<double> Dropout { get; } = new("--dropout") { Description = "Dropout after each hidden layer (0 for none)." };

    public Option<int> Epochs { get; } = new("--epochs") { Description = "Epochs.", DefaultValueFactory = static _ => 10 };

    public Option<int> Batch { get; } = new("--batch") { Description = "Minibatch size.", DefaultValueFactory = static _ => 100 };

    public Option<int?> Subset { get; } = new("--subset") { Description = "Train on the first N images (default: all 50,000)." };

    public Option<bool> Balanced { get; } = new("--balanced") { Description = "Make --subset class-balanced (N/10 per class)." };

    public Option<int?> TestSubset { get; } = new("--test-subset") { Description = "Evaluate on the first N test images (default: all 10,000)." };

    public Option<string> Schedule { get; } = new("--schedule") { Description = "Learning-rate schedule. " + ScheduleSpec.Grammar, DefaultValueFactory = static _ => "constant" };

    public Option<double> WeightDecay { get; } = new("--weight-decay") { Description = "Weight decay λ on weights (biases excluded)." };

    public Option<string> Decay { get; } = new("--decay") { Description = "How --weight-decay applies: l2 (added to the gradient) or decoupled (w ← w(1 − ηλ)).", DefaultValueFactory = static _ => "l2" };

    public Option<bool> Augment { get; } = new("--augment") { Description = "Random crop (padding 4) and horizontal flip." };

    public Option<ulong> Seed { get; } = new("--seed") { Description = "Seed of initialisation, shuffling, augmentation and dropout.", DefaultValueFactory = static _ => 1UL };

    public Option<int> Threads { get; } = new("--threads") { Description = "Threads.", DefaultValueFactory = static _ => Math.Min(2, Environment.ProcessorCount) };

    public Option<string?> Isa { get; } = new("--isa") { Description = "avx512, avx2, scalar or auto." };

    public Option<string?> Data { get; } = new("--data") { Description = "CIFAR-10 folder (binary layout); default FUSEDOPT_DATA, else downloaded once to the cache." };

    public Option<string> RecordsPerFile { get; } = new("--records-per-file") { Description = "Records per data file: 10000 (the official layout) or any (small synthetic data sets).", DefaultValueFactory = static _ => "10000", Hidden = true };

    public Option<string[]> Set { get; } = new("--set") { Description = "Optimizer hyperparameters, e.g. --set momentum=0.9.", AllowMultipleArgumentsPerToken = true };

    public void AddTo(Command command)
    {
        foreach (var option in new Option[] { Model, Hidden, Dropout, Epochs, Batch, Subset, Balanced, TestSubset, Schedule, WeightDecay, Decay, Augment, Seed, Threads, Isa, Data, RecordsPerFile, Set })
        {
            command.Options.Add(option);
        }
    }

    /// <summary>The options for <paramref name="optimizer"/>, with <paramref name="lr"/> when given.</summary>
    public TrainOptions Build(ParseResult parse, string optimizer, double? lr, bool naive = false)
    {
        var hyper = BenchStepCommand.ParseAssignments(parse.GetValue(Set) ?? []);
        if (lr is { } rate)
        {
            hyper["lr"] = rate;
        }

        var options = new TrainOptions
        {
            Model = parse.GetValue(Model)!,
            Hidden = ParseWidths(parse.GetValue(Hidden)!),
            Dropout = parse.GetValue(Dropout),
            Optimizer = optimizer,
            Hyperparameters = hyper,
            Epochs = parse.GetValue(Epochs),
            BatchSize = parse.GetValue(Batch),
            Subset = parse.GetValue(Subset),
            BalancedSubset = parse.GetValue(Balanced),
            TestSubset = parse.GetValue(TestSubset),
            Schedule = parse.GetValue(Schedule)!,
            WeightDecay = parse.GetValue(WeightDecay),
            DecayMode = parse.GetValue(Decay)!.ToLowerInvariant() switch
            {
                "l2" => WeightDecayMode.L2,
                "decoupled" => WeightDecayMode.Decoupled,
                var other => throw new ArgumentException($"--decay '{other}': expected l2 or decoupled."),
            },
            Augment = parse.GetValue(Augment),
            Seed = parse.GetValue(Seed),
            Threads = ReplayCommand.CheckThreads(parse.GetValue(Threads)),
            Isa = IsaSupport.Parse(parse.GetValue(Isa), "--isa"),
            StepMode = naive ? StepMode.Naive : StepMode.Fused,
            RecordsPerFile = ParseRecordsPerFile(parse.GetValue(RecordsPerFile)!),
        };
        options.Validate();
        return options;
    }

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

    /// <summary>Parses <c>0.01</c> (every optimizer) or <c>sgd=0.01,adam=1e-4</c> (per optimizer).</summary>
    public static Func<string, double?> ParseLearningRates(string? text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return static _ => null;
        }

        if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double all))
        {
            return _ => all;
        }

        var map = BenchStepCommand.ParseAssignments(text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        return name => map.TryGetValue(name, out double v) ? v : null;
    }
}

using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using FusedOpt.Models.Layers;

namespace FusedOpt.Models.Training;

/// <summary>What a model builder may read: the data's shape and the run's model options.</summary>
/// <param name="InputShape">Per-sample input shape from the dataset, channel-major (CIFAR-10: [3, 32, 32]).</param>
/// <param name="Classes">Class count from the dataset.</param>
/// <param name="Hidden">Hidden widths (the FCN's <c>--hidden</c>).</param>
/// <param name="Width">Width multiplier for models that scale (<c>--width</c>, 1 for the published size).</param>
/// <param name="Dropout">Dropout probability (0 for none).</param>
/// <param name="Seed">The run's seed (dropout masks).</param>
public sealed record ModelOptions(ImmutableArray<int> InputShape, int Classes, IReadOnlyList<int> Hidden, double Width, double Dropout, ulong Seed);

/// <summary>One entry of <see cref="ModelCatalog"/>.</summary>
/// <param name="Name">The <c>--model</c> name.</param>
/// <param name="Summary">One line for help and errors.</param>
/// <param name="ScalesWithWidth">True when <see cref="ModelOptions.Width"/> means something to it (otherwise --width must be 1).</param>
/// <param name="Build">The architecture for the options.</param>
public sealed record ModelEntry(string Name, string Summary, bool ScalesWithWidth, Func<ModelOptions, ModelSpec> Build);

/// <summary>
/// The models <c>--model</c> can name: name → function of <see cref="ModelOptions"/> → <see cref="ModelSpec"/>. The
/// trainer builds whatever spec the entry returns; nothing else in the training loop knows the architecture.
/// </summary>
public static class ModelCatalog
{
    private static readonly ModelEntry[] Entries =
    [
        new("fcn", "fully connected network of seed 001 (--hidden, --dropout)", ScalesWithWidth: false,
            static o => Fcn.Spec(o.InputShape, [.. o.Hidden], o.Classes, dropout: o.Dropout, seed: o.Seed)),

        new("vgg11", "VGG11 with BatchNorm of seed 000 (--width scales every channel count)", ScalesWithWidth: true, static o => Vgg11(o)),
    ];

    private static ModelSpec Vgg11(ModelOptions o)
    {
        if (o.Dropout != 0)
        {
            throw new ArgumentException($"--dropout {o.Dropout}: model vgg11 has no dropout layer (seed 000's VGG11-BN); leave --dropout at 0.");
        }

        if (o.InputShape.Length != 3)
        {
            throw new ArgumentException($"model vgg11 needs images [channels, height, width], got an input shape of rank {o.InputShape.Length}.");
        }

        return Vgg.Spec(o.Width, o.Classes, new ImageShape(o.InputShape[0], o.InputShape[1], o.InputShape[2]));
    }

    /// <summary>Every model, in catalogue order.</summary>
    public static IReadOnlyList<ModelEntry> All => Entries;

    /// <summary>The names, comma-separated, for messages.</summary>
    public static string Names => string.Join(", ", Entries.Select(static e => e.Name));

    /// <summary>The entry named <paramref name="name"/> (case-insensitive).</summary>
    /// <exception cref="ArgumentException">No such model; the message lists the models.</exception>
    public static ModelEntry Get(string name) =>
        Entries.FirstOrDefault(e => string.Equals(e.Name, name, StringComparison.OrdinalIgnoreCase))
        ?? throw new ArgumentException($"--model '{name}' is not available; models: {Names}.");

    /// <summary>The architecture of model <paramref name="name"/> for <paramref name="options"/>.</summary>
    public static ModelSpec Create(string name, ModelOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var entry = Get(name);
        if (!entry.ScalesWithWidth && options.Width != 1)
        {
            throw new ArgumentException($"--width {options.Width}: model {entry.Name} does not scale with a width multiplier; leave --width at 1.");
        }

        return entry.Build(options);
    }
}

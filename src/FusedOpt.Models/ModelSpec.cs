using System;
using System.Collections.Immutable;
using System.Linq;
using System.Numerics;
using FusedOpt.Kernels;
using FusedOpt.Models.Layers;

namespace FusedOpt.Models;

/// <summary>A model's architecture as data: its layers in order. Build it in float32 to train, in float64 to check.</summary>
/// <param name="Layers">The layer descriptions, first to last.</param>
public sealed record ModelSpec(ImmutableArray<LayerSpec> Layers)
{
    /// <summary>Builds the model in precision <typeparamref name="T"/>.</summary>
    /// <param name="threads">Threads for the matrix products (float32).</param>
    /// <param name="isa">Instruction set to force; null picks <c>FUSEDOPT_ISA</c> or the widest supported.</param>
    public Sequential<T> Build<T>(int threads = 1, Isa? isa = null)
        where T : unmanaged, IFloatingPointIeee754<T> => new(this, threads, isa);

    /// <inheritdoc />
    public bool Equals(ModelSpec? other) => other is not null && Layers.SequenceEqual(other.Layers);

    /// <inheritdoc />
    public override int GetHashCode() => Layers.Aggregate(17, static (h, l) => (h * 31) + l.GetHashCode());

    /// <inheritdoc />
    public override string ToString() => string.Join(" → ", Layers.Select(static l => l.ToString()));
}

/// <summary>
/// The fully connected classifier of seed 001 (Fischer): CIFAR-10 images flattened to 3072 features, three hidden
/// layers of 500 ReLU units, 10 class scores. Hidden sizes, activation, dropout and input shape are parameters.
/// </summary>
public static class Fcn
{
    /// <summary>CIFAR-10's per-image shape, channel-major: [3, 32, 32].</summary>
    public static ImmutableArray<int> Cifar10Shape { get; } = [3, 32, 32];

    /// <summary>Seed 001's hidden layers: 3 × 500.</summary>
    public static ImmutableArray<int> SeedHidden { get; } = [500, 500, 500];

    /// <summary>
    /// The architecture: Flatten(inputShape) → [Linear(fcᵢ) → activation → Dropout(p) if p &gt; 0] per hidden size →
    /// Linear(classes). Linear layers are named fc1, fc2, …; weights use He init under ReLU and Xavier under
    /// sigmoid/tanh, the output layer Xavier (seed 003).
    /// </summary>
    /// <param name="inputShape">Per-sample input shape; default [3, 32, 32] (3072 features).</param>
    /// <param name="hidden">Hidden layer widths; default 500, 500, 500.</param>
    /// <param name="classes">Output scores; default 10.</param>
    /// <param name="activation">Hidden activation; default ReLU.</param>
    /// <param name="dropout">Dropout probability after each hidden activation; 0 (default) for none.</param>
    /// <param name="seed">Seed of the dropout masks.</param>
    public static ModelSpec Spec(
        ImmutableArray<int>? inputShape = null, ImmutableArray<int>? hidden = null, int classes = 10,
        ActivationKind activation = ActivationKind.ReLU, double dropout = 0, ulong seed = 0)
    {
        var shape = inputShape ?? Cifar10Shape;
        var widths = hidden ?? SeedHidden;
        if (classes < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(classes), classes, $"fcn: classes must be ≥ 1, got {classes}.");
        }

        if (widths.Any(static w => w < 1))
        {
            throw new ArgumentOutOfRangeException(nameof(hidden), $"fcn: hidden widths must be ≥ 1, got [{string.Join(", ", widths)}].");
        }

        var hiddenInit = activation == ActivationKind.ReLU ? Initialization.InitScheme.HeUniform : Initialization.InitScheme.XavierUniform;
        var layers = ImmutableArray.CreateBuilder<LayerSpec>();
        var flatten = new FlattenSpec(shape);
        layers.Add(flatten);
        int features = flatten.Create<float>().OutputFeatures;
        for (int i = 0; i < widths.Length; i++)
        {
            layers.Add(new LinearSpec($"fc{i + 1}", features, widths[i], hiddenInit));
            layers.Add(new ActivationSpec(activation, widths[i], $"{activation.ToString().ToLowerInvariant()}{i + 1}"));
            if (dropout > 0)
            {
                layers.Add(new DropoutSpec(widths[i], dropout, seed + (ulong)i, $"dropout{i + 1}"));
            }

            features = widths[i];
        }

        layers.Add(new LinearSpec($"fc{widths.Length + 1}", features, classes, Initialization.InitScheme.XavierUniform));
        return new ModelSpec(layers.ToImmutable());
    }

    /// <summary>Builds <see cref="Spec"/> as a float32 model; see there for the parameters.</summary>
    /// <param name="inputShape">Per-sample input shape; default [3, 32, 32].</param>
    /// <param name="hidden">Hidden layer widths; default 500, 500, 500.</param>
    /// <param name="classes">Output scores; default 10.</param>
    /// <param name="activation">Hidden activation; default ReLU.</param>
    /// <param name="dropout">Dropout probability after each hidden activation; 0 for none.</param>
    /// <param name="threads">Threads for the matrix products.</param>
    /// <param name="seed">Seed of the dropout masks.</param>
    public static Sequential<float> Create(
        ImmutableArray<int>? inputShape = null, ImmutableArray<int>? hidden = null, int classes = 10,
        ActivationKind activation = ActivationKind.ReLU, double dropout = 0, int threads = 1, ulong seed = 0) =>
        Spec(inputShape, hidden, classes, activation, dropout, seed).Build<float>(threads);
}

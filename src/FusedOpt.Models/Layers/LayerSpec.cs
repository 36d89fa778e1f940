using System.Collections.Immutable;
using System.Linq;
using System.Numerics;
using FusedOpt.Models.Initialization;

namespace FusedOpt.Models.Layers;

/// <summary>
/// A layer as data: its kind and sizes, from which <see cref="Create{T}"/> builds it in either precision. A model's
/// <see cref="ModelSpec"/> is how a float32 network is rebuilt in float64 for a gradient check, and how a command line
/// describes the network it trains.
/// </summary>
public abstract record LayerSpec
{
    /// <summary>Builds the layer in precision <typeparamref name="T"/>.</summary>
    public abstract Layer<T> Create<T>()
        where T : unmanaged, IFloatingPointIeee754<T>;
}

/// <summary>A fully connected layer y = x·Wᵀ + b with W [outputs, inputs] and b [outputs].</summary>
/// <param name="Name">Prefix of the tensor names (<c>fc1</c> gives <c>fc1.weight</c>, <c>fc1.bias</c>).</param>
/// <param name="Inputs">Input features (fan_in).</param>
/// <param name="Outputs">Output features (fan_out).</param>
/// <param name="Init">How W is drawn; b starts at 0.</param>
public sealed record LinearSpec(string Name, int Inputs, int Outputs, InitScheme Init = InitScheme.HeUniform) : LayerSpec
{
    /// <inheritdoc />
    public override Layer<T> Create<T>() => new Linear<T>(Name, Inputs, Outputs, Init);

    /// <inheritdoc />
    public override string ToString() => $"Linear({Inputs} → {Outputs}, {Init})";
}

/// <summary>Element-wise activations.</summary>
public enum ActivationKind
{
    /// <summary>max(x, 0).</summary>
    ReLU,

    /// <summary>1 / (1 + e⁻ˣ).</summary>
    Sigmoid,

    /// <summary>tanh x.</summary>
    Tanh,
}

/// <summary>An element-wise activation over <paramref name="Features"/> features.</summary>
/// <param name="Kind">Which function.</param>
/// <param name="Features">Features per row (in = out).</param>
/// <param name="Name">Layer name; defaults to the kind in lower case.</param>
public sealed record ActivationSpec(ActivationKind Kind, int Features, string? Name = null) : LayerSpec
{
    /// <inheritdoc />
    public override Layer<T> Create<T>() => Kind switch
    {
        ActivationKind.ReLU => new ReLU<T>(Features, Name ?? "relu"),
        ActivationKind.Sigmoid => new Sigmoid<T>(Features, Name ?? "sigmoid"),
        ActivationKind.Tanh => new Tanh<T>(Features, Name ?? "tanh"),
        _ => throw new System.ArgumentOutOfRangeException(nameof(Kind), Kind, $"Unknown activation {(int)Kind}; expected ReLU, Sigmoid or Tanh."),
    };

    /// <inheritdoc />
    public override string ToString() => $"{Kind}({Features})";
}

/// <summary>Inverted dropout with drop probability <paramref name="P"/>.</summary>
/// <param name="Features">Features per row (in = out).</param>
/// <param name="P">Probability of zeroing a unit in training, in [0, 1).</param>
/// <param name="Seed">Seed of the mask stream.</param>
/// <param name="Name">Layer name.</param>
public sealed record DropoutSpec(int Features, double P, ulong Seed = 0, string Name = "dropout") : LayerSpec
{
    /// <inheritdoc />
    public override Layer<T> Create<T>() => new Dropout<T>(Features, P, Seed, Name);

    /// <inheritdoc />
    public override string ToString() => $"Dropout({Features}, p = {P})";
}

/// <summary>Flattens per-sample tensors of shape <paramref name="InputShape"/> (e.g. [3, 32, 32]) into rows.</summary>
/// <param name="InputShape">The per-sample shape, outermost first.</param>
/// <param name="Name">Layer name.</param>
public sealed record FlattenSpec(ImmutableArray<int> InputShape, string Name = "flatten") : LayerSpec
{
    /// <inheritdoc />
    public override Layer<T> Create<T>() => new Flatten<T>(InputShape, Name);

    /// <inheritdoc />
    public bool Equals(FlattenSpec? other) =>
        other is not null && Name == other.Name && InputShape.SequenceEqual(other.InputShape);

    /// <inheritdoc />
    public override int GetHashCode() => InputShape.Aggregate(Name.GetHashCode(System.StringComparison.Ordinal), static (h, d) => (h * 31) + d);

    /// <inheritdoc />
    public override string ToString() => $"Flatten([{string.Join(", ", InputShape)}])";
}

using System;
using System.Collections.Immutable;
using System.Linq;
using System.Numerics;

namespace FusedOpt.Models.Layers;

/// <summary>
/// Views each sample of shape <see cref="InputShape"/> (e.g. a CIFAR-10 image [3, 32, 32], channel-major) as one
/// row of Π shape features. Row-major storage makes this a copy: y = x and dL/dx = dL/dy.
/// </summary>
/// <typeparam name="T"><see cref="float"/> or <see cref="double"/>.</typeparam>
public sealed class Flatten<T> : Layer<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Creates a flatten over samples of shape <paramref name="inputShape"/>.</summary>
    public Flatten(ImmutableArray<int> inputShape, string name = "flatten")
        : base(name, Product(inputShape), Product(inputShape))
    {
        InputShape = inputShape;
    }

    /// <summary>The per-sample shape, outermost first.</summary>
    public ImmutableArray<int> InputShape { get; }

    /// <inheritdoc />
    public override LayerSpec Spec => new FlattenSpec(InputShape, Name);

    /// <inheritdoc />
    public override void Forward(MatMul<T> matMul, ReadOnlySpan<T> x, Span<T> y, int batch, bool training) =>
        x[..(batch * InputFeatures)].CopyTo(y);

    /// <inheritdoc />
    public override void Backward(MatMul<T> matMul, ReadOnlySpan<T> x, ReadOnlySpan<T> y, ReadOnlySpan<T> dy, Span<T> dx, int batch, bool inputGradient)
    {
        if (inputGradient)
        {
            dy[..(batch * InputFeatures)].CopyTo(dx);
        }
    }

    private static int Product(ImmutableArray<int> shape)
    {
        if (shape.IsDefaultOrEmpty || shape.Any(static d => d < 1))
        {
            throw new ArgumentException($"Flatten: every dimension must be ≥ 1, got [{(shape.IsDefault ? "" : string.Join(", ", shape))}].", nameof(shape));
        }

        return checked(shape.Aggregate(1, static (a, d) => a * d));
    }
}

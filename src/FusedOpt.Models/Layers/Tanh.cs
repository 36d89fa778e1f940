using System;
using System.Numerics;
using System.Numerics.Tensors;

namespace FusedOpt.Models.Layers;

/// <summary>Hyperbolic tangent, element-wise: y = tanh x; dL/dx = dL/dy · (1 − y²).</summary>
/// <typeparam name="T"><see cref="float"/> or <see cref="double"/>.</typeparam>
public sealed class Tanh<T> : OutputActivation<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Creates a tanh over <paramref name="features"/> features.</summary>
    public Tanh(int features, string name = "tanh")
        : base(ActivationKind.Tanh, features, name)
    {
    }

    /// <inheritdoc />
    protected override void Apply(ReadOnlySpan<T> x, Span<T> y) => TensorPrimitives.Tanh(x, y);

    /// <inheritdoc />
    protected override T DerivativeFromOutput(T y) => T.One - (y * y);
}

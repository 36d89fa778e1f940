using System;
using System.Numerics;
using System.Numerics.Tensors;

namespace FusedOpt.Models.Layers;

/// <summary>Logistic sigmoid, element-wise: y = 1 / (1 + e⁻ˣ); dL/dx = dL/dy · y·(1 − y).</summary>
/// <typeparam name="T"><see cref="float"/> or <see cref="double"/>.</typeparam>
public sealed class Sigmoid<T> : OutputActivation<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Creates a sigmoid over <paramref name="features"/> features.</summary>
    public Sigmoid(int features, string name = "sigmoid")
        : base(ActivationKind.Sigmoid, features, name)
    {
    }

    /// <inheritdoc />
    protected override void Apply(ReadOnlySpan<T> x, Span<T> y) => TensorPrimitives.Sigmoid(x, y);

    /// <inheritdoc />
    protected override T DerivativeFromOutput(T y) => y * (T.One - y);
}

using System;
using System.Numerics;
using System.Numerics.Tensors;

namespace FusedOpt.Models.Layers;

/// <summary>Hyperbolic tangent, element-wise: y = tanh x; dL/dx = dL/dy · (1 − y²).</summary>
/// <typeparam name="T"><see cref="float"/> or <see cref="double"/>.</typeparam>
public sealed class Tanh<T> : Layer<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Creates a tanh over <paramref name="features"/> features.</summary>
    public Tanh(int features, string name = "tanh")
        : base(name, features, features)
    {
    }

    /// <inheritdoc />
    public override LayerSpec Spec => new ActivationSpec(ActivationKind.Tanh, InputFeatures, Name);

    /// <inheritdoc />
    public override void Forward(MatMul<T> matMul, ReadOnlySpan<T> x, Span<T> y, int batch, bool training) =>
        TensorPrimitives.Tanh(x[..(batch * InputFeatures)], y);

    /// <inheritdoc />
    public override void Backward(MatMul<T> matMul, ReadOnlySpan<T> x, ReadOnlySpan<T> y, ReadOnlySpan<T> dy, Span<T> dx, int batch, bool inputGradient)
    {
        if (!inputGradient)
        {
            return;
        }

        int n = batch * InputFeatures;
        for (int i = 0; i < n; i++)
        {
            T t = y[i];
            dx[i] = dy[i] * (T.One - (t * t));
        }
    }
}

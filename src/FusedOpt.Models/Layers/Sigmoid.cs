using System;
using System.Numerics;
using System.Numerics.Tensors;

namespace FusedOpt.Models.Layers;

/// <summary>Logistic sigmoid, element-wise: y = 1 / (1 + e⁻ˣ); dL/dx = dL/dy · y·(1 − y).</summary>
/// <typeparam name="T"><see cref="float"/> or <see cref="double"/>.</typeparam>
public sealed class Sigmoid<T> : Layer<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Creates a sigmoid over <paramref name="features"/> features.</summary>
    public Sigmoid(int features, string name = "sigmoid")
        : base(name, features, features)
    {
    }

    /// <inheritdoc />
    public override LayerSpec Spec => new ActivationSpec(ActivationKind.Sigmoid, InputFeatures, Name);

    /// <inheritdoc />
    public override void Forward(MatMul<T> matMul, ReadOnlySpan<T> x, Span<T> y, int batch, bool training) =>
        TensorPrimitives.Sigmoid(x[..(batch * InputFeatures)], y);

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
            T s = y[i];
            dx[i] = dy[i] * s * (T.One - s);
        }
    }
}

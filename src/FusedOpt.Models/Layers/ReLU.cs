using System;
using System.Numerics;
using System.Numerics.Tensors;

namespace FusedOpt.Models.Layers;

/// <summary>Rectified linear unit, element-wise: y = max(x, 0); dL/dx = dL/dy where x &gt; 0, else 0.</summary>
/// <typeparam name="T"><see cref="float"/> or <see cref="double"/>.</typeparam>
public sealed class ReLU<T> : Layer<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Creates a ReLU over <paramref name="features"/> features.</summary>
    public ReLU(int features, string name = "relu")
        : base(name, features, features)
    {
    }

    /// <inheritdoc />
    public override LayerSpec Spec => new ActivationSpec(ActivationKind.ReLU, InputFeatures, Name);

    /// <inheritdoc />
    public override void Forward(MatMul<T> matMul, ReadOnlySpan<T> x, Span<T> y, int batch, bool training) =>
        TensorPrimitives.Max(x[..(batch * InputFeatures)], T.Zero, y);

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
            dx[i] = x[i] > T.Zero ? dy[i] : T.Zero;
        }
    }
}

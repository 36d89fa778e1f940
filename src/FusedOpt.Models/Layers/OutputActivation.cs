using System;
using System.Numerics;

namespace FusedOpt.Models.Layers;

/// <summary>
/// An element-wise activation whose derivative is a function of its output (sigmoid: y(1 − y); tanh: 1 − y²), so the
/// backward pass needs only y: dL/dx = dL/dy · f′(y).
/// </summary>
/// <typeparam name="T"><see cref="float"/> or <see cref="double"/>.</typeparam>
public abstract class OutputActivation<T> : Layer<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly ActivationKind _kind;

    /// <summary>Creates the activation over <paramref name="features"/> features.</summary>
    protected OutputActivation(ActivationKind kind, int features, string name)
        : base(name, features, features) => _kind = kind;

    /// <inheritdoc />
    public override LayerSpec Spec => new ActivationSpec(_kind, InputFeatures, Name);

    /// <summary>y = f(x) over the whole batch.</summary>
    protected abstract void Apply(ReadOnlySpan<T> x, Span<T> y);

    /// <summary>f′ expressed through the output y.</summary>
    protected abstract T DerivativeFromOutput(T y);

    /// <inheritdoc />
    public sealed override void Forward(MatMul<T> matMul, ReadOnlySpan<T> x, Span<T> y, int batch, bool training) =>
        Apply(x[..(batch * InputFeatures)], y);

    /// <inheritdoc />
    public sealed override void Backward(MatMul<T> matMul, ReadOnlySpan<T> x, ReadOnlySpan<T> y, ReadOnlySpan<T> dy, Span<T> dx, int batch, bool inputGradient)
    {
        if (!inputGradient)
        {
            return;
        }

        int n = batch * InputFeatures;
        for (int i = 0; i < n; i++)
        {
            dx[i] = dy[i] * DerivativeFromOutput(y[i]);
        }
    }
}

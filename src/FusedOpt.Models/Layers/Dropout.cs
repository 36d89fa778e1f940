using System;
using System.Numerics;

namespace FusedOpt.Models.Layers;

/// <summary>
/// Inverted dropout (seed 003; Srivastava et al., 2014). In training each unit is kept with probability 1 − p:
/// m ~ Bernoulli(1 − p), y = x·m / (1 − p), dL/dx = dL/dy · m / (1 − p); kept units are scaled up so that
/// E[y] = x and evaluation is the identity, with no rescaling at test time.
/// </summary>
/// <remarks>
/// The mask comes from this layer's own <see cref="Rng"/>: unit i of a forward pass is dropped when the i-th
/// uniform draw u ∈ [0, 1) (24-bit grid) is below p. A seed therefore fixes the sequence of masks, and
/// <see cref="Reseed"/> restarts it (a gradient check reseeds before every forward so that all of them see the same
/// mask). Backward uses the mask of the latest forward; after an evaluation forward it is the identity.
/// </remarks>
/// <typeparam name="T"><see cref="float"/> or <see cref="double"/>.</typeparam>
public sealed class Dropout<T> : Layer<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private Rng _rng;
    private T[] _mask = [];
    private bool _maskActive;

    /// <summary>Creates a dropout layer over <paramref name="features"/> features.</summary>
    /// <param name="features">Features per row.</param>
    /// <param name="p">Drop probability in [0, 1).</param>
    /// <param name="seed">Seed of the mask stream.</param>
    /// <param name="name">Layer name.</param>
    public Dropout(int features, double p, ulong seed = 0, string name = "dropout")
        : base(name, features, features)
    {
        if (!(p >= 0 && p < 1))
        {
            throw new ArgumentOutOfRangeException(nameof(p), p, $"Dropout '{name}': p must be in [0, 1), got {p}.");
        }

        P = p;
        Seed = seed;
        _rng = new Rng(seed);
    }

    /// <summary>The drop probability.</summary>
    public double P { get; }

    /// <summary>The seed given at construction.</summary>
    public ulong Seed { get; }

    /// <inheritdoc />
    public override LayerSpec Spec => new DropoutSpec(InputFeatures, P, Seed, Name);

    /// <inheritdoc />
    public override void Reseed(ulong seed) => _rng = new Rng(seed);

    /// <inheritdoc />
    public override void Forward(MatMul<T> matMul, ReadOnlySpan<T> x, Span<T> y, int batch, bool training)
    {
        int n = batch * InputFeatures;
        _maskActive = training && P > 0;
        if (!_maskActive)
        {
            x[..n].CopyTo(y);
            return;
        }

        if (_mask.Length < n)
        {
            _mask = new T[n];
        }

        T keep = T.CreateTruncating(1 / (1 - P));
        float p = (float)P;
        for (int i = 0; i < n; i++)
        {
            T m = _rng.NextSingle() < p ? T.Zero : keep;
            _mask[i] = m;
            y[i] = x[i] * m;
        }
    }

    /// <inheritdoc />
    public override void Backward(MatMul<T> matMul, ReadOnlySpan<T> x, ReadOnlySpan<T> y, ReadOnlySpan<T> dy, Span<T> dx, int batch, bool inputGradient)
    {
        if (!inputGradient)
        {
            return;
        }

        int n = batch * InputFeatures;
        if (!_maskActive)
        {
            dy[..n].CopyTo(dx);
            return;
        }

        for (int i = 0; i < n; i++)
        {
            dx[i] = dy[i] * _mask[i];
        }
    }
}

using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Numerics;
using System.Numerics.Tensors;
using FusedOpt.Memory;

namespace FusedOpt.Models.Layers;

/// <summary>
/// Batch normalization over the channels of channels-last images, with PyTorch's semantics (<c>nn.BatchNorm2d</c>):
/// in training y = γ·(x − μ)/√(σ² + ε) + β with the batch's mean μ and biased variance σ² per channel (over batch ×
/// H × W), and running statistics updated as r ← (1 − m)·r + m·s with the unbiased variance; in evaluation the
/// running statistics normalize. Optionally a ReLU is fused in (y = max(BN(x), 0)), saving one pass over the data
/// and one activation buffer each way.
/// </summary>
/// <remarks>
/// <para>γ and β are trainable (<c>{name}.weight</c>, <c>{name}.bias</c>); the running statistics are buffers
/// (<c>{name}.running_mean</c>, <c>{name}.running_var</c>, starting at 0 and 1).</para>
/// <para>Backward in training, with x̂ = (x − μ)·r, r = 1/√(σ² + ε), g = dL/dy (masked by y &gt; 0 with the fused ReLU)
/// and N values per channel: dγ += Σ g·x̂, dβ += Σ g, dx = γ·r·(g − Σg/N − x̂·Σ(g·x̂)/N). In evaluation the
/// statistics are constants: dx = γ·r·g.</para>
/// </remarks>
/// <typeparam name="T"><see cref="float"/> or <see cref="double"/>.</typeparam>
public sealed class BatchNorm2d<T> : Layer<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly T[] _runningMean;
    private readonly T[] _runningVar;
    private readonly T[] _mean;
    private readonly T[] _invStd;
    private readonly T[] _sum;
    private readonly T[] _sumSq;
    private readonly T[] _scale;
    private readonly T[] _shift;
    private readonly T[] _row;
    private readonly T[] _offset;
    private readonly T[] _mask;
    private bool _lastTraining;
    private TensorSlot? _gamma;
    private TensorSlot? _beta;
    private ParameterStore<T>? _store;

    /// <summary>Creates a batch normalization over <paramref name="shape"/>'s channels.</summary>
    /// <param name="name">Prefix of the tensor and buffer names.</param>
    /// <param name="shape">Per-sample shape (channels-last in the row).</param>
    /// <param name="momentum">Running-statistics momentum m, in (0, 1]; PyTorch's default 0.1.</param>
    /// <param name="epsilon">ε added to the variance, &gt; 0; PyTorch's default 1e-5.</param>
    /// <param name="relu">Fuse a ReLU after the normalization.</param>
    public BatchNorm2d(string name, ImageShape shape, double momentum = 0.1, double epsilon = 1e-5, bool relu = false)
        : base(name, shape.Validate(name).Size, shape.Size)
    {
        if (!(momentum > 0 && momentum <= 1) || !(epsilon > 0))
        {
            throw new ArgumentOutOfRangeException(nameof(momentum), $"BatchNorm2d '{name}': momentum must be in (0, 1] and epsilon > 0, got {momentum} and {epsilon}.");
        }

        Shape = shape;
        Momentum = momentum;
        Epsilon = epsilon;
        FusedReLU = relu;
        int c = shape.Channels;
        _runningMean = new T[c];
        _runningVar = new T[c];
        _runningVar.AsSpan().Fill(T.One);
        _mean = new T[c];
        _invStd = new T[c];
        _sum = new T[c];
        _sumSq = new T[c];
        _scale = new T[c];
        _shift = new T[c];
        _row = new T[c];
        _offset = new T[c];
        _mask = new T[c];
        Buffers = [new LayerBuffer<T>(name + ".running_mean", _runningMean), new LayerBuffer<T>(name + ".running_var", _runningVar)];
    }

    /// <summary>Per-sample shape.</summary>
    public ImageShape Shape { get; }

    /// <summary>Running-statistics momentum.</summary>
    public double Momentum { get; }

    /// <summary>ε added to the variance.</summary>
    public double Epsilon { get; }

    /// <summary>Whether a ReLU follows the normalization in this layer.</summary>
    public bool FusedReLU { get; }

    /// <inheritdoc />
    public override bool HasParameters => true;

    /// <inheritdoc />
    public override LayerSpec Spec => new BatchNorm2dSpec(Name, Shape, Momentum, Epsilon, FusedReLU);

    /// <inheritdoc />
    public override IReadOnlyList<TensorSlot> Parameters => _gamma is null ? [] : [_gamma, _beta!];

    /// <inheritdoc />
    public override IReadOnlyList<LayerBuffer<T>> Buffers { get; }

    /// <summary>The running mean per channel (updated in place by training-mode forwards).</summary>
    public Span<T> RunningMean => _runningMean;

    /// <summary>The running (unbiased) variance per channel.</summary>
    public Span<T> RunningVar => _runningVar;

    /// <summary>γ [C], once registered.</summary>
    public TensorSlot Gamma => _gamma ?? throw new InvalidOperationException($"Layer '{Name}' is not registered in an arena yet.");

    /// <summary>β [C], once registered.</summary>
    public TensorSlot Beta => _beta ?? throw new InvalidOperationException($"Layer '{Name}' is not registered in an arena yet.");

    /// <inheritdoc />
    public override void Register(ParameterArena arena, Func<string, int> groupOf)
    {
        ArgumentNullException.ThrowIfNull(arena);
        ArgumentNullException.ThrowIfNull(groupOf);
        if (_gamma is not null)
        {
            throw new InvalidOperationException($"Layer '{Name}' is already registered in an arena.");
        }

        string w = Name + ".weight", b = Name + ".bias";
        _gamma = arena.Add(w, [Shape.Channels], groupOf(w));
        _beta = arena.Add(b, [Shape.Channels], groupOf(b));
    }

    /// <inheritdoc />
    public override void Bind(ParameterStore<T> store)
    {
        ArgumentNullException.ThrowIfNull(store);
        _ = Gamma;
        _store = store;
    }

    /// <summary>γ = 1, β = 0, running mean 0 and variance 1 (PyTorch's reset).</summary>
    public override void Initialize(ulong seed)
    {
        var store = Store();
        store.Param(Gamma).Fill(T.One);
        store.Param(Beta).Clear();
        _runningMean.AsSpan().Clear();
        _runningVar.AsSpan().Fill(T.One);
    }

    /// <inheritdoc />
    public override void Forward(MatMul<T> matMul, ReadOnlySpan<T> x, Span<T> y, int batch, bool training)
    {
        var store = Store();
        int c = Shape.Channels, rows = batch * Shape.Pixels;
        Span<T> mean = _mean, invStd = _invStd, sum = _sum, sumSq = _sumSq, row = _row, scale = _scale, shift = _shift;
        T eps = T.CreateTruncating(Epsilon);
        _lastTraining = training;
        if (training)
        {
            if (rows < 2)
            {
                throw new ArgumentException($"BatchNorm2d '{Name}': training needs more than one value per channel, got batch {batch} × {Shape.Height}×{Shape.Width}.", nameof(batch));
            }

            // Two passes (mean, then Σ(x − μ)²) keep the variance accurate when |μ| ≫ σ.
            sum.Clear();
            for (int r = 0; r < rows; r++)
            {
                TensorPrimitives.Add(sum, x.Slice(r * c, c), sum);
            }

            T count = T.CreateTruncating(rows);
            TensorPrimitives.Divide(sum, count, mean);
            sumSq.Clear();
            for (int r = 0; r < rows; r++)
            {
                TensorPrimitives.Subtract(x.Slice(r * c, c), mean, row);
                TensorPrimitives.MultiplyAdd(row, row, sumSq, sumSq);
            }

            T m = T.CreateTruncating(Momentum), keep = T.One - m, unbiased = count / (count - T.One);
            for (int j = 0; j < c; j++)
            {
                T variance = sumSq[j] / count;
                invStd[j] = T.One / T.Sqrt(variance + eps);
                _runningMean[j] = (keep * _runningMean[j]) + (m * mean[j]);
                _runningVar[j] = (keep * _runningVar[j]) + (m * variance * unbiased);
            }
        }
        else
        {
            _runningMean.CopyTo(mean);
            for (int j = 0; j < c; j++)
            {
                invStd[j] = T.One / T.Sqrt(_runningVar[j] + eps);
            }
        }

        // y = x·scale + shift with scale = γ·r, shift = β − μ·scale.
        ReadOnlySpan<T> gamma = store.Param(Gamma), beta = store.Param(Beta);
        for (int j = 0; j < c; j++)
        {
            scale[j] = gamma[j] * invStd[j];
            shift[j] = beta[j] - (mean[j] * scale[j]);
        }

        for (int r = 0; r < rows; r++)
        {
            Span<T> target = y.Slice(r * c, c);
            TensorPrimitives.MultiplyAdd(x.Slice(r * c, c), scale, shift, target);
            if (FusedReLU)
            {
                TensorPrimitives.Max(target, T.Zero, target);
            }
        }
    }

    /// <inheritdoc />
    public override void Backward(MatMul<T> matMul, ReadOnlySpan<T> x, ReadOnlySpan<T> y, ReadOnlySpan<T> dy, Span<T> dx, int batch, bool inputGradient)
    {
        var store = Store();
        int c = Shape.Channels, rows = batch * Shape.Pixels;
        ReadOnlySpan<T> mean = _mean, invStd = _invStd;
        Span<T> sumG = _sum, sumGx = _sumSq, row = _row, a = _scale, b = _shift;
        T[] g = _mask;

        long start = Stopwatch.GetTimestamp();

        // Σg and Σg·(x − μ) per channel.
        sumG.Clear();
        sumGx.Clear();
        for (int r = 0; r < rows; r++)
        {
            ReadOnlySpan<T> grad = Masked(dy.Slice(r * c, c), y.Slice(r * c, c), g);
            TensorPrimitives.Add(sumG, grad, sumG);
            TensorPrimitives.Subtract(x.Slice(r * c, c), mean, row);
            TensorPrimitives.MultiplyAdd(grad, row, sumGx, sumGx);
        }

        Span<T> dGamma = store.Grad(Gamma), dBeta = store.Grad(Beta);
        ReadOnlySpan<T> gamma = store.Param(Gamma);
        T count = T.CreateTruncating(rows);
        for (int j = 0; j < c; j++)
        {
            dGamma[j] += sumGx[j] * invStd[j];
            dBeta[j] += sumG[j];
        }

        Timings.AddBackwardWeights(Stopwatch.GetTimestamp() - start);
        if (!inputGradient)
        {
            return;
        }

        // Training: dx = a·g + b·x + d with a = γr, b = −γr³·Σg(x − μ)/N, d = −γr·Σg/N − b·μ. Evaluation: dx = a·g.
        Span<T> d = _offset;
        for (int j = 0; j < c; j++)
        {
            T gr = gamma[j] * invStd[j];
            a[j] = gr;
            if (_lastTraining)
            {
                b[j] = -gr * invStd[j] * invStd[j] * sumGx[j] / count;
                d[j] = (-gr * sumG[j] / count) - (b[j] * mean[j]);
            }
            else
            {
                b[j] = T.Zero;
                d[j] = T.Zero;
            }
        }

        for (int r = 0; r < rows; r++)
        {
            Span<T> target = dx.Slice(r * c, c);
            ReadOnlySpan<T> grad = Masked(dy.Slice(r * c, c), y.Slice(r * c, c), g);
            TensorPrimitives.MultiplyAdd(x.Slice(r * c, c), b, d, target);
            TensorPrimitives.MultiplyAdd(grad, a, target, target);
        }
    }

    /// <summary>dy, or dy where y &gt; 0 and 0 elsewhere (into <paramref name="buffer"/>) with the fused ReLU.</summary>
    private ReadOnlySpan<T> Masked(ReadOnlySpan<T> dy, ReadOnlySpan<T> y, T[] buffer)
    {
        if (!FusedReLU)
        {
            return dy;
        }

        for (int j = 0; j < dy.Length; j++)
        {
            buffer[j] = y[j] > T.Zero ? dy[j] : T.Zero;
        }

        return buffer;
    }

    private ParameterStore<T> Store() =>
        _store ?? throw new InvalidOperationException($"Layer '{Name}' has no parameter store: register the model, build the arena, then use it (Sequential binds it).");
}

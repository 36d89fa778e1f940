using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Numerics;
using System.Numerics.Tensors;
using FusedOpt.Memory;
using FusedOpt.Threading;

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
public sealed unsafe class BatchNorm2d<T> : Layer<T>, IParallelWork
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
    private readonly T[] _offset;
    private readonly T[] _origin;
    private T[] _partial = [];
    private bool _lastTraining;
    private Phase _phase;
    private int _parts = 1;
    private int _rows;
    private T* _x;
    private T* _y;
    private T* _dy;
    private T* _dx;
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
        _offset = new T[c];
        _origin = new T[c];
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
        Span<T> mean = _mean, invStd = _invStd, scale = _scale, shift = _shift;
        T eps = T.CreateTruncating(Epsilon);
        _lastTraining = training;
        fixed (T* px = x, py = y)
        {
            Begin(px, py, null, null, rows);
            if (training)
            {
                if (rows < 2)
                {
                    throw new ArgumentException($"BatchNorm2d '{Name}': training needs more than one value per channel, got batch {batch} × {Shape.Height}×{Shape.Width}.", nameof(batch));
                }

                // One pass of Σ(x − K) and Σ(x − K)² with K = the first row (close to the mean, so the difference of
                // the two moments does not cancel), in fixed blocks of rows reduced in block order: the result does
                // not depend on the thread count.
                x[..c].CopyTo(_origin);
                Run(Phase.Statistics);
                Reduce(rows, c);
                T count = T.CreateTruncating(rows);
                T m = T.CreateTruncating(Momentum), keep = T.One - m, unbiased = count / (count - T.One);
                for (int j = 0; j < c; j++)
                {
                    T d = _sum[j] / count;
                    T variance = T.Max(T.Zero, (_sumSq[j] / count) - (d * d));
                    mean[j] = _origin[j] + d;
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

            Run(Phase.Normalize);
        }
    }

    /// <inheritdoc />
    public override void Backward(MatMul<T> matMul, ReadOnlySpan<T> x, ReadOnlySpan<T> y, ReadOnlySpan<T> dy, Span<T> dx, int batch, bool inputGradient)
    {
        var store = Store();
        int c = Shape.Channels, rows = batch * Shape.Pixels;
        long start = Stopwatch.GetTimestamp();
        fixed (T* px = x, py = y, pdy = dy, pdx = dx)
        {
            Begin(px, py, pdy, pdx, rows);

            // Σg and Σg·(x − μ) per channel (g = dy, masked by y > 0 with the fused ReLU).
            Run(Phase.GradientStatistics);
            Reduce(rows, c);
            Span<T> sumG = _sum, sumGx = _sumSq, a = _scale, b = _shift, d = _offset;
            ReadOnlySpan<T> mean = _mean, invStd = _invStd;
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
            for (int j = 0; j < c; j++)
            {
                T gr = gamma[j] * invStd[j];
                a[j] = gr;
                b[j] = _lastTraining ? -gr * invStd[j] * invStd[j] * sumGx[j] / count : T.Zero;
                d[j] = _lastTraining ? (-gr * sumG[j] / count) - (b[j] * mean[j]) : T.Zero;
            }

            Run(Phase.InputGradient);
        }
    }

    /// <inheritdoc />
    void IParallelWork.Execute(int part)
    {
        int c = Shape.Channels, rows = _rows;
        if (_phase is Phase.Statistics or Phase.GradientStatistics)
        {
            int blocks = (rows + BlockRows - 1) / BlockRows;
            var (first, end) = LayerParallel.Split(blocks, part, _parts);
            for (int blk = first; blk < end; blk++)
            {
                Span<T> s1 = _partial.AsSpan(2 * blk * c, c), s2 = _partial.AsSpan(((2 * blk) + 1) * c, c);
                s1.Clear();
                s2.Clear();
                int r0 = blk * BlockRows, r1 = Math.Min(rows, r0 + BlockRows);
                for (int r = r0; r < r1; r++)
                {
                    if (_phase == Phase.Statistics)
                    {
                        AccumulateMoments(new ReadOnlySpan<T>(_x + ((long)r * c), c), _origin, s1, s2);
                    }
                    else
                    {
                        AccumulateGradient(new ReadOnlySpan<T>(_dy + ((long)r * c), c), new ReadOnlySpan<T>(_y + ((long)r * c), c), new ReadOnlySpan<T>(_x + ((long)r * c), c), _mean, s1, s2);
                    }
                }
            }

            return;
        }

        var (rowFirst, rowEnd) = LayerParallel.Split(rows, part, _parts);
        for (int r = rowFirst; r < rowEnd; r++)
        {
            var xr = new ReadOnlySpan<T>(_x + ((long)r * c), c);
            if (_phase == Phase.Normalize)
            {
                Normalize(xr, _scale, _shift, new Span<T>(_y + ((long)r * c), c));
            }
            else
            {
                InputGradient(new ReadOnlySpan<T>(_dy + ((long)r * c), c), new ReadOnlySpan<T>(_y + ((long)r * c), c), xr, new Span<T>(_dx + ((long)r * c), c));
            }
        }
    }

    private void Begin(T* x, T* y, T* dy, T* dx, int rows)
    {
        _x = x;
        _y = y;
        _dy = dy;
        _dx = dx;
        _rows = rows;
        _parts = LayerParallel.Parts(Pool);
        int blocks = (rows + BlockRows - 1) / BlockRows;
        if (_partial.Length < 2 * blocks * Shape.Channels)
        {
            _partial = new T[2 * blocks * Shape.Channels];
        }
    }

    private void Run(Phase phase)
    {
        _phase = phase;
        LayerParallel.Run(Pool, this);
    }

    /// <summary>_sum, _sumSq ← Σ over blocks, in block order, of the two partial sums.</summary>
    private void Reduce(int rows, int c)
    {
        int blocks = (rows + BlockRows - 1) / BlockRows;
        Span<T> s1 = _sum, s2 = _sumSq;
        s1.Clear();
        s2.Clear();
        for (int blk = 0; blk < blocks; blk++)
        {
            TensorPrimitives.Add(s1, _partial.AsSpan(2 * blk * c, c), s1);
            TensorPrimitives.Add(s2, _partial.AsSpan(((2 * blk) + 1) * c, c), s2);
        }
    }

    private static void AccumulateMoments(ReadOnlySpan<T> x, ReadOnlySpan<T> origin, Span<T> s1, Span<T> s2)
    {
        int j = 0;
        if (Vector.IsHardwareAccelerated)
        {
            for (; j <= x.Length - Vector<T>.Count; j += Vector<T>.Count)
            {
                var d = new Vector<T>(x[j..]) - new Vector<T>(origin[j..]);
                (new Vector<T>(s1[j..]) + d).CopyTo(s1[j..]);
                ((d * d) + new Vector<T>(s2[j..])).CopyTo(s2[j..]);
            }
        }

        for (; j < x.Length; j++)
        {
            T d = x[j] - origin[j];
            s1[j] += d;
            s2[j] += d * d;
        }
    }

    private void AccumulateGradient(ReadOnlySpan<T> dy, ReadOnlySpan<T> y, ReadOnlySpan<T> x, ReadOnlySpan<T> mean, Span<T> sumG, Span<T> sumGx)
    {
        int j = 0;
        bool relu = FusedReLU;
        if (Vector.IsHardwareAccelerated)
        {
            for (; j <= x.Length - Vector<T>.Count; j += Vector<T>.Count)
            {
                var g = new Vector<T>(dy[j..]);
                if (relu)
                {
                    g = Vector.ConditionalSelect(Vector.GreaterThan(new Vector<T>(y[j..]), Vector<T>.Zero), g, Vector<T>.Zero);
                }

                (new Vector<T>(sumG[j..]) + g).CopyTo(sumG[j..]);
                ((g * (new Vector<T>(x[j..]) - new Vector<T>(mean[j..]))) + new Vector<T>(sumGx[j..])).CopyTo(sumGx[j..]);
            }
        }

        for (; j < x.Length; j++)
        {
            T g = relu && !(y[j] > T.Zero) ? T.Zero : dy[j];
            sumG[j] += g;
            sumGx[j] += g * (x[j] - mean[j]);
        }
    }

    private void Normalize(ReadOnlySpan<T> x, ReadOnlySpan<T> scale, ReadOnlySpan<T> shift, Span<T> y)
    {
        int j = 0;
        bool relu = FusedReLU;
        if (Vector.IsHardwareAccelerated)
        {
            for (; j <= x.Length - Vector<T>.Count; j += Vector<T>.Count)
            {
                var v = (new Vector<T>(x[j..]) * new Vector<T>(scale[j..])) + new Vector<T>(shift[j..]);
                (relu ? Vector.Max(v, Vector<T>.Zero) : v).CopyTo(y[j..]);
            }
        }

        for (; j < x.Length; j++)
        {
            T v = (x[j] * scale[j]) + shift[j];
            y[j] = relu ? T.Max(v, T.Zero) : v;
        }
    }

    private void InputGradient(ReadOnlySpan<T> dy, ReadOnlySpan<T> y, ReadOnlySpan<T> x, Span<T> dx)
    {
        ReadOnlySpan<T> a = _scale, b = _shift, d = _offset;
        int j = 0;
        bool relu = FusedReLU;
        if (Vector.IsHardwareAccelerated)
        {
            for (; j <= x.Length - Vector<T>.Count; j += Vector<T>.Count)
            {
                var g = new Vector<T>(dy[j..]);
                if (relu)
                {
                    g = Vector.ConditionalSelect(Vector.GreaterThan(new Vector<T>(y[j..]), Vector<T>.Zero), g, Vector<T>.Zero);
                }

                var v = (new Vector<T>(x[j..]) * new Vector<T>(b[j..])) + new Vector<T>(d[j..]);
                ((g * new Vector<T>(a[j..])) + v).CopyTo(dx[j..]);
            }
        }

        for (; j < x.Length; j++)
        {
            T g = relu && !(y[j] > T.Zero) ? T.Zero : dy[j];
            dx[j] = (g * a[j]) + ((x[j] * b[j]) + d[j]);
        }
    }

    private ParameterStore<T> Store() =>
        _store ?? throw new InvalidOperationException($"Layer '{Name}' has no parameter store: register the model, build the arena, then use it (Sequential binds it).");

    /// <summary>Rows per partial sum: the reduction order is fixed by these blocks, not by the thread count.</summary>
    private const int BlockRows = 64;

    private enum Phase
    {
        Statistics,
        Normalize,
        GradientStatistics,
        InputGradient,
    }
}

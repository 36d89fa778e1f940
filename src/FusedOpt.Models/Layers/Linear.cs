using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Numerics;
using FusedOpt.Memory;
using FusedOpt.Models.Initialization;
using FusedOpt.Models.Linalg;

namespace FusedOpt.Models.Layers;

/// <summary>
/// A fully connected layer over a batch: Y = X·Wᵀ + b, with X [B, in], W [out, in] (PyTorch's layout), b [out] and
/// Y [B, out]. W and b live in the <see cref="ParameterArena"/> as <c>{name}.weight</c> and <c>{name}.bias</c>.
/// </summary>
/// <remarks>
/// Backward, with G = dL/dY [B, out]:
/// <list type="bullet">
/// <item>dL/dW += Gᵀ·X  ([out, B]·[B, in]: one GEMM, op(A) = T, β = 1 so it accumulates);</item>
/// <item>dL/db += Σ_rows G  (column sums);</item>
/// <item>dL/dX = G·W  ([B, out]·[out, in]: one GEMM, β = 0), skipped for a model's first layer.</item>
/// </list>
/// </remarks>
/// <typeparam name="T"><see cref="float"/> or <see cref="double"/>.</typeparam>
public sealed class Linear<T> : Layer<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private TensorSlot? _weight;
    private TensorSlot? _bias;
    private ParameterStore<T>? _store;

    /// <summary>Creates a layer named <paramref name="name"/> from <paramref name="inputs"/> to <paramref name="outputs"/> features.</summary>
    /// <param name="name">Prefix of the tensor names.</param>
    /// <param name="inputs">Input features (fan_in).</param>
    /// <param name="outputs">Output features (fan_out).</param>
    /// <param name="init">How <see cref="Initialize"/> draws W; b starts at 0.</param>
    public Linear(string name, int inputs, int outputs, InitScheme init = InitScheme.HeUniform)
        : base(name, inputs, outputs)
    {
        Init = init;
        _ = Initializers.Scale(init, inputs, outputs); // validates the scheme now rather than at Initialize
    }

    /// <summary>How W is drawn.</summary>
    public InitScheme Init { get; }

    /// <inheritdoc />
    public override LayerSpec Spec => new LinearSpec(Name, InputFeatures, OutputFeatures, Init);

    /// <summary>The weight tensor [out, in], once registered.</summary>
    public TensorSlot Weight => _weight ?? throw NotRegistered();

    /// <summary>The bias tensor [out], once registered.</summary>
    public TensorSlot Bias => _bias ?? throw NotRegistered();

    /// <inheritdoc />
    public override bool HasParameters => true;

    /// <inheritdoc />
    public override IReadOnlyList<TensorSlot> Parameters => _weight is null ? [] : [_weight, _bias!];

    /// <inheritdoc />
    public override void Register(ParameterArena arena, Func<string, int> groupOf)
    {
        ArgumentNullException.ThrowIfNull(arena);
        ArgumentNullException.ThrowIfNull(groupOf);
        if (_weight is not null)
        {
            throw new InvalidOperationException($"Layer '{Name}' is already registered in an arena.");
        }

        string w = Name + ".weight", b = Name + ".bias";
        _weight = arena.Add(w, [OutputFeatures, InputFeatures], groupOf(w));
        _bias = arena.Add(b, [OutputFeatures], groupOf(b));
    }

    /// <inheritdoc />
    public override void Bind(ParameterStore<T> store)
    {
        ArgumentNullException.ThrowIfNull(store);
        _ = Weight;
        _store = store;
    }

    /// <inheritdoc />
    public override void Initialize(ulong seed)
    {
        var store = Store();
        Initializers.Fill(Init, store.Param(Weight), InputFeatures, OutputFeatures, Rng.Derive(seed, Weight.Name));
        store.Param(Bias).Clear();
    }

    /// <inheritdoc />
    public override void Forward(MatMul<T> matMul, ReadOnlySpan<T> x, Span<T> y, int batch, bool training)
    {
        var store = Store();
        int inputs = InputFeatures, outputs = OutputFeatures;
        ReadOnlySpan<T> bias = store.Param(Bias);

        // Y ← b broadcast over rows, then Y ← X·Wᵀ + 1·Y.
        for (int r = 0; r < batch; r++)
        {
            bias.CopyTo(y.Slice(r * outputs, outputs));
        }

        matMul.Multiply(Transpose.N, Transpose.T, batch, outputs, inputs, T.One, x, inputs, store.Param(Weight), inputs, T.One, y, outputs);
    }

    /// <inheritdoc />
    public override void Backward(MatMul<T> matMul, ReadOnlySpan<T> x, ReadOnlySpan<T> y, ReadOnlySpan<T> dy, Span<T> dx, int batch, bool inputGradient)
    {
        var store = Store();
        int inputs = InputFeatures, outputs = OutputFeatures;
        if (inputGradient)
        {
            // dX [B, in] = dY [B, out] · W [out, in]. First: the two halves are independent, and this order leaves W and
            // the freshly written dW in cache for a step that follows at once (the step inside backward).
            matMul.Multiply(Transpose.N, Transpose.N, batch, inputs, outputs, T.One, dy, outputs, store.Param(Weight), inputs, T.Zero, dx, inputs);
        }

        long start = Stopwatch.GetTimestamp();

        // dW [out, in] += dYᵀ [out, B] · X [B, in]
        matMul.Multiply(Transpose.T, Transpose.N, outputs, inputs, batch, T.One, dy, outputs, x, inputs, T.One, store.Grad(Weight), inputs);

        // db [out] += Σ_r dY[r, :]
        BiasGradient.AddColumnSums(dy, batch, outputs, store.Grad(Bias));

        Timings.AddBackwardWeights(Stopwatch.GetTimestamp() - start);
    }

    private ParameterStore<T> Store() =>
        _store ?? throw new InvalidOperationException($"Layer '{Name}' has no parameter store: register the model, build the arena, then use it (Sequential binds it).");

    private InvalidOperationException NotRegistered() => new($"Layer '{Name}' is not registered in an arena yet.");
}

using System;
using System.Collections.Generic;
using System.Numerics;
using FusedOpt.Memory;
using FusedOpt.Threading;

namespace FusedOpt.Models.Layers;

/// <summary>
/// One stage of a <see cref="Sequential{T}"/> model over a batch of row-major [batch, features] activations.
/// A layer is a pair of functions: <see cref="Forward"/> writes y from x, <see cref="Backward"/> writes dL/dx from
/// dL/dy and adds dL/dθ into its parameters' gradients. The model owns the activation buffers; a layer holds only
/// its parameter slots and, where it needs one, a scratch buffer (the dropout mask).
/// </summary>
/// <typeparam name="T"><see cref="float"/> (training) or <see cref="double"/> (gradient checks).</typeparam>
public abstract class Layer<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Creates a layer mapping <paramref name="inputs"/> features to <paramref name="outputs"/>.</summary>
    protected Layer(string name, int inputs, int outputs)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        Precision.Require<T>();
        if (inputs < 1 || outputs < 1)
        {
            throw new ArgumentOutOfRangeException(inputs < 1 ? nameof(inputs) : nameof(outputs), $"Layer '{name}': feature counts must be ≥ 1, got {inputs} inputs and {outputs} outputs.");
        }

        Name = name;
        InputFeatures = inputs;
        OutputFeatures = outputs;
    }

    /// <summary>The layer's name; its parameters are named <c>{Name}.weight</c>, <c>{Name}.bias</c>.</summary>
    public string Name { get; }

    /// <summary>Features per input row.</summary>
    public int InputFeatures { get; }

    /// <summary>Features per output row.</summary>
    public int OutputFeatures { get; }

    /// <summary>A description from which the same layer can be built in another precision.</summary>
    public abstract LayerSpec Spec { get; }

    /// <summary>
    /// Threads for the layer's own loops (not the GEMM, which has its own): set by <see cref="Sequential{T}"/> for
    /// float32 models with more than one thread; null runs them on the caller.
    /// </summary>
    protected WorkerPool? Pool { get; private set; }

    /// <summary>Gives the layer a pool for its elementwise and reduction loops.</summary>
    internal void Attach(WorkerPool? pool) => Pool = pool;

    /// <summary>Time spent in this layer's passes (recorded by <see cref="Sequential{T}"/>).</summary>
    public LayerTimings Timings { get; } = new();

    /// <summary>Whether the layer registers trainable tensors (known before registration; names must then be unique).</summary>
    public virtual bool HasParameters => false;

    /// <summary>The layer's parameter tensors, once registered (empty for layers without parameters).</summary>
    public virtual IReadOnlyList<TensorSlot> Parameters => [];

    /// <summary>Non-trainable tensors kept between batches (BatchNorm running statistics); empty for most layers.</summary>
    public virtual IReadOnlyList<LayerBuffer<T>> Buffers => [];

    /// <summary>Adds the layer's tensors to <paramref name="arena"/>; <paramref name="groupOf"/> maps a tensor name to its parameter group.</summary>
    public virtual void Register(ParameterArena arena, Func<string, int> groupOf)
    {
    }

    /// <summary>Points the layer at the store holding its parameter values and gradients.</summary>
    public virtual void Bind(ParameterStore<T> store)
    {
    }

    /// <summary>Draws the layer's initial parameters from streams derived from <paramref name="seed"/> and each tensor's name.</summary>
    public virtual void Initialize(ulong seed)
    {
    }

    /// <summary>Re-seeds any randomness used by <see cref="Forward"/> (dropout masks); a no-op for deterministic layers.</summary>
    public virtual void Reseed(ulong seed)
    {
    }

    /// <summary>y = f(x) for <paramref name="batch"/> rows.</summary>
    /// <param name="matMul">The matrix product to use.</param>
    /// <param name="x">Input, [batch, <see cref="InputFeatures"/>].</param>
    /// <param name="y">Output, [batch, <see cref="OutputFeatures"/>], overwritten.</param>
    /// <param name="batch">Rows.</param>
    /// <param name="training">True in training (dropout active), false in evaluation.</param>
    public abstract void Forward(MatMul<T> matMul, ReadOnlySpan<T> x, Span<T> y, int batch, bool training);

    /// <summary>
    /// dL/dx from dL/dy, and dL/dθ added (+=) into the parameter gradients. <paramref name="x"/> and
    /// <paramref name="y"/> are the input and output of the latest <see cref="Forward"/>.
    /// </summary>
    /// <param name="matMul">The matrix product to use.</param>
    /// <param name="x">Input of the forward pass, [batch, <see cref="InputFeatures"/>].</param>
    /// <param name="y">Output of the forward pass, [batch, <see cref="OutputFeatures"/>].</param>
    /// <param name="dy">dL/dy, [batch, <see cref="OutputFeatures"/>].</param>
    /// <param name="dx">dL/dx, [batch, <see cref="InputFeatures"/>], overwritten when <paramref name="inputGradient"/>.</param>
    /// <param name="batch">Rows.</param>
    /// <param name="inputGradient">False for the first layer of a model, whose dL/dx nobody reads: it is then skipped.</param>
    public abstract void Backward(MatMul<T> matMul, ReadOnlySpan<T> x, ReadOnlySpan<T> y, ReadOnlySpan<T> dy, Span<T> dx, int batch, bool inputGradient);

    /// <inheritdoc />
    public override string ToString() => $"{Name}: {Spec}";
}

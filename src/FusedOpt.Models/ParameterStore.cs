using System;
using System.Numerics;
using FusedOpt.Memory;

namespace FusedOpt.Models;

/// <summary>
/// Where a model's parameters and gradients live, tensor by tensor. Layers hold <see cref="TensorSlot"/>s and ask the
/// store for the spans. A float32 model reads and writes the <see cref="ParameterArena"/> itself
/// (<see cref="ArenaParameters"/>), so the optimizer steps exactly what the model computed with; a float64 copy
/// (<see cref="ArrayParameters{T}"/>) lets the same model code run in double precision for gradient checks.
/// </summary>
/// <typeparam name="T"><see cref="float"/> or <see cref="double"/>.</typeparam>
public abstract class ParameterStore<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>The arena whose layout (tensor offsets and lengths) the store follows.</summary>
    public abstract ParameterArena Arena { get; }

    /// <summary>The values of one tensor.</summary>
    public abstract Span<T> Param(TensorSlot tensor);

    /// <summary>The gradient of one tensor; backward passes add into it.</summary>
    public abstract Span<T> Grad(TensorSlot tensor);

    /// <summary>Sets every gradient to zero.</summary>
    public abstract void ZeroGrads();
}

/// <summary>A float32 store that is the arena itself: parameters and gradients are the arena's two buffers.</summary>
public sealed class ArenaParameters : ParameterStore<float>
{
    /// <summary>Wraps a built arena.</summary>
    public ArenaParameters(ParameterArena arena)
    {
        ArgumentNullException.ThrowIfNull(arena);
        if (!arena.IsBuilt)
        {
            throw new InvalidOperationException("Build the arena (arena.Build()) after registering the model and before using its parameters.");
        }

        Arena = arena;
    }

    /// <inheritdoc />
    public override ParameterArena Arena { get; }

    /// <inheritdoc />
    public override Span<float> Param(TensorSlot tensor) => Arena.Param(tensor);

    /// <inheritdoc />
    public override Span<float> Grad(TensorSlot tensor) => Arena.Grad(tensor);

    /// <inheritdoc />
    public override void ZeroGrads() => Arena.ZeroGrads();
}

/// <summary>
/// A managed copy of an arena's layout in <typeparamref name="T"/>: the same offsets, its own values. Used to run a
/// model in float64 next to its float32 arena.
/// </summary>
/// <typeparam name="T"><see cref="float"/> or <see cref="double"/>.</typeparam>
public sealed class ArrayParameters<T> : ParameterStore<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly T[] _params;
    private readonly T[] _grads;

    /// <summary>Allocates zeroed parameters and gradients laid out as <paramref name="arena"/> (which must be built).</summary>
    public ArrayParameters(ParameterArena arena)
    {
        ArgumentNullException.ThrowIfNull(arena);
        if (!arena.IsBuilt)
        {
            throw new InvalidOperationException("Build the arena before creating a store with its layout.");
        }

        Arena = arena;
        _params = new T[arena.Length];
        _grads = new T[arena.Length];
    }

    /// <inheritdoc />
    public override ParameterArena Arena { get; }

    /// <inheritdoc />
    public override Span<T> Param(TensorSlot tensor) => _params.AsSpan(checked((int)Check(tensor).Offset), (int)tensor.Length);

    /// <inheritdoc />
    public override Span<T> Grad(TensorSlot tensor) => _grads.AsSpan(checked((int)Check(tensor).Offset), (int)tensor.Length);

    /// <inheritdoc />
    public override void ZeroGrads() => Array.Clear(_grads);

    /// <summary>Copies every parameter from the arena's float32 buffer (exactly: float → double is exact).</summary>
    public void CopyParamsFrom(ParameterArena arena)
    {
        ArgumentNullException.ThrowIfNull(arena);
        if (arena.Length != Arena.Length)
        {
            throw new ArgumentException($"The arena holds {arena.Length} floats but this store {Arena.Length}; copy between the same layout.", nameof(arena));
        }

        var source = arena.Params.Span;
        for (int i = 0; i < source.Length; i++)
        {
            _params[i] = T.CreateTruncating(source[i]);
        }
    }

    private TensorSlot Check(TensorSlot tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        if (tensor.Index >= Arena.Tensors.Count || !ReferenceEquals(Arena.Tensors[tensor.Index], tensor))
        {
            throw new ArgumentException($"Tensor '{tensor.Name}' does not belong to this store's arena.", nameof(tensor));
        }

        return tensor;
    }
}

using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;

namespace FusedOpt.Memory;

/// <summary>
/// One tensor registered in a <see cref="ParameterArena"/>: a named, shaped view at a fixed offset of the
/// arena's parameter and gradient buffers (and of every optimizer state buffer).
/// </summary>
public sealed class TensorSlot
{
    internal TensorSlot(int index, string name, ImmutableArray<int> shape, int group)
    {
        Index = index;
        Name = name;
        Shape = shape;
        Group = group;
        Length = shape.Aggregate(1L, static (a, d) => a * d);
    }

    /// <summary>Registration order.</summary>
    public int Index { get; }

    /// <summary>Name, e.g. <c>fc1.weight</c>.</summary>
    public string Name { get; }

    /// <summary>Shape, outermost dimension first.</summary>
    public ImmutableArray<int> Shape { get; }

    /// <summary>Number of elements.</summary>
    public long Length { get; }

    /// <summary>Parameter group, whose hyperparameters the optimizer uses for this tensor.</summary>
    public int Group { get; }

    /// <summary>Offset of the first element in the arena's buffers, in floats; a multiple of 16 (64 bytes).</summary>
    public long Offset { get; internal set; } = -1;

    /// <inheritdoc />
    public override string ToString() => $"{Name} [{string.Join("×", Shape)}] group {Group} @ {Offset}";
}

/// <summary>A contiguous range of the arena holding all tensors of one parameter group.</summary>
/// <param name="Index">Group index.</param>
/// <param name="Start">First element, a multiple of 16.</param>
/// <param name="Length">Elements, including the alignment padding between its tensors.</param>
/// <param name="Tensors">The group's tensors in layout order.</param>
public sealed record ArenaGroup(int Index, long Start, long Length, ImmutableArray<TensorSlot> Tensors);

/// <summary>
/// All parameters and gradients of a model in two contiguous, 64-byte aligned float32 buffers.
/// Tensors are registered with <see cref="Add(string, int[])"/>, then <see cref="Build"/> lays them out group by
/// group, each tensor starting on a cache line. An optimizer step then sweeps each group once, whatever the
/// number of tensors (the multi-tensor case), and its state buffers share the same layout.
/// </summary>
public sealed class ParameterArena : IDisposable
{
    /// <summary>Tensors and groups start on multiples of this many floats (64 bytes).</summary>
    public const int ElementAlignment = AlignedBuffer.Alignment / sizeof(float);

    private readonly List<TensorSlot> _tensors = [];
    private readonly Dictionary<string, TensorSlot> _byName = new(StringComparer.Ordinal);
    private AlignedBuffer? _params;
    private AlignedBuffer? _grads;

    /// <summary>Registers a tensor. Only allowed before <see cref="Build"/>.</summary>
    public TensorSlot Add(string name, params int[] shape) => Add(name, shape, group: 0);

    /// <summary>Registers a tensor in a parameter group. Only allowed before <see cref="Build"/>.</summary>
    public TensorSlot Add(string name, ReadOnlySpan<int> shape, int group)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        if (IsBuilt)
        {
            throw new InvalidOperationException($"Cannot add tensor '{name}': the arena is already built.");
        }

        if (_byName.ContainsKey(name))
        {
            throw new ArgumentException($"A tensor named '{name}' is already registered.", nameof(name));
        }

        if (shape.Length == 0)
        {
            throw new ArgumentException($"Tensor '{name}' needs at least one dimension.", nameof(shape));
        }

        foreach (int d in shape)
        {
            if (d < 0)
            {
                throw new ArgumentOutOfRangeException(nameof(shape), $"Tensor '{name}' has a negative dimension {d} in shape [{string.Join(", ", shape.ToArray())}].");
            }
        }

        ArgumentOutOfRangeException.ThrowIfNegative(group);
        var slot = new TensorSlot(_tensors.Count, name, [.. shape], group);
        _tensors.Add(slot);
        _byName.Add(name, slot);
        return slot;
    }

    /// <summary>True once <see cref="Build"/> has allocated the buffers.</summary>
    public bool IsBuilt => _params is not null;

    /// <summary>Total floats in each buffer, alignment padding included.</summary>
    public long Length { get; private set; }

    /// <summary>Number of real parameters (padding excluded).</summary>
    public long ParameterCount => _tensors.Sum(static t => t.Length);

    /// <summary>Registered tensors in registration order.</summary>
    public IReadOnlyList<TensorSlot> Tensors => _tensors;

    /// <summary>Groups in index order; a group with no tensors has length 0.</summary>
    public ImmutableArray<ArenaGroup> Groups { get; private set; } = [];

    /// <summary>The parameter buffer.</summary>
    public AlignedBuffer Params => _params ?? throw NotBuilt();

    /// <summary>The gradient buffer.</summary>
    public AlignedBuffer Grads => _grads ?? throw NotBuilt();

    /// <summary>Finds a tensor by name.</summary>
    public TensorSlot this[string name] =>
        _byName.TryGetValue(name, out var slot) ? slot : throw new KeyNotFoundException($"No tensor named '{name}' in the arena.");

    /// <summary>Lays the tensors out group by group and allocates zeroed buffers.</summary>
    public void Build()
    {
        if (IsBuilt)
        {
            throw new InvalidOperationException("The arena is already built.");
        }

        int groupCount = _tensors.Count == 0 ? 1 : _tensors.Max(static t => t.Group) + 1;
        var groups = ImmutableArray.CreateBuilder<ArenaGroup>(groupCount);
        long offset = 0;
        for (int g = 0; g < groupCount; g++)
        {
            long start = offset;
            var members = _tensors.Where(t => t.Group == g).ToImmutableArray();
            foreach (var t in members)
            {
                t.Offset = offset;
                offset = AlignUp(offset + t.Length);
            }

            groups.Add(new ArenaGroup(g, start, offset - start, members));
        }

        Length = offset;
        Groups = groups.MoveToImmutable();
        _params = new AlignedBuffer(Length);
        _grads = new AlignedBuffer(Length);
    }

    /// <summary>The parameters of one tensor.</summary>
    public Span<float> Param(TensorSlot tensor) => Params.Slice(Check(tensor).Offset, tensor.Length);

    /// <summary>The gradient of one tensor.</summary>
    public Span<float> Grad(TensorSlot tensor) => Grads.Slice(Check(tensor).Offset, tensor.Length);

    /// <summary>Sets every gradient to zero.</summary>
    public void ZeroGrads() => Grads.Span.Clear();

    /// <summary>Rounds up to the next multiple of <see cref="ElementAlignment"/>.</summary>
    public static long AlignUp(long n) => (n + ElementAlignment - 1) / ElementAlignment * ElementAlignment;

    /// <inheritdoc />
    public void Dispose()
    {
        _params?.Dispose();
        _grads?.Dispose();
    }

    private TensorSlot Check(TensorSlot tensor)
    {
        if (!IsBuilt)
        {
            throw NotBuilt();
        }

        if (tensor.Index >= _tensors.Count || !ReferenceEquals(_tensors[tensor.Index], tensor))
        {
            throw new ArgumentException($"Tensor '{tensor.Name}' does not belong to this arena.", nameof(tensor));
        }

        return tensor;
    }

    private static InvalidOperationException NotBuilt() => new("The arena is not built yet: call Build() after adding the tensors.");
}

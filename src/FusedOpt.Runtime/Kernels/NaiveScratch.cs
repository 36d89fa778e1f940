using System.ComponentModel;
using System;
using FusedOpt.Memory;

namespace FusedOpt.Kernels;

/// <summary>
/// The temporaries of the naive multi-pass step, allocated once and reused like a framework's caching
/// allocator, so that the baseline pays one memory pass per tensor operation but no allocation per step.
/// </summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public sealed class NaiveScratch : IDisposable
{
    private readonly AlignedBuffer[] _buffers;

    /// <summary>Creates <paramref name="count"/> temporaries of <paramref name="capacity"/> floats.</summary>
    public NaiveScratch(int count, long capacity)
    {
        Capacity = capacity;
        _buffers = new AlignedBuffer[count];
        for (int i = 0; i < count; i++)
        {
            _buffers[i] = new AlignedBuffer(capacity);
        }
    }

    /// <summary>Floats per temporary.</summary>
    public long Capacity { get; }

    /// <summary>Number of temporaries.</summary>
    public int Count => _buffers.Length;

    /// <summary>Temporary <paramref name="index"/>, <paramref name="length"/> floats long.</summary>
    public Span<float> Temp(int index, nint length)
    {
        if ((uint)index >= (uint)_buffers.Length)
        {
            throw new ArgumentOutOfRangeException(nameof(index), $"The naive step asked for temporary {index} but only {_buffers.Length} were allocated.");
        }

        return _buffers[index].Slice(0, length);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var b in _buffers)
        {
            b.Dispose();
        }
    }
}

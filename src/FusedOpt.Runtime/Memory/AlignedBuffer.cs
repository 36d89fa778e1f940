using System;
using System.Runtime.InteropServices;

namespace FusedOpt.Memory;

/// <summary>
/// A native, 64-byte aligned, zero-initialised float32 buffer. Optimizer kernels read and write it through
/// raw pointers, so it never moves and is never touched by the garbage collector.
/// </summary>
public sealed unsafe class AlignedBuffer : IDisposable
{
    /// <summary>Alignment of every buffer in bytes: one cache line, one Vector512.</summary>
    public const int Alignment = 64;

    private float* _data;

    /// <summary>Allocates <paramref name="length"/> floats, all zero.</summary>
    public AlignedBuffer(long length)
        : this(length, clear: true)
    {
    }

    /// <summary>
    /// Allocates <paramref name="length"/> floats; with <paramref name="clear"/> false the contents are undefined and the
    /// caller must write every element first (so that the threads that will use each page are the first to touch it).
    /// </summary>
    public AlignedBuffer(long length, bool clear)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        if (length > int.MaxValue)
        {
            throw new ArgumentOutOfRangeException(nameof(length), length, $"A buffer holds at most {int.MaxValue} floats, got {length}.");
        }

        Length = length;
        nuint bytes = (nuint)Math.Max(length, 1) * sizeof(float);
        _data = (float*)NativeMemory.AlignedAlloc(bytes, Alignment);
        if (clear)
        {
            NativeMemory.Clear(_data, bytes);
        }
    }

    /// <summary>Number of floats.</summary>
    public long Length { get; }

    /// <summary>Pointer to the first float; 64-byte aligned.</summary>
    public float* Pointer
    {
        get
        {
            ObjectDisposedException.ThrowIf(_data == null, this);
            return _data;
        }
    }

    /// <summary>The whole buffer as a span.</summary>
    public Span<float> Span => new(Pointer, (int)Length);

    /// <summary>A slice of the buffer.</summary>
    public Span<float> Slice(long start, long length)
    {
        if ((ulong)start > (ulong)Length || (ulong)length > (ulong)(Length - start))
        {
            throw new ArgumentOutOfRangeException(nameof(start), $"Slice [{start}, {start + length}) is outside a buffer of {Length} floats.");
        }

        return new Span<float>(Pointer + start, (int)length);
    }

    /// <summary>Sets every element to <paramref name="value"/>.</summary>
    public void Fill(float value) => Span.Fill(value);

    /// <summary>Frees the native memory.</summary>
    public void Dispose()
    {
        if (_data != null)
        {
            NativeMemory.AlignedFree(_data);
            _data = null;
        }

        GC.SuppressFinalize(this);
    }

    /// <summary>Frees the native memory if <see cref="Dispose"/> was not called.</summary>
    ~AlignedBuffer()
    {
        if (_data != null)
        {
            NativeMemory.AlignedFree(_data);
        }
    }
}

using System;
using System.Runtime.InteropServices;
using System.Threading;

namespace FusedOpt.Memory;

/// <summary>
/// A native, 64-byte aligned, zero-initialised float32 buffer. Optimizer kernels read and write it through
/// raw pointers, so it never moves and is never touched by the garbage collector.
/// </summary>
public sealed unsafe class AlignedBuffer : IDisposable
{
    /// <summary>Alignment of every buffer in bytes: one cache line, one Vector512.</summary>
    public const int Alignment = 64;

    /// <summary>Distinct 64-byte offsets within a 4 KiB page: 64 colours, visited with a stride coprime to 64.</summary>
    private const int ColourStride = 5 * Alignment;

    private static int s_colour;

    /// <summary>
    /// False when <c>FUSEDOPT_NO_COLOUR=1</c>: every buffer then starts at the same page offset, to reproduce the
    /// aliasing that colouring avoids (docs/benchmarks.md). Read once per process.
    /// </summary>
    public static bool Colouring { get; } = Environment.GetEnvironmentVariable("FUSEDOPT_NO_COLOUR") != "1";

    private float* _data;
    private void* _allocation;

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

        // Colouring: each buffer starts at a different multiple of 64 bytes within a 4 KiB page. Large allocations
        // otherwise share their low address bits (page-aligned mmaps), and loads from one buffer then falsely depend on
        // stores to another: measured 14× slower scalar steps with two threads when a state and the parameters matched
        // modulo 2 MiB. STREAM pads its arrays for the same reason.
        _data = (float*)AllocateColoured(bytes, out _allocation);
        if (clear)
        {
            NativeMemory.Clear(_data, bytes);
        }
    }

    /// <summary>
    /// Allocates <paramref name="bytes"/> (contents undefined) starting at the next colour (a multiple of 64 bytes within
    /// a 4 KiB page; see the constructor); <paramref name="allocation"/> is what <see cref="NativeMemory.AlignedFree"/>
    /// takes. Every native buffer a step streams through (parameters, gradients, float32 and packed states) is coloured,
    /// so no two of them share their page offset.
    /// </summary>
    internal static byte* AllocateColoured(nuint bytes, out void* allocation)
    {
        nuint colour = Colouring ? (nuint)((Interlocked.Increment(ref s_colour) * ColourStride) % 4096) : 0;
        allocation = NativeMemory.AlignedAlloc(bytes + 4096, Alignment);
        return (byte*)allocation + colour;
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
        if (_allocation != null)
        {
            NativeMemory.AlignedFree(_allocation);
            _allocation = null;
            _data = null;
        }

        GC.SuppressFinalize(this);
    }

    /// <summary>Frees the native memory if <see cref="Dispose"/> was not called.</summary>
    ~AlignedBuffer()
    {
        if (_allocation != null)
        {
            NativeMemory.AlignedFree(_allocation);
        }
    }
}

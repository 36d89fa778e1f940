using System;
using System.Runtime.InteropServices;
using FusedOpt.Kernels;
using FusedOpt.Memory;
using FusedOpt.State;

namespace FusedOpt.Storage;

/// <summary>
/// Where a q8 state's values lie in an arena. A tensor of at least <see cref="MinElements"/> elements is quantized:
/// blocks of <see cref="Q8.BlockSize"/> start at its offset (its last block may be short), so no block straddles two
/// tensors and a tensor's scales never depend on its neighbour — bitsandbytes quantizes per tensor the same way. A
/// smaller tensor (biases, normalisation scales) keeps float32 values, as bitsandbytes' <c>min_8bit_size</c> (4096)
/// does: a small tensor saves little, and a value far below its block's absmax would be stored as 0. Padding between
/// tensors belongs to neither.
/// </summary>
internal sealed class Q8Layout
{
    private readonly long[] _bases;
    private readonly bool[] _plain;

    public Q8Layout(ParameterArena arena, long minElements)
    {
        ArgumentNullException.ThrowIfNull(arena);
        ArgumentOutOfRangeException.ThrowIfNegative(minElements);
        MinElements = minElements;
        _bases = new long[arena.Tensors.Count];
        _plain = new bool[_bases.Length];
        long blocks = 0, plain = 0;
        for (int t = 0; t < _bases.Length; t++)
        {
            long length = arena.Tensors[t].Length;
            _plain[t] = length < minElements;
            _bases[t] = _plain[t] ? plain : blocks;
            if (_plain[t])
            {
                plain += length;
            }
            else
            {
                blocks += Q8.BlockCount(length);
            }
        }

        BlockCount = blocks;
        PlainCount = plain;
    }

    /// <summary>Tensors shorter than this keep float32 values.</summary>
    public long MinElements { get; }

    /// <summary>Blocks (one absmax each) over the quantized tensors.</summary>
    public long BlockCount { get; }

    /// <summary>float32 values of the tensors kept as float32.</summary>
    public long PlainCount { get; }

    /// <summary>True when tensor <paramref name="tensor"/> keeps float32 values.</summary>
    public bool IsPlain(int tensor) => _plain[tensor];

    /// <summary>The first block (a quantized tensor) or the first float32 value (a plain one) of tensor <paramref name="tensor"/>.</summary>
    public long Base(int tensor) => _bases[tensor];
}

/// <summary>
/// One per-element state of an optimizer over an arena, stored compressed: bfloat16 words, or q8 (<see cref="Q8Layout"/>:
/// one code byte per element, one float32 absmax per block, float32 values for small tensors). Elements are indexed
/// like the arena's parameters. The stored form is one byte stream — what state files hold: bf16 the words; q8
/// <c>i64 minElements</c>, the codes, the absmax values, the small tensors' float32 values.
/// </summary>
internal sealed unsafe class PackedState : IDisposable
{
    private const int Q8Header = 8;
    private readonly ParameterArena _arena;
    private readonly Q8Layout? _layout;
    private void* _memory;
    private void* _allocation;

    /// <summary>
    /// A state of <paramref name="format"/> over <paramref name="arena"/>, zero-filled. <paramref name="keepPositive"/>
    /// (q8 with the unsigned map only): every store codes a positive value as at least code 1 (<see cref="Q8"/>'s remarks,
    /// <see cref="OptimizerOptions.Q8KeepPositive"/>).
    /// </summary>
    public PackedState(ParameterArena arena, StateFormat format, Q8Layout? layout, bool keepPositive = false)
    {
        ArgumentNullException.ThrowIfNull(arena);
        if (keepPositive && format != StateFormat.Q8Unsigned)
        {
            throw new ArgumentException($"Keeping positive values nonzero applies to q8 states with the unsigned map; this state is {StateFormats.Name(format)}.", nameof(keepPositive));
        }

        _arena = arena;
        Format = format;
        KeepPositive = keepPositive;
        Length = arena.Length;
        (ElementBytes, Map) = format switch
        {
            StateFormat.Bf16 => (2 * Length, (DynamicMap?)null),
            StateFormat.Q8Signed => (Length, DynamicMap.Signed),
            StateFormat.Q8Unsigned => (Length, DynamicMap.Unsigned),
            _ => throw new ArgumentOutOfRangeException(nameof(format), format, "A packed state is bf16 or q8."),
        };
        _layout = Map is null ? null : layout ?? throw new ArgumentNullException(nameof(layout), "A q8 state needs its layout.");
        BlockCount = _layout?.BlockCount ?? 0;
        PlainCount = _layout?.PlainCount ?? 0;
        long absMaxOffset = (ElementBytes + 63) & ~63L;
        long plainOffset = (absMaxOffset + (4 * BlockCount) + 63) & ~63L;
        nuint allocated = (nuint)Math.Max(64, plainOffset + (4 * PlainCount));
        _memory = AlignedBuffer.AllocateColoured(allocated, out _allocation);
        NativeMemory.Clear(_memory, allocated);
        AbsMax = (float*)((byte*)_memory + absMaxOffset);
        Plain = (float*)((byte*)_memory + plainOffset);
    }

    /// <summary>The stored form (what a state file records).</summary>
    public StateFormat Format { get; }

    /// <summary>True when a positive value is never stored as code 0 (q8, unsigned map; <see cref="OptimizerOptions.Q8KeepPositive"/>).</summary>
    public bool KeepPositive { get; }

    /// <summary>The code map of a q8 state; null for bf16.</summary>
    public DynamicMap? Map { get; }

    /// <summary>Elements (the arena's length).</summary>
    public long Length { get; }

    /// <summary>Bytes of the element array (2 per bf16 word, 1 per q8 code).</summary>
    public long ElementBytes { get; }

    /// <summary>q8 blocks (absmax values); 0 for bf16.</summary>
    public long BlockCount { get; }

    /// <summary>q8: float32 values of the tensors too small to quantize; 0 for bf16.</summary>
    public long PlainCount { get; }

    /// <summary>Bytes of the stored form.</summary>
    public long ByteCount => Map is null ? ElementBytes : Q8Header + ElementBytes + (4 * BlockCount) + (4 * PlainCount);

    /// <summary>The element array (bf16 words or q8 codes).</summary>
    public byte* Elements => (byte*)(_memory != null ? _memory : throw new ObjectDisposedException(nameof(PackedState)));

    /// <summary>The absmax values (q8).</summary>
    public float* AbsMax { get; }

    /// <summary>The float32 values of small tensors (q8).</summary>
    public float* Plain { get; }

    /// <summary>
    /// destination[0, count) ← the float32 values of elements [start, start + count). For q8 the range lies in tensor
    /// <paramref name="tensor"/> and starts on one of its blocks; bf16 ignores <paramref name="tensor"/>.
    /// </summary>
    public void Decode(long start, long count, int tensor, float* destination, Isa isa)
    {
        int n = checked((int)count);
        var into = new Span<float>(destination, n);
        if (Map is null)
        {
            Bf16.Widen(new ReadOnlySpan<ushort>((ushort*)Elements + start, n), into, isa);
        }
        else if (_layout!.IsPlain(tensor))
        {
            new ReadOnlySpan<float>(Plain + PlainIndex(start, tensor), n).CopyTo(into);
        }
        else
        {
            Q8.Dequantize(new ReadOnlySpan<byte>(Elements + start, n), new ReadOnlySpan<float>(AbsMax + Block(start, tensor), (int)Q8.BlockCount(count)), into, Map, isa);
        }
    }

    /// <summary>
    /// Elements [start, start + count) ← source[0, count), rounded to nearest even (bf16) or requantized block by block
    /// (q8, same range rules as <see cref="Decode"/>; with <see cref="KeepPositive"/> no positive value is coded 0). With
    /// <paramref name="stochastic"/> a bf16 store rounds stochastically with the bits of (key, step, element index).
    /// </summary>
    public void Encode(float* source, long start, long count, int tensor, Isa isa, in StochasticRounding stochastic = default)
    {
        int n = checked((int)count);
        var from = new ReadOnlySpan<float>(source, n);
        if (Map is null)
        {
            var into = new Span<ushort>((ushort*)Elements + start, n);
            if (stochastic.Enabled)
            {
                Bf16.NarrowStochastic(from, into, stochastic.Key, stochastic.Step, start, isa);
            }
            else
            {
                Bf16.Narrow(from, into, isa);
            }
        }
        else if (_layout!.IsPlain(tensor))
        {
            from.CopyTo(new Span<float>(Plain + PlainIndex(start, tensor), n));
        }
        else
        {
            Q8.Quantize(from, new Span<byte>(Elements + start, n), new Span<float>(AbsMax + Block(start, tensor), (int)Q8.BlockCount(count)), Map, isa, KeepPositive);
        }
    }

    private long Block(long start, int tensor) => _layout!.Base(tensor) + ((start - _arena.Tensors[tensor].Offset) / Q8.BlockSize);

    private long PlainIndex(long start, int tensor) => _layout!.Base(tensor) + (start - _arena.Tensors[tensor].Offset);

    /// <summary>Decodes the whole state into <paramref name="destination"/> (the arena's length; q8 padding reads 0).</summary>
    public void DecodeAll(Span<float> destination)
    {
        if (destination.Length < Length)
        {
            throw new ArgumentException($"The destination holds {destination.Length} values; the state has {Length}.", nameof(destination));
        }

        fixed (float* d = destination)
        {
            if (Map is null)
            {
                Decode(0, Length, -1, d, Isa.Scalar);
                return;
            }

            destination[..(int)Length].Clear();
            foreach (var t in _arena.Tensors)
            {
                Decode(t.Offset, t.Length, t.Index, d + t.Offset, Isa.Scalar);
            }
        }
    }

    /// <summary>Encodes the whole state from <paramref name="source"/> (the arena's length).</summary>
    public void EncodeAll(ReadOnlySpan<float> source)
    {
        if (source.Length < Length)
        {
            throw new ArgumentException($"The source holds {source.Length} values; the state has {Length}.", nameof(source));
        }

        fixed (float* s = source)
        {
            if (Map is null)
            {
                Encode(s, 0, Length, -1, Isa.Scalar);
                return;
            }

            foreach (var t in _arena.Tensors)
            {
                Encode(s + t.Offset, t.Offset, t.Length, t.Index, Isa.Scalar);
            }
        }
    }

    /// <summary>The stored form's regions in order: (pointer, bytes).</summary>
    private (nint Pointer, long Bytes)[] StoredRegions()
    {
        if (Map is null)
        {
            return [((nint)Elements, ElementBytes)];
        }

        return [(0, Q8Header), ((nint)Elements, ElementBytes), ((nint)AbsMax, 4 * BlockCount), ((nint)Plain, 4 * PlainCount)];
    }

    /// <summary>
    /// The memory one step reads and writes: bf16 the words; q8 the codes of each quantized tensor, the absmax values
    /// and the small tensors' float32 values (not the unused code bytes of small tensors or padding).
    /// </summary>
    public (nint Pointer, long Bytes)[] MemoryRegions()
    {
        if (Map is null)
        {
            return [((nint)Elements, ElementBytes)];
        }

        var regions = new System.Collections.Generic.List<(nint, long)>();
        foreach (var t in _arena.Tensors)
        {
            if (!_layout!.IsPlain(t.Index) && t.Length > 0)
            {
                regions.Add(((nint)(Elements + t.Offset), t.Length));
            }
        }

        regions.Add(((nint)AbsMax, 4 * BlockCount));
        regions.Add(((nint)Plain, 4 * PlainCount));
        return [.. regions.FindAll(static r => r.Item2 > 0)];
    }

    /// <summary>Copies bytes [byteOffset, byteOffset + destination.Length) of the stored form out.</summary>
    public void ReadStored(long byteOffset, Span<byte> destination)
    {
        if (byteOffset < 0 || byteOffset + destination.Length > ByteCount)
        {
            throw new ArgumentOutOfRangeException(nameof(byteOffset), byteOffset, $"Bytes [{byteOffset}, {byteOffset + destination.Length}) are outside a stored state of {ByteCount} bytes.");
        }

        Span<byte> header = stackalloc byte[Q8Header];
        System.Buffers.Binary.BinaryPrimitives.WriteInt64LittleEndian(header, _layout?.MinElements ?? 0);
        long regionStart = 0;
        int written = 0;
        foreach (var (pointer, bytes) in StoredRegions())
        {
            long from = Math.Max(byteOffset + written, regionStart), to = Math.Min(byteOffset + destination.Length, regionStart + bytes);
            if (from < to)
            {
                // Offsets stay long: a region (a bf16 state of more than 2³⁰ elements) may exceed 2 GB.
                var source = pointer == 0
                    ? header.Slice((int)(from - regionStart), (int)(to - from))
                    : new ReadOnlySpan<byte>((byte*)pointer + (from - regionStart), (int)(to - from));
                source.CopyTo(destination[written..]);
                written += (int)(to - from);
            }

            regionStart += bytes;
        }
    }

    /// <summary>
    /// Replaces the whole stored form with <paramref name="bytes"/>; false (nothing changed) when they are laid out for
    /// another q8 threshold, which the caller converts through float32 instead.
    /// </summary>
    public bool TryWriteStored(ReadOnlySpan<byte> bytes)
    {
        if (Map is not null && (bytes.Length < Q8Header || System.Buffers.Binary.BinaryPrimitives.ReadInt64LittleEndian(bytes) != _layout!.MinElements))
        {
            return false;
        }

        if (bytes.Length != ByteCount)
        {
            throw new ArgumentException($"A {StateFormats.Name(Format)} state of {Length} elements is {ByteCount} bytes, not {bytes.Length}.", nameof(bytes));
        }

        // The stored form is one span (a state file's body: under 2 GB), so its regions are too.
        int at = 0;
        foreach (var (pointer, count) in StoredRegions())
        {
            if (pointer != 0)
            {
                bytes.Slice(at, checked((int)count)).CopyTo(new Span<byte>((byte*)pointer, (int)count));
            }

            at += (int)count;
        }

        return true;
    }

    public void Dispose()
    {
        if (_memory != null)
        {
            NativeMemory.AlignedFree(_allocation);
            _allocation = null;
            _memory = null;
        }
    }
}

/// <summary>What a stochastic bf16 store needs: whether it is on, the state's key and the step.</summary>
internal readonly record struct StochasticRounding(bool Enabled, StochasticKey Key, long Step);

/// <summary>The stored forms of a state, their names and sizes, and conversions between them through float32.</summary>
internal static class StateFormats
{
    public static string Name(StateFormat format) => format switch
    {
        StateFormat.None => "absent",
        StateFormat.Float32 => "fp32",
        StateFormat.Bf16 => "bf16",
        StateFormat.Q8Signed => "q8 (signed map)",
        StateFormat.Q8Unsigned => "q8 (unsigned map)",
        _ => $"unknown format {(byte)format}",
    };

    /// <summary>The stored form of a state kept as <paramref name="storage"/>.</summary>
    public static StateFormat Of(StateStorage storage, bool nonNegative) => storage switch
    {
        StateStorage.Fp32 => StateFormat.Float32,
        StateStorage.Bf16 => StateFormat.Bf16,
        _ => nonNegative ? StateFormat.Q8Unsigned : StateFormat.Q8Signed,
    };

    /// <summary>
    /// Bytes of a stored state of <paramref name="format"/> over <paramref name="arena"/>; a q8 state's size depends on
    /// its threshold, the first 8 of <paramref name="stored"/> (which must hold them).
    /// </summary>
    public static long ByteCount(StateFormat format, ParameterArena arena, ReadOnlySpan<byte> stored = default) => format switch
    {
        StateFormat.None => 0,
        StateFormat.Float32 => checked(arena.Length * sizeof(float)),
        StateFormat.Bf16 => checked(arena.Length * 2),
        StateFormat.Q8Signed or StateFormat.Q8Unsigned => Q8ByteCount(arena, stored),
        _ => throw new ArgumentOutOfRangeException(nameof(format), format, $"Unknown state format {(byte)format}."),
    };

    private static long Q8ByteCount(ParameterArena arena, ReadOnlySpan<byte> stored)
    {
        if (stored.Length < 8)
        {
            throw new ArgumentException("A q8 state starts with its 8-byte threshold.", nameof(stored));
        }

        long min = System.Buffers.Binary.BinaryPrimitives.ReadInt64LittleEndian(stored);
        if (min < 0)
        {
            throw new ArgumentException($"A q8 state's threshold is {min}; expected ≥ 0.", nameof(stored));
        }

        var layout = new Q8Layout(arena, min);
        return checked(8 + arena.Length + (4 * layout.BlockCount) + (4 * layout.PlainCount));
    }

    /// <summary>
    /// The bytes of a stored state of <paramref name="format"/> as float32 values (arena length): the bytes themselves
    /// for fp32, else the decoded values.
    /// </summary>
    public static ReadOnlySpan<byte> AsFloat32(StateFormat format, ReadOnlySpan<byte> bytes, ParameterArena arena) =>
        format == StateFormat.Float32 ? bytes : MemoryMarshal.AsBytes(ToFloat32(format, bytes, arena).AsSpan());

    /// <summary>The float32 values (arena length) of a stored state of <paramref name="format"/>.</summary>
    public static float[] ToFloat32(StateFormat format, ReadOnlySpan<byte> bytes, ParameterArena arena)
    {
        var values = new float[arena.Length];
        if (format == StateFormat.Float32)
        {
            MemoryMarshal.Cast<byte, float>(bytes).CopyTo(values);
            return values;
        }

        var layout = format == StateFormat.Bf16 ? null : new Q8Layout(arena, System.Buffers.Binary.BinaryPrimitives.ReadInt64LittleEndian(bytes));
        using var packed = new PackedState(arena, format, layout);
        packed.TryWriteStored(bytes);
        packed.DecodeAll(values);
        return values;
    }
}

using System;
using System.Runtime.InteropServices;
using FusedOpt.Kernels;
using FusedOpt.Memory;
using FusedOpt.State;

namespace FusedOpt.Storage;

/// <summary>
/// Where q8 blocks lie in an arena: blocks of <see cref="Q8.BlockSize"/> elements start at each tensor's offset (a
/// tensor's last block may be short), so no block straddles two tensors and a tensor's scales never depend on its
/// neighbour — bitsandbytes quantizes per tensor the same way. Padding between tensors belongs to no block.
/// </summary>
internal sealed class ArenaBlockLayout
{
    private readonly long[] _bases;

    public ArenaBlockLayout(ParameterArena arena)
    {
        ArgumentNullException.ThrowIfNull(arena);
        _bases = new long[arena.Tensors.Count];
        long total = 0;
        for (int t = 0; t < _bases.Length; t++)
        {
            _bases[t] = total;
            total += Q8.BlockCount(arena.Tensors[t].Length);
        }

        BlockCount = total;
    }

    /// <summary>Blocks (one absmax each) over every tensor.</summary>
    public long BlockCount { get; }

    /// <summary>The index of tensor <paramref name="tensor"/>'s first block.</summary>
    public long BlockBase(int tensor) => _bases[tensor];
}

/// <summary>
/// One per-element state of an optimizer over an arena, stored compressed: bfloat16 words or q8 codes plus one float32
/// absmax per block (<see cref="ArenaBlockLayout"/>). Elements are indexed like the arena's parameters. The stored form
/// is one byte stream (elements, then the absmax values) — what state files hold.
/// </summary>
internal sealed unsafe class PackedState : IDisposable
{
    private readonly ParameterArena _arena;
    private readonly ArenaBlockLayout? _blocks;
    private void* _memory;

    public PackedState(ParameterArena arena, StateFormat format, ArenaBlockLayout? blocks)
    {
        ArgumentNullException.ThrowIfNull(arena);
        _arena = arena;
        Format = format;
        Length = arena.Length;
        (ElementBytes, Map) = format switch
        {
            StateFormat.Bf16 => (2 * Length, (DynamicMap?)null),
            StateFormat.Q8Signed => (Length, DynamicMap.Signed),
            StateFormat.Q8Unsigned => (Length, DynamicMap.Unsigned),
            _ => throw new ArgumentOutOfRangeException(nameof(format), format, "A packed state is bf16 or q8."),
        };
        _blocks = Map is null ? null : blocks ?? new ArenaBlockLayout(arena);
        BlockCount = _blocks?.BlockCount ?? 0;
        long absMaxOffset = (ElementBytes + 63) & ~63L;
        nuint allocated = (nuint)Math.Max(64, absMaxOffset + (4 * BlockCount));
        _memory = NativeMemory.AlignedAlloc(allocated, 64);
        NativeMemory.Clear(_memory, allocated);
        AbsMax = (float*)((byte*)_memory + absMaxOffset);
    }

    /// <summary>The stored form (what a state file records).</summary>
    public StateFormat Format { get; }

    /// <summary>The code map of a q8 state; null for bf16.</summary>
    public DynamicMap? Map { get; }

    /// <summary>Elements (the arena's length).</summary>
    public long Length { get; }

    /// <summary>Bytes of the element array (2 per bf16 word, 1 per q8 code).</summary>
    public long ElementBytes { get; }

    /// <summary>q8 blocks (absmax values); 0 for bf16.</summary>
    public long BlockCount { get; }

    /// <summary>Bytes of the stored form: elements, then absmax values.</summary>
    public long ByteCount => ElementBytes + (4 * BlockCount);

    /// <summary>The element array (bf16 words or q8 codes).</summary>
    public byte* Elements => (byte*)(_memory != null ? _memory : throw new ObjectDisposedException(nameof(PackedState)));

    /// <summary>The absmax values (q8).</summary>
    public float* AbsMax { get; }

    /// <summary>The first block of tensor <paramref name="tensor"/> (q8).</summary>
    public long BlockBase(int tensor) => _blocks!.BlockBase(tensor);

    /// <summary>
    /// destination[0, count) ← the float32 values of elements [start, start + count). For q8 the range starts on a block
    /// boundary of its tensor (block <paramref name="block"/>) and ends on one or at the tensor's end.
    /// </summary>
    public void Decode(long start, long count, long block, float* destination, Isa isa)
    {
        int n = checked((int)count);
        var into = new Span<float>(destination, n);
        if (Map is null)
        {
            Bf16.Widen(new ReadOnlySpan<ushort>((ushort*)Elements + start, n), into, isa);
        }
        else
        {
            Q8.Dequantize(new ReadOnlySpan<byte>(Elements + start, n), new ReadOnlySpan<float>(AbsMax + block, (int)Q8.BlockCount(count)), into, Map, isa);
        }
    }

    /// <summary>
    /// Elements [start, start + count) ← source[0, count), rounded to nearest even (bf16) or requantized block by block
    /// (q8, same range rules as <see cref="Decode"/>). With <paramref name="stochastic"/> a bf16 store rounds
    /// stochastically with the bits of (key, step, element index).
    /// </summary>
    public void Encode(float* source, long start, long count, long block, Isa isa, in StochasticRounding stochastic = default)
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
        else
        {
            Q8.Quantize(from, new Span<byte>(Elements + start, n), new Span<float>(AbsMax + block, (int)Q8.BlockCount(count)), Map, isa);
        }
    }

    /// <summary>Decodes the whole state into <paramref name="destination"/> (the arena's length; padding reads 0).</summary>
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
                Decode(0, Length, 0, d, Isa.Scalar);
                return;
            }

            destination[..(int)Length].Clear();
            foreach (var t in _arena.Tensors)
            {
                Decode(t.Offset, t.Length, BlockBase(t.Index), d + t.Offset, Isa.Scalar);
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
                Encode(s, 0, Length, 0, Isa.Scalar);
                return;
            }

            foreach (var t in _arena.Tensors)
            {
                Encode(s + t.Offset, t.Offset, t.Length, BlockBase(t.Index), Isa.Scalar);
            }
        }
    }

    /// <summary>Copies bytes [byteOffset, byteOffset + destination.Length) of the stored form out.</summary>
    public void ReadStored(long byteOffset, Span<byte> destination)
    {
        CheckRange(byteOffset, destination.Length);
        int head = (int)Math.Clamp(ElementBytes - byteOffset, 0, destination.Length);
        new ReadOnlySpan<byte>(Elements + byteOffset, head).CopyTo(destination);
        if (head < destination.Length)
        {
            long at = Math.Max(0, byteOffset - ElementBytes);
            new ReadOnlySpan<byte>((byte*)AbsMax + at, destination.Length - head).CopyTo(destination[head..]);
        }
    }

    /// <summary>Replaces the whole stored form with <paramref name="bytes"/> (<see cref="ByteCount"/> of them).</summary>
    public void WriteStored(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length != ByteCount)
        {
            throw new ArgumentException($"A {StateFormats.Name(Format)} state of {Length} elements is {ByteCount} bytes, not {bytes.Length}.", nameof(bytes));
        }

        bytes[..(int)ElementBytes].CopyTo(new Span<byte>(Elements, (int)ElementBytes));
        bytes[(int)ElementBytes..].CopyTo(new Span<byte>(AbsMax, (int)(4 * BlockCount)));
    }

    public void Dispose()
    {
        if (_memory != null)
        {
            NativeMemory.AlignedFree(_memory);
            _memory = null;
        }
    }

    private void CheckRange(long byteOffset, int count)
    {
        if (byteOffset < 0 || byteOffset + count > ByteCount)
        {
            throw new ArgumentOutOfRangeException(nameof(byteOffset), byteOffset, $"Bytes [{byteOffset}, {byteOffset + count}) are outside a stored state of {ByteCount} bytes.");
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

    /// <summary>Bytes of a state of <paramref name="format"/> over <paramref name="arena"/>.</summary>
    public static long ByteCount(StateFormat format, ParameterArena arena) => format switch
    {
        StateFormat.None => 0,
        StateFormat.Float32 => checked(arena.Length * sizeof(float)),
        StateFormat.Bf16 => checked(arena.Length * 2),
        StateFormat.Q8Signed or StateFormat.Q8Unsigned => checked(arena.Length + (4 * new ArenaBlockLayout(arena).BlockCount)),
        _ => throw new ArgumentOutOfRangeException(nameof(format), format, $"Unknown state format {(byte)format}."),
    };

    /// <summary>The float32 values (arena length) of a stored state of <paramref name="format"/>.</summary>
    public static float[] ToFloat32(StateFormat format, ReadOnlySpan<byte> bytes, ParameterArena arena)
    {
        var values = new float[arena.Length];
        if (format == StateFormat.Float32)
        {
            MemoryMarshal.Cast<byte, float>(bytes).CopyTo(values);
            return values;
        }

        using var packed = new PackedState(arena, format, null);
        packed.WriteStored(bytes);
        packed.DecodeAll(values);
        return values;
    }
}

using System;
using System.Runtime.InteropServices;
using FusedOpt.Memory;

namespace FusedOpt.Storage;

/// <summary>
/// One optimizer state of <see cref="Length"/> elements held as <see cref="Storage"/>: for fp32 the floats, for bf16
/// the 16-bit words, for q8 the codes followed by one float32 absmax per block. Native, 64-byte aligned, zeroed (the
/// zero state in every storage: 0.0f, bf16 +0, q8 the zero code with absmax 0).
/// </summary>
public sealed unsafe class StateBuffer : IDisposable
{
    private void* _memory;
    private void* _allocation;

    /// <summary>Allocates a zeroed state of <paramref name="length"/> elements stored as <paramref name="storage"/>.</summary>
    public StateBuffer(long length, StateStorage storage, DynamicMap? map = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        Length = length;
        Storage = storage;
        Map = storage == StateStorage.Q8 ? map ?? throw new ArgumentException("A q8 state needs its code map (DynamicMap.Signed or DynamicMap.Unsigned).", nameof(map)) : null;
        long codeBytes = storage switch
        {
            StateStorage.Fp32 => 4 * length,
            StateStorage.Bf16 => 2 * length,
            _ => length,
        };
        ElementByteCount = codeBytes;
        AbsMaxOffset = (codeBytes + 63) & ~63L;
        ByteCount = StateStorages.ByteCount(storage, length);
        long allocated = AbsMaxOffset + (storage == StateStorage.Q8 ? 4 * Q8.BlockCount(length) : 0);
        _memory = AlignedBuffer.AllocateColoured((nuint)Math.Max(64, allocated), out _allocation);
        NativeMemory.Clear(_memory, (nuint)Math.Max(64, allocated));
        if (Map is { IsSigned: true })
        {
            new Span<byte>(_memory, (int)length).Fill(Map.ZeroCode);
        }
    }

    /// <summary>Elements.</summary>
    public long Length { get; }

    /// <summary>How the elements are stored.</summary>
    public StateStorage Storage { get; }

    /// <summary>The code map of a q8 state; null otherwise.</summary>
    public DynamicMap? Map { get; }

    /// <summary>Bytes the state occupies (<see cref="StateStorages.ByteCount"/>; alignment padding not counted).</summary>
    public long ByteCount { get; }

    /// <summary>Bytes of the elements alone (the floats, words or codes; not the absmax values).</summary>
    public long ElementByteCount { get; }

    /// <summary>The elements' bytes as stored (floats, bf16 words or q8 codes), for checks and serialisation.</summary>
    public Span<byte> ElementBytes => new(Data, checked((int)ElementByteCount));

    /// <summary>Byte offset of the absmax array (q8) from <see cref="Data"/>.</summary>
    private long AbsMaxOffset { get; }

    /// <summary>The stored elements: float, ushort (bf16) or byte (q8 codes).</summary>
    public byte* Data => (byte*)(_memory != null ? _memory : throw new ObjectDisposedException(nameof(StateBuffer)));

    /// <summary>The per-block absmax values of a q8 state (one per <see cref="Q8.BlockSize"/> elements).</summary>
    public float* AbsMax => (float*)(Data + AbsMaxOffset);

    /// <summary>The codes of a q8 state.</summary>
    public Span<byte> Codes => new(Data, checked((int)Length));

    /// <summary>The absmax values of a q8 state.</summary>
    public Span<float> AbsMaxValues => new(AbsMax, checked((int)Q8.BlockCount(Length)));

    /// <summary>The words of a bf16 state.</summary>
    public Span<ushort> Words => new(Data, checked((int)Length));

    /// <summary>The floats of an fp32 state.</summary>
    public Span<float> Floats => new(Data, checked((int)Length));

    /// <summary>Writes the state's values, widened to float32, into <paramref name="destination"/>.</summary>
    public void CopyTo(Span<float> destination)
    {
        switch (Storage)
        {
            case StateStorage.Fp32: Floats.CopyTo(destination); break;
            case StateStorage.Bf16: Bf16.Widen(Words, destination[..(int)Length]); break;
            default: Q8.Dequantize(Codes, AbsMaxValues, destination[..(int)Length], Map!); break;
        }
    }

    /// <summary>Stores <paramref name="source"/> (float32) in the state's form (bf16 rounded to nearest even).</summary>
    public void CopyFrom(ReadOnlySpan<float> source)
    {
        switch (Storage)
        {
            case StateStorage.Fp32: source.CopyTo(Floats); break;
            case StateStorage.Bf16: Bf16.Narrow(source, Words); break;
            default: Q8.Quantize(source, Codes, AbsMaxValues, Map!); break;
        }
    }

    /// <inheritdoc />
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

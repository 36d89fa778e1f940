using System;
using System.Collections.Generic;
using FusedOpt.Memory;

namespace FusedOpt.State;

/// <summary>How a per-element state is stored, as a state file sees it.</summary>
internal enum StateFormat : byte
{
    /// <summary>Not allocated (the hyperparameters never use it).</summary>
    None = 0,

    /// <summary>One float32 per parameter, little-endian, with the arena's layout.</summary>
    Float32 = 1,

    /// <summary>One bfloat16 (the top half of a float32) per parameter (format version 2).</summary>
    Bf16 = 2,

    /// <summary>
    /// q8 with bitsandbytes' signed dynamic map: the threshold, one code byte per parameter, one float32 absmax per block
    /// of 256 elements of each large tensor, float32 values of small tensors (<c>Q8Layout</c>) (format version 2).
    /// </summary>
    Q8Signed = 3,

    /// <summary>q8 with the unsigned map (a non-negative state), laid out as <see cref="Q8Signed"/> (format version 2).</summary>
    Q8Unsigned = 4,
}

/// <summary>
/// What <see cref="StateFile"/> needs from an optimizer, CPU or device, and nothing more: the declaration and the arena's
/// layout, per-group hyperparameters, step counts and per-step states, and the parameters and per-element states as
/// bytes with their storage kind. Reads are chunked so that a device can copy a chunk at a time; a compressed storage
/// (bf16, q8) is another <see cref="StateFormat"/> with its own byte count.
/// </summary>
internal interface IOptimizerStateStore
{
    /// <summary>The declaration every group uses.</summary>
    OptimizerDescriptor Descriptor { get; }

    /// <summary>The arena: its length and tensor table are the file's layout.</summary>
    ParameterArena Arena { get; }

    /// <summary>Number of parameter groups.</summary>
    int GroupCount { get; }

    /// <summary>The steps group <paramref name="group"/> has taken.</summary>
    long GetStepCount(int group);

    /// <summary>The per-step states of a group.</summary>
    ReadOnlySpan<double> GetStepStates(int group);

    /// <summary>The hyperparameter values of a group in declaration order (bools as 0/1).</summary>
    ReadOnlySpan<double> GetHyperparameterValues(int group);

    /// <summary>How state <paramref name="index"/> is stored now (<see cref="StateFormat.None"/> when not allocated).</summary>
    StateFormat GetStateFormat(int index);

    /// <summary>Copies bytes [<paramref name="byteOffset"/>, + destination length) of the parameters (float32) into <paramref name="destination"/>.</summary>
    void ReadParameters(long byteOffset, Span<byte> destination);

    /// <summary>Copies bytes of state <paramref name="index"/>, in its current storage, into <paramref name="destination"/>.</summary>
    void ReadState(int index, long byteOffset, Span<byte> destination);

    /// <summary>
    /// Bytes of state <paramref name="index"/>'s stored form (its <see cref="GetStateFormat"/>): by default one float32
    /// per arena element, what a store that keeps float32 states (the device executors) holds.
    /// </summary>
    long GetStateByteCount(int index) => GetStateFormat(index) == StateFormat.None ? 0 : Arena.Length * sizeof(float);

    /// <summary>Replaces rules, step counts and per-step states (already validated); states the rules need are allocated.</summary>
    void Restore(IReadOnlyList<IOptimizerRule> rules, ReadOnlySpan<long> steps, IReadOnlyList<double[]> stepStates);

    /// <summary>Replaces every parameter with <paramref name="bytes"/> (float32, the arena's length).</summary>
    void WriteParameters(ReadOnlySpan<byte> bytes);

    /// <summary>Replaces state <paramref name="index"/> (allocating it if needed) with <paramref name="bytes"/> stored as <paramref name="storage"/>.</summary>
    void WriteState(int index, StateFormat storage, ReadOnlySpan<byte> bytes);

    /// <summary>Refills state <paramref name="index"/>, when allocated, with its declared initial value under the current rules.</summary>
    void ResetState(int index);
}

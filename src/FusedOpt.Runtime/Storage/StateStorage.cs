using System;

namespace FusedOpt.Storage;

/// <summary>
/// How an optimizer's per-element states (Adam's m and v, …) are held in memory. Parameters and gradients are always
/// float32; only the states change form, and a kernel widens them to float32 on load and narrows them on store.
/// </summary>
public enum StateStorage
{
    /// <summary>float32, 4 bytes per element: the states as the update rule declares them.</summary>
    Fp32 = 0,

    /// <summary>bfloat16 (the top half of a float32), 2 bytes per element; see <see cref="Bf16"/>.</summary>
    Bf16 = 1,

    /// <summary>
    /// Blockwise dynamic 8-bit (bitsandbytes): one byte per element plus one float32 absmax per block of
    /// <see cref="Q8.BlockSize"/>; see <see cref="Q8"/>.
    /// </summary>
    Q8 = 2,
}

/// <summary>Names, parsing (<c>--state fp32|bf16|q8</c>) and byte accounting of <see cref="StateStorage"/>.</summary>
public static class StateStorages
{
    /// <summary>The accepted names, in the order error messages list them.</summary>
    public const string Accepted = "fp32, bf16 or q8";

    /// <summary>
    /// Parses <c>fp32</c>, <c>bf16</c> or <c>q8</c> (case-insensitive, surrounding spaces ignored). Anything else is an
    /// <see cref="ArgumentException"/> naming <paramref name="source"/> (an option or variable), the value and the
    /// accepted names: <c>--state: 'fp16' is not a state storage; expected fp32, bf16 or q8.</c>
    /// </summary>
    public static StateStorage Parse(string? text, string source = "--state") =>
        TryParse(text, out var storage)
            ? storage
            : throw new ArgumentException($"{source}: '{text}' is not a state storage; expected {Accepted}.");

    /// <summary>Parses like <see cref="Parse"/>, returning false instead of throwing.</summary>
    public static bool TryParse(string? text, out StateStorage storage)
    {
        switch (text?.Trim().ToLowerInvariant())
        {
            case "fp32" or "float32": storage = StateStorage.Fp32; return true;
            case "bf16" or "bfloat16": storage = StateStorage.Bf16; return true;
            case "q8": storage = StateStorage.Q8; return true;
            default: storage = StateStorage.Fp32; return false;
        }
    }

    /// <summary>The name <see cref="Parse"/> accepts: <c>fp32</c>, <c>bf16</c> or <c>q8</c>.</summary>
    public static string Name(StateStorage storage) => storage switch
    {
        StateStorage.Fp32 => "fp32",
        StateStorage.Bf16 => "bf16",
        StateStorage.Q8 => "q8",
        _ => throw new ArgumentOutOfRangeException(nameof(storage), storage, $"Unknown state storage {(int)storage}; expected {Accepted}."),
    };

    /// <summary>
    /// Bytes that hold <paramref name="elements"/> elements of one state: fp32 4·n, bf16 2·n, q8 n + 4·⌈n / 256⌉ (the codes
    /// and one float32 absmax per block, the last block possibly short).
    /// </summary>
    public static long ByteCount(StateStorage storage, long elements)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(elements);
        return storage switch
        {
            StateStorage.Fp32 => 4 * elements,
            StateStorage.Bf16 => 2 * elements,
            StateStorage.Q8 => elements + (4 * Q8.BlockCount(elements)),
            _ => throw new ArgumentOutOfRangeException(nameof(storage), storage, $"Unknown state storage {(int)storage}; expected {Accepted}."),
        };
    }

    /// <summary>Bytes per element of one state in the limit of many blocks: 4, 2 and 1 + 4/256 = 1.015625.</summary>
    public static double BytesPerElement(StateStorage storage) => storage switch
    {
        StateStorage.Fp32 => 4,
        StateStorage.Bf16 => 2,
        StateStorage.Q8 => 1 + (4.0 / Q8.BlockSize),
        _ => throw new ArgumentOutOfRangeException(nameof(storage), storage, $"Unknown state storage {(int)storage}; expected {Accepted}."),
    };

    /// <summary>
    /// Bytes an Adam step moves per parameter with its two states (m, v) stored as <paramref name="storage"/>: the
    /// parameter read and written (8), the gradient read (4), and each state read and written. fp32: 28, bf16: 20,
    /// q8: 16.0625 (the absmax of each block read and written too).
    /// </summary>
    public static double AdamBytesPerParameter(StateStorage storage) => 12 + (2 * 2 * BytesPerElement(storage));
}

using System.ComponentModel;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using FusedOpt.Storage;

namespace FusedOpt.Kernels;

/// <summary>
/// How a generated CPU kernel loads and stores its per-element states: a type argument of the fused loops, like the
/// switches, so the element loop has no branch on it and the JIT inlines the conversion into the loop. The state's
/// reference in the frame is a <c>ref float</c> to its first element whatever the storage; an implementation
/// reinterprets it (bf16: the words). Parameters and gradients are always float32.
/// </summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public interface IStateAccess
{
    /// <summary>16 states from element <paramref name="i"/>, as float32.</summary>
    static abstract Vector512<float> Load512(ref float state, nint i);

    /// <summary>Stores 16 states at element <paramref name="i"/>.</summary>
    static abstract void Store512(Vector512<float> value, ref float state, nint i);

    /// <summary>8 states from element <paramref name="i"/>, as float32.</summary>
    static abstract Vector256<float> Load256(ref float state, nint i);

    /// <summary>Stores 8 states at element <paramref name="i"/>.</summary>
    static abstract void Store256(Vector256<float> value, ref float state, nint i);

    /// <summary>The state at element <paramref name="i"/>, as float32.</summary>
    static abstract float Load(ref float state, nint i);

    /// <summary>Stores the state at element <paramref name="i"/>.</summary>
    static abstract void Store(float value, ref float state, nint i);
}

/// <summary>The switch bit (above every rule switch) that selects <see cref="Bf16States"/> in a generated kernel's dispatch.</summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public static class StateAccessFlags
{
    /// <summary>States are bfloat16 words, rounded to nearest even on store.</summary>
    public const int Bf16 = 1 << 30;
}

/// <summary>float32 states: plain loads and stores (the declared storage).</summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public readonly struct Fp32States : IStateAccess
{
    /// <inheritdoc />
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Load512(ref float state, nint i) => Vector512.LoadUnsafe(ref state, (nuint)i);

    /// <inheritdoc />
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store512(Vector512<float> value, ref float state, nint i) => value.StoreUnsafe(ref state, (nuint)i);

    /// <inheritdoc />
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Load256(ref float state, nint i) => Vector256.LoadUnsafe(ref state, (nuint)i);

    /// <inheritdoc />
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store256(Vector256<float> value, ref float state, nint i) => value.StoreUnsafe(ref state, (nuint)i);

    /// <inheritdoc />
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Load(ref float state, nint i) => Unsafe.Add(ref state, i);

    /// <inheritdoc />
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(float value, ref float state, nint i) => Unsafe.Add(ref state, i) = value;
}

/// <summary>bfloat16 states: widened on load, rounded to nearest even on store (<see cref="Bf16"/>), in registers.</summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public readonly struct Bf16States : IStateAccess
{
    /// <inheritdoc />
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Load512(ref float state, nint i) => Bf16.Load512(ref Word(ref state, i));

    /// <inheritdoc />
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store512(Vector512<float> value, ref float state, nint i) => Bf16.Store512(value, ref Word(ref state, i));

    /// <inheritdoc />
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Load256(ref float state, nint i) => Bf16.Load256(ref Word(ref state, i));

    /// <inheritdoc />
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store256(Vector256<float> value, ref float state, nint i) => Bf16.Store256(value, ref Word(ref state, i));

    /// <inheritdoc />
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Load(ref float state, nint i) => Bf16.ToFloat(Word(ref state, i));

    /// <inheritdoc />
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(float value, ref float state, nint i) => Word(ref state, i) = Bf16.FromFloat(value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ref ushort Word(ref float state, nint i) => ref Unsafe.Add(ref Unsafe.As<float, ushort>(ref state), i);
}

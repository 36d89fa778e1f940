using System.ComponentModel;
using System.Runtime.CompilerServices;

namespace FusedOpt.Kernels;

/// <summary>Pointers to the per-element state buffers of a rule (at most <see cref="Capacity"/>).</summary>
[InlineArray(Capacity)]
[EditorBrowsable(EditorBrowsableState.Never)]
public struct StatePointers
{
    /// <summary>Most per-element states a rule may declare.</summary>
    public const int Capacity = 8;

    private nint _element;
}

/// <summary>
/// What a generated kernel needs for one step: the parameter, gradient and state buffers (all with the arena's
/// layout, indexed by element), the step-invariant scalars computed by <c>Prepare</c>, and the gradient scale
/// (loss-scale unscaling times the clipping coefficient; applied when the <c>GradScale</c> switch is on).
/// Kernels reach the buffers as <c>ref float</c>, so generated code needs no <c>unsafe</c> context.
/// </summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public unsafe struct StepFrame
{
    /// <summary>Parameters.</summary>
    public float* PPtr;

    /// <summary>Gradients.</summary>
    public float* GPtr;

    /// <summary>Step-invariant scalars, in the order the generated <c>Prepare</c> writes them.</summary>
    public float* ScalarsPtr;

    /// <summary>Multiplier applied to every gradient as it is read.</summary>
    public float GradScale;

    /// <summary>Per-element state buffers in declaration order; unused entries are 0.</summary>
    public StatePointers States;

    /// <summary>The first parameter.</summary>
    public readonly ref float P => ref Unsafe.AsRef<float>(PPtr);

    /// <summary>The first gradient.</summary>
    public readonly ref float G => ref Unsafe.AsRef<float>(GPtr);

    /// <summary>The first element of state <paramref name="index"/> (a null reference when it is not allocated).</summary>
    public readonly ref float State(int index) => ref Unsafe.AsRef<float>((void*)States[index]);

    /// <summary>True when state <paramref name="index"/> is allocated.</summary>
    public readonly bool HasState(int index) => States[index] != 0;

    /// <summary>Step-invariant scalar <paramref name="index"/>.</summary>
    public readonly float Scalar(int index) => ScalarsPtr[index];
}

/// <summary>Marks the Vector512 instantiation of a generated kernel.</summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public readonly struct Width512;

/// <summary>Marks the Vector256 instantiation of a generated kernel.</summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public readonly struct Width256;

/// <summary>Marks the scalar instantiation of a generated kernel.</summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public readonly struct WidthScalar;

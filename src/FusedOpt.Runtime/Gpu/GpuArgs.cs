using System.ComponentModel;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System;
using ILGPU;

namespace FusedOpt.Gpu;

/// <summary>
/// The arguments of every generated GPU kernel: up to 32 step-invariant scalars (S0 … S31, in the order the rule's
/// <c>Prepare</c> writes them), the gradient scale, the switch bits and the first element of the launch.
/// A blittable struct, passed by value at each launch: no device upload, no host round trip.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
[EditorBrowsable(EditorBrowsableState.Never)]
public struct GpuArgs
{
    /// <summary>Scalars a kernel can receive.</summary>
    public const int Capacity = 32;

#pragma warning disable CS1591 // S0 … S31: scalar slots, documented above.
    public float S0, S1, S2, S3, S4, S5, S6, S7, S8, S9, S10, S11, S12, S13, S14, S15;
    public float S16, S17, S18, S19, S20, S21, S22, S23, S24, S25, S26, S27, S28, S29, S30, S31;
#pragma warning restore CS1591

    /// <summary>Multiplier applied to every gradient when switch bit 0 is set.</summary>
    public float GradScale;

    /// <summary>Switch bits: bit 0 is the gradient scale, bit i + 1 the rule's switch i.</summary>
    public int Flags;

    /// <summary>Index of the element thread 0 updates.</summary>
    public long Offset;

    /// <summary>Copies scalars into S0 ….</summary>
    public void SetScalars(ReadOnlySpan<float> scalars)
    {
        if (scalars.Length > Capacity)
        {
            throw new ArgumentException($"A GPU kernel takes at most {Capacity} step scalars, got {scalars.Length}.", nameof(scalars));
        }

        scalars.CopyTo(MemoryMarshal.CreateSpan(ref S0, Capacity));
    }
}

/// <summary>The signature every generated GPU kernel has: p, g, eight state views (unused ones are a dummy view), arguments.</summary>
public delegate void GpuKernelMethod(
    Index1D index,
    ArrayView<float> parameters,
    ArrayView<float> gradients,
    ArrayView<float> state0,
    ArrayView<float> state1,
    ArrayView<float> state2,
    ArrayView<float> state3,
    ArrayView<float> state4,
    ArrayView<float> state5,
    ArrayView<float> state6,
    ArrayView<float> state7,
    GpuArgs args);

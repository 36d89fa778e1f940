using System;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace FusedOpt.Kernels;

/// <summary>The instruction-set paths a generated kernel is compiled for.</summary>
public enum Isa
{
    /// <summary>Plain float code, one element at a time: the fallback and the tail of every vector loop.</summary>
    Scalar = 0,

    /// <summary>Vector256&lt;float&gt;: 8 lanes (AVX2).</summary>
    Avx2 = 1,

    /// <summary>Vector512&lt;float&gt;: 16 lanes (AVX-512F).</summary>
    Avx512 = 2,
}

/// <summary>Which <see cref="Isa"/> this machine supports, and the choice forced by <c>FUSEDOPT_ISA</c>.</summary>
public static class IsaSupport
{
    /// <summary>The environment variable that forces a path: <c>avx512</c>, <c>avx2</c> or <c>scalar</c>.</summary>
    public const string EnvironmentVariable = "FUSEDOPT_ISA";

    /// <summary>The widest path the hardware and the JIT accelerate.</summary>
    public static Isa Best { get; } =
        Vector512.IsHardwareAccelerated && Avx512F.IsSupported ? Isa.Avx512
        : Vector256.IsHardwareAccelerated && Avx2.IsSupported ? Isa.Avx2
        : Isa.Scalar;

    /// <summary>True when the machine can run <paramref name="isa"/>.</summary>
    public static bool IsSupported(Isa isa) => isa <= Best;

    /// <summary>Number of floats per vector of the path.</summary>
    public static int Width(Isa isa) => isa switch
    {
        Isa.Avx512 => 16,
        Isa.Avx2 => 8,
        _ => 1,
    };

    /// <summary>Parses <c>avx512</c>, <c>avx2</c>, <c>scalar</c> (case-insensitive) or <c>auto</c> (null).</summary>
    public static Isa? Parse(string? text, string source)
    {
        switch (text?.Trim().ToLowerInvariant())
        {
            case null or "" or "auto": return null;
            case "avx512" or "vector512": return Isa.Avx512;
            case "avx2" or "vector256": return Isa.Avx2;
            case "scalar": return Isa.Scalar;
            default:
                throw new ArgumentException($"{source}: '{text}' is not an instruction set; expected avx512, avx2, scalar or auto.");
        }
    }

    /// <summary>
    /// The path to run: <paramref name="requested"/> if given, else <c>FUSEDOPT_ISA</c> if set, else <see cref="Best"/>.
    /// Asking for a path this machine cannot run is an error.
    /// </summary>
    public static Isa Resolve(Isa? requested = null)
    {
        Isa isa = requested ?? Parse(Environment.GetEnvironmentVariable(EnvironmentVariable), EnvironmentVariable) ?? Best;
        if (!IsSupported(isa))
        {
            throw new PlatformNotSupportedException($"The {Name(isa)} path was requested but this machine supports at most {Name(Best)}.");
        }

        return isa;
    }

    /// <summary>Display name: <c>avx512</c>, <c>avx2</c> or <c>scalar</c>.</summary>
    public static string Name(Isa isa) => isa switch
    {
        Isa.Avx512 => "avx512",
        Isa.Avx2 => "avx2",
        _ => "scalar",
    };
}

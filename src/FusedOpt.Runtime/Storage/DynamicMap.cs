using System;
using System.Collections.Generic;

namespace FusedOpt.Storage;

/// <summary>
/// The 256-entry code maps of bitsandbytes' dynamic ("dynamic tree") 8-bit quantization: a signed map for states of
/// either sign (Adam's m) and an unsigned one for non-negative states (Adam's v), each sorted ascending, with 0 and 1.0
/// among the codes. A code stands for code × absmax of its block (<see cref="Q8"/>).
/// </summary>
/// <remarks>
/// <para>Built exactly as bitsandbytes builds them: <c>create_dynamic_map(signed, max_exponent_bits=7, total_bits=8)</c> in
/// <c>bitsandbytes/functional.py</c> (Dettmers et al., "8-bit Optimizers via Block-wise Quantization", ICLR 2022; the
/// dynamic type after Dettmers, "8-Bit Approximations for Parallelism in Deep Learning", ICLR 2016). In Python:</para>
/// <code>
/// data = []
/// non_sign_bits = total_bits - 1                                   # 7, for both maps
/// additional_items = 2 ** (non_sign_bits - max_exponent_bits) - 1 # 0 with the defaults
/// for i in range(max_exponent_bits):                               # i = 0 … 6, decade 10^(i-6)
///     fraction_items = 2 ** (i + non_sign_bits - max_exponent_bits) + 1 if signed \
///                 else 2 ** (i + non_sign_bits - max_exponent_bits + 1) + 1
///     boundaries = torch.linspace(0.1, 1, fraction_items)          # float32
///     means = (boundaries[:-1] + boundaries[1:]) / 2.0             # float32
///     data += (10 ** (-(max_exponent_bits - 1) + i) * means).tolist()
///     if signed:
///         data += (-10 ** (-(max_exponent_bits - 1) + i) * means).tolist()
/// (additional_items: none with the defaults)
/// data.append(0); data.append(1.0)
/// data += [0] * (256 - len(data))                                  # no padding with the defaults
/// data.sort()
/// </code>
/// <para>So decade i holds 2^i (signed) or 2^(i+1) (unsigned) midpoints of an even split of [0.1, 1], scaled by 10^(i−6):
/// signed 1+2+…+64 = 127 positive codes, their negatives, 0 and 1.0 (the map is not symmetric: its most negative code is
/// −0.99296875, rounded to float32); unsigned 2+4+…+128 = 254 codes, 0 and 1.0. Every step is float32, as in PyTorch (see
/// <see cref="Linspace"/> for the last bit of <c>torch.linspace</c>); the scale 10^(i−6) is a Python float that PyTorch
/// rounds to float32 before multiplying.</para>
/// </remarks>
public sealed class DynamicMap
{
    /// <summary>Codes in a map.</summary>
    public const int Size = 256;

    private static readonly double[] Decades = [1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1];

    private DynamicMap(bool signed, float[] codes)
    {
        IsSigned = signed;
        Codes = codes;
        var bounds = new float[Size];
        bounds[0] = float.NegativeInfinity;
        for (int k = 1; k < Size; k++)
        {
            bounds[k] = (codes[k - 1] + codes[k]) * 0.5f;
        }

        Bounds = bounds;
        ZeroCode = (byte)Array.IndexOf(codes, 0f);
    }

    /// <summary>The signed map (states of either sign, such as Adam's m).</summary>
    public static DynamicMap Signed { get; } = new(true, Create(signed: true));

    /// <summary>The unsigned map (non-negative states, such as Adam's v).</summary>
    public static DynamicMap Unsigned { get; } = new(false, Create(signed: false));

    /// <summary>True for the signed map.</summary>
    public bool IsSigned { get; }

    /// <summary>The 256 code values, ascending; code q stands for Codes[q] × absmax.</summary>
    public IReadOnlyList<float> Codes { get; }

    /// <summary>
    /// The decision boundaries: Bounds[k] = (Codes[k−1] + Codes[k]) / 2 in float32 for k = 1 … 255 (Bounds[0] = −∞, never
    /// used). A scaled value y quantizes to the number of boundaries strictly below it, so a tie (y exactly on a
    /// boundary) goes to the lower code.
    /// </summary>
    public IReadOnlyList<float> Bounds { get; }

    /// <summary>The code of 0 (127 in the signed map, 0 in the unsigned one).</summary>
    public byte ZeroCode { get; }

    /// <summary>The codes as bitsandbytes' <c>create_dynamic_map(signed, 7, 8)</c> returns them (see remarks), ascending.</summary>
    public static float[] Create(bool signed)
    {
        const int maxExponentBits = 7, totalBits = 8, nonSignBits = totalBits - 1;
        var data = new List<float>(Size);
        for (int i = 0; i < maxExponentBits; i++)
        {
            int fractionItems = signed ? (1 << (i + nonSignBits - maxExponentBits)) + 1 : (1 << (i + nonSignBits - maxExponentBits + 1)) + 1;
            float[] boundaries = Linspace(0.1f, 1f, fractionItems);
            float scale = (float)Decades[i];
            for (int k = 0; k + 1 < boundaries.Length; k++)
            {
                float mean = (boundaries[k] + boundaries[k + 1]) / 2.0f;
                data.Add(scale * mean);
                if (signed)
                {
                    data.Add(-scale * mean);
                }
            }
        }

        data.Add(0f);
        data.Add(1f);
        if (data.Count != Size)
        {
            throw new InvalidOperationException($"The dynamic map has {data.Count} codes; expected {Size}.");
        }

        data.Sort();
        return [.. data];
    }

    /// <summary>
    /// <c>torch.linspace(start, end, steps)</c> in float32, bit for bit as PyTorch's CPU kernel computes it (checked against
    /// PyTorch 1.13). Element k is start + step·k in the first half and end − step·(steps − 1 − k) in the second, step =
    /// (end − start)/(steps − 1); but the last bit depends on how the kernel runs: its scalar lambda is compiled to a fused
    /// multiply-add, and its vector lambda (AVX2, 8 floats, called twice per 16-element iteration) computes only the
    /// first element of each 8 that way and the other seven as first + i·step (a rounded product, then a rounded sum). An
    /// AVX-512 build of PyTorch would round up to 34 of the 255 means differently in the last bit.
    /// </summary>
    internal static float[] Linspace(float start, float end, int steps)
    {
        var result = new float[steps];
        float step = (end - start) / (steps - 1);
        int halfway = steps / 2;
        float At(int k) => k < halfway ? MathF.FusedMultiplyAdd(step, k, start) : MathF.FusedMultiplyAdd(-step, steps - k - 1, end);
        int idx = 0;
        for (; idx + 16 <= steps; idx += 16)
        {
            for (int half = 0; half < 16; half += 8)
            {
                float first = At(idx + half);
                result[idx + half] = first;
                for (int i = 1; i < 8; i++)
                {
                    result[idx + half + i] = first + (i * step);
                }
            }
        }

        for (; idx < steps; idx++)
        {
            result[idx] = At(idx);
        }

        return result;
    }
}

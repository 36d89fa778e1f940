using FusedOpt.Kernels;

namespace FusedOpt.Models.Linalg;

/// <summary>
/// The block sizes of the packed GEMM: an <see cref="Mr"/> × <see cref="Nr"/> register tile, A packed in
/// <see cref="Mc"/> × <see cref="Kc"/> blocks, B in <see cref="Kc"/> × <see cref="Nc"/> blocks.
/// </summary>
/// <param name="Mr">Rows of the register tile (A values broadcast per k step).</param>
/// <param name="Nr">Columns of the register tile (B vectors loaded per k step).</param>
/// <param name="Mc">Rows of op(A) packed at once; the packed A block (Mc·Kc floats) stays in L2.</param>
/// <param name="Kc">Depth of one pass; C is updated once per Kc steps of k.</param>
/// <param name="Nc">Columns of op(B) packed at once; the packed B block (Kc·Nc floats) stays in L2/L3.</param>
public sealed record GemmBlocking(int Mr, int Nr, int Mc, int Kc, int Nc)
{
    /// <summary>
    /// Depth of one pass, the same for every instruction set. The k loop is cut at multiples of it and nowhere
    /// else, so every element of C is the same chain of roundings whatever the ISA, thread count or tile position.
    /// </summary>
    public const int DepthBlock = 256;

    /// <summary>The blocking used on <paramref name="isa"/>.</summary>
    /// <remarks>
    /// Tuned on AMD Zen 4 (32 KiB L1d, 1 MiB L2 per core): the A micro-panel (Mr·Kc = 6 KiB) stays in L1 while the
    /// kernel streams B micro-panels (Kc·Nr = 32 KiB each) from the packed B block, which at Kc·Nc = 256·384 floats
    /// (384 KiB) stays in L2 next to the packed A block (Mc·Kc = 96·256 floats, 96 KiB).
    /// </remarks>
    public static GemmBlocking For(Isa isa) => isa switch
    {
        Isa.Avx512 => new(MicroKernel512.Mr, MicroKernel512.Nr, 96, DepthBlock, 384),
        Isa.Avx2 => new(MicroKernel256.Mr, MicroKernel256.Nr, 96, DepthBlock, 384),
        _ => new(MicroKernelScalar.Mr, MicroKernelScalar.Nr, 96, DepthBlock, 384),
    };

    /// <inheritdoc />
    public override string ToString() => $"mr={Mr} nr={Nr} mc={Mc} kc={Kc} nc={Nc}";
}

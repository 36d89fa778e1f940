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
/// <param name="Nc">Columns of op(B) packed at once; the packed B block is Kc·Nc floats (L2/L3).</param>
public sealed record GemmBlocking(int Mr, int Nr, int Mc, int Kc, int Nc)
{
    /// <summary>
    /// Depth of one pass, the same for every instruction set. The k loop is cut at multiples of it and nowhere
    /// else, so every element of C is the same chain of roundings whatever the ISA, thread count or tile position.
    /// </summary>
    public const int DepthBlock = 256;

    /// <summary>The blocking used on <paramref name="isa"/>.</summary>
    /// <remarks>
    /// Measured on AMD Zen 4 (32 KiB L1d, 1 MiB L2 per core, 32 MiB L3) at m = n = k = 1024. Per A micro-panel (Mr·Kc
    /// floats, 6 KiB: stays in L1) the kernel streams every B micro-panel (Kc·Nr floats, 32 KiB) of the packed B block
    /// from L2/L3. Nc is large so that A is packed once per thread rather than once per Nc-wide block: Nc = 256 cost
    /// 7 points of peak against Nc ≥ 512 (A is repacked for every block); 512, 1024 and 2048 were within noise. Mc = 96
    /// (a 96 KiB A block) was as good as or better than 48 and 192.
    /// </remarks>
    public static GemmBlocking For(Isa isa) => isa switch
    {
        Isa.Avx512 => new(MicroKernel512.Mr, MicroKernel512.Nr, 96, DepthBlock, 1024),
        Isa.Avx2 => new(MicroKernel256.Mr, MicroKernel256.Nr, 96, DepthBlock, 1024),
        _ => new(MicroKernelScalar.Mr, MicroKernelScalar.Nr, 96, DepthBlock, 1024),
    };

    /// <inheritdoc />
    public override string ToString() => $"mr={Mr} nr={Nr} mc={Mc} kc={Kc} nc={Nc}";
}

using FusedOpt.Randomness;

namespace FusedOpt.Models.Gadam;

/// <summary>
/// The purposes Gadam draws random numbers for. Each purpose gets its own Philox key derived from the run's seed,
/// so the streams never overlap even where their counters coincide.
/// </summary>
public enum GadamStream : uint
{
    /// <summary>Per element of a child: the crossover draw, the mutation draw and the mutated value.</summary>
    Genes = 1,

    /// <summary>Per parent pair: the two categorical draws of eq. 45.</summary>
    Parents = 2,

    /// <summary>Seeds of the initial parameters of each member of generation 0.</summary>
    Init = 3,

    /// <summary>Seeds of each member's minibatch order and dropout masks in each training phase.</summary>
    Batches = 4,

    /// <summary>Seeds of the shared validation batches (fitness and selection).</summary>
    Validation = 5,
}

/// <summary>Keys and counters of Gadam's counter-based draws: everything is a function of (seed, stream, counter).</summary>
public static class GadamRandom
{
    /// <summary>The Philox key of <paramref name="stream"/> under <paramref name="seed"/>: SplitMix64(seed ⊕ stream·φ) split in two words.</summary>
    public static (uint K0, uint K1) Key(ulong seed, GadamStream stream)
    {
        ulong x = seed ^ ((ulong)stream * 0x9E3779B97F4A7C15UL);
        ulong k = Rng.SplitMix64(ref x);
        return ((uint)k, (uint)(k >> 32));
    }

    /// <summary>The four words for counter (<paramref name="a"/>, <paramref name="b"/>, <paramref name="c"/>, <paramref name="d"/>) of a stream.</summary>
    public static (uint X0, uint X1, uint X2, uint X3) Draw(ulong seed, GadamStream stream, uint a, uint b, uint c, uint d) =>
        Philox.Block((a, b, c, d), Key(seed, stream));

    /// <summary>A 64-bit seed for a sub-generator (xoshiro, for shuffles): the first two words of the block.</summary>
    public static ulong Seed64(ulong seed, GadamStream stream, uint a, uint b, uint c = 0, uint d = 0)
    {
        var (x0, x1, _, _) = Draw(seed, stream, a, b, c, d);
        return x0 | ((ulong)x1 << 32);
    }

    /// <summary>
    /// A uniform double in (0, 1] from two words: (k + 1)·2⁻⁵³ with k the top 53 of their 64 bits. Never 0, so it can
    /// stand for the seed's rand ∈ [0, 1] in comparisons "rand ≤ p" (p = 0 never passes, p = 1 always does).
    /// </summary>
    public static double Unit53(uint hi, uint lo) => (((((ulong)hi << 32) | lo) >> 11) + 1) * (1.0 / (1UL << 53));
}

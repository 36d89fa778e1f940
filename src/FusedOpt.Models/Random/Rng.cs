using System;

namespace FusedOpt.Models;

/// <summary>
/// The library's random number generator: xoshiro256** (Blackman and Vigna, 2018), seeded through SplitMix64.
/// Every value is computed with integer operations and IEEE float64 +, −, ×, ÷ and √ only (no libm calls, see
/// <see cref="DeterministicMath"/>), so a seed gives the same sequence on every run, machine, OS and .NET version.
/// </summary>
/// <remarks>
/// <para>State: four 64-bit words s0..s3, never all zero. Each <see cref="NextUInt64"/> returns
/// rotl(s1·5, 7)·9 and advances the state with the xoshiro256 linear transform (period 2²⁵⁶ − 1).</para>
/// <para>Seeding: the four words are four successive outputs of SplitMix64 started at the seed, as the authors
/// recommend; <see cref="Derive(ulong, string)"/> makes independent streams per tensor name, so that the
/// initial values of one tensor do not depend on which tensors were initialised before it.</para>
/// <para>Not thread-safe: give each thread its own instance.</para>
/// </remarks>
public sealed class Rng
{
    private ulong _s0;
    private ulong _s1;
    private ulong _s2;
    private ulong _s3;
    private double _spareGaussian;
    private bool _hasSpare;

    /// <summary>Creates a generator whose state is four SplitMix64 outputs from <paramref name="seed"/>.</summary>
    public Rng(ulong seed)
    {
        ulong x = seed;
        _s0 = SplitMix64(ref x);
        _s1 = SplitMix64(ref x);
        _s2 = SplitMix64(ref x);
        _s3 = SplitMix64(ref x);
    }

    /// <summary>
    /// A generator for the stream named <paramref name="name"/> under <paramref name="seed"/>: seeded with
    /// SplitMix64(seed ⊕ FNV-1a-64(name)). Different names give statistically independent streams.
    /// </summary>
    public static Rng Derive(ulong seed, string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return Derive(seed, Fnv1a(name));
    }

    /// <summary>A generator for the numbered stream <paramref name="stream"/> under <paramref name="seed"/>.</summary>
    public static Rng Derive(ulong seed, ulong stream)
    {
        ulong x = seed ^ (stream * 0xD1B54A32D192ED03UL);
        return new Rng(SplitMix64(ref x));
    }

    /// <summary>The next 64 random bits (xoshiro256**).</summary>
    public ulong NextUInt64()
    {
        ulong result = RotateLeft(_s1 * 5, 7) * 9;
        ulong t = _s1 << 17;
        _s2 ^= _s0;
        _s3 ^= _s1;
        _s1 ^= _s2;
        _s0 ^= _s3;
        _s2 ^= t;
        _s3 = RotateLeft(_s3, 45);
        return result;
    }

    /// <summary>A uniform double in [0, 1): the top 53 bits times 2⁻⁵³.</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    /// <summary>A uniform float in [0, 1): the top 24 bits times 2⁻²⁴.</summary>
    public float NextFloat() => (NextUInt64() >> 40) * (1f / (1 << 24));

    /// <summary>A uniform double in [<paramref name="low"/>, <paramref name="high"/>).</summary>
    public double NextUniform(double low, double high) => low + ((high - low) * NextDouble());

    /// <summary>A uniform integer in [0, <paramref name="maxExclusive"/>), unbiased (Lemire's multiply-and-reject).</summary>
    public int NextInt(int maxExclusive)
    {
        if (maxExclusive <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(maxExclusive), maxExclusive, $"The upper bound must be > 0, got {maxExclusive}.");
        }

        ulong bound = (ulong)maxExclusive;
        ulong threshold = (0UL - bound) % bound;
        while (true)
        {
            ulong high = Math.BigMul(NextUInt64(), bound, out ulong low);
            if (low >= threshold)
            {
                return (int)high;
            }
        }
    }

    /// <summary>
    /// A standard normal double (mean 0, variance 1) by Marsaglia's polar method: draw u, v uniform in (−1, 1)
    /// until s = u² + v² ∈ (0, 1), then u·√(−2 ln s / s) and v·√(−2 ln s / s) are two independent normals; the
    /// second is kept for the next call. ln is <see cref="DeterministicMath.Log"/>.
    /// </summary>
    public double NextGaussian()
    {
        if (_hasSpare)
        {
            _hasSpare = false;
            return _spareGaussian;
        }

        double u, v, s;
        do
        {
            u = (2 * NextDouble()) - 1;
            v = (2 * NextDouble()) - 1;
            s = (u * u) + (v * v);
        }
        while (s >= 1 || s == 0);

        double factor = Math.Sqrt(-2 * DeterministicMath.Log(s) / s);
        _spareGaussian = v * factor;
        _hasSpare = true;
        return u * factor;
    }

    /// <summary>SplitMix64 (Steele, Lea and Flood, 2014): advances <paramref name="state"/> and returns a mixed word.</summary>
    public static ulong SplitMix64(ref ulong state)
    {
        ulong z = state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>FNV-1a, 64-bit, over the UTF-16 code units of <paramref name="text"/> (stable, unlike string.GetHashCode).</summary>
    public static ulong Fnv1a(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        ulong hash = 0xCBF29CE484222325UL;
        foreach (char ch in text)
        {
            hash = (hash ^ ch) * 0x100000001B3UL;
        }

        return hash;
    }

    private static ulong RotateLeft(ulong x, int k) => (x << k) | (x >> (64 - k));
}

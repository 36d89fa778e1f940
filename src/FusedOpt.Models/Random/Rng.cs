using System;
using System.Buffers.Binary;
using System.Numerics;

namespace FusedOpt.Models;

/// <summary>
/// The full state of an <see cref="Rng"/>: the four 64-bit words of xoshiro256**. Saving it and restoring it with
/// <see cref="Rng.State"/> continues the sequence exactly, on any machine.
/// </summary>
/// <param name="S0">Word 0.</param>
/// <param name="S1">Word 1.</param>
/// <param name="S2">Word 2.</param>
/// <param name="S3">Word 3.</param>
public readonly record struct RngState(ulong S0, ulong S1, ulong S2, ulong S3)
{
    /// <summary>Bytes in <see cref="WriteTo"/>'s form.</summary>
    public const int ByteCount = 32;

    /// <summary>True for the all-zero state, which xoshiro256** never leaves and <see cref="Rng"/> refuses.</summary>
    public bool IsZero => (S0 | S1 | S2 | S3) == 0;

    /// <summary>Writes the four words little-endian into 32 bytes.</summary>
    public void WriteTo(Span<byte> destination)
    {
        if (destination.Length < ByteCount)
        {
            throw new ArgumentException($"An RNG state needs {ByteCount} bytes, the destination holds {destination.Length}.", nameof(destination));
        }

        BinaryPrimitives.WriteUInt64LittleEndian(destination, S0);
        BinaryPrimitives.WriteUInt64LittleEndian(destination[8..], S1);
        BinaryPrimitives.WriteUInt64LittleEndian(destination[16..], S2);
        BinaryPrimitives.WriteUInt64LittleEndian(destination[24..], S3);
    }

    /// <summary>Reads a state written by <see cref="WriteTo"/>.</summary>
    public static RngState ReadFrom(ReadOnlySpan<byte> source)
    {
        if (source.Length < ByteCount)
        {
            throw new ArgumentException($"An RNG state needs {ByteCount} bytes, got {source.Length}.", nameof(source));
        }

        return new RngState(
            BinaryPrimitives.ReadUInt64LittleEndian(source),
            BinaryPrimitives.ReadUInt64LittleEndian(source[8..]),
            BinaryPrimitives.ReadUInt64LittleEndian(source[16..]),
            BinaryPrimitives.ReadUInt64LittleEndian(source[24..]));
    }
}

/// <summary>
/// A small, fast, seedable generator with a state you can save: xoshiro256** 1.0 (Blackman and Vigna, 2018,
/// https://prng.di.unimi.it/xoshiro256starstar.c), seeded through SplitMix64 as its authors recommend. Every method
/// is defined bit for bit in terms of <see cref="NextUInt64"/>, so a seed gives the same numbers on every machine and
/// runtime (unlike <see cref="Random"/>, whose algorithm is not part of its contract).
/// </summary>
public sealed class Rng
{
    private ulong _s0, _s1, _s2, _s3;
    private double _spareGaussian;
    private bool _hasSpare;

    /// <summary>Seeds the four state words with the first four outputs of SplitMix64 started at <paramref name="seed"/>.</summary>
    public Rng(ulong seed)
    {
        ulong x = seed;
        _s0 = SplitMix64(ref x);
        _s1 = SplitMix64(ref x);
        _s2 = SplitMix64(ref x);
        _s3 = SplitMix64(ref x);
    }

    /// <summary>Starts from a saved <paramref name="state"/>.</summary>
    public Rng(RngState state) => State = state;

    /// <summary>The current state; setting it (to a value read before) continues that sequence. The all-zero state is refused.</summary>
    public RngState State
    {
        get => new(_s0, _s1, _s2, _s3);
        set
        {
            if (value.IsZero)
            {
                throw new ArgumentException("The all-zero state is not a valid xoshiro256** state (the generator would output only zeros).", nameof(value));
            }

            (_s0, _s1, _s2, _s3) = (value.S0, value.S1, value.S2, value.S3);
            _hasSpare = false;
        }
    }

    /// <summary>
    /// One step of SplitMix64 (Steele, Lea and Flood, 2014): adds the golden-ratio increment to <paramref name="x"/> and
    /// returns the mixed result.
    /// </summary>
    public static ulong SplitMix64(ref ulong x)
    {
        ulong z = x += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>The next 64 random bits.</summary>
    public ulong NextUInt64()
    {
        ulong result = BitOperations.RotateLeft(_s1 * 5, 7) * 9;
        ulong t = _s1 << 17;
        _s2 ^= _s0;
        _s3 ^= _s1;
        _s1 ^= _s2;
        _s0 ^= _s3;
        _s2 ^= t;
        _s3 = BitOperations.RotateLeft(_s3, 45);
        return result;
    }

    /// <summary>The next 32 random bits: the upper half of <see cref="NextUInt64"/> (the better half, as the authors advise).</summary>
    public uint NextUInt32() => (uint)(NextUInt64() >> 32);

    /// <summary>
    /// A uniform integer in [0, <paramref name="bound"/>), without bias: Lemire's multiply-and-reject method
    /// ("Fast Random Integer Generation in an Interval", 2019) on <see cref="NextUInt32"/>.
    /// </summary>
    public int NextInt(int bound)
    {
        if (bound <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(bound), bound, "The bound of a random integer must be positive.");
        }

        uint n = (uint)bound;
        ulong m = (ulong)NextUInt32() * n;
        uint low = (uint)m;
        if (low < n)
        {
            uint threshold = unchecked(0u - n) % n;
            while (low < threshold)
            {
                m = (ulong)NextUInt32() * n;
                low = (uint)m;
            }
        }

        return (int)(m >> 32);
    }

    /// <summary>A uniform double in [0, 1): the upper 53 bits of <see cref="NextUInt64"/> times 2⁻⁵³.</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    /// <summary>A uniform float in [0, 1): the upper 24 bits of <see cref="NextUInt64"/> times 2⁻²⁴.</summary>
    public float NextSingle() => (NextUInt64() >> 40) * (1.0f / (1 << 24));

    /// <summary>A fair coin: the top bit of <see cref="NextUInt64"/>.</summary>
    public bool NextBoolean() => (NextUInt64() >> 63) != 0;

    /// <summary>
    /// Advances the state by 2¹²⁸ steps, as if <see cref="NextUInt64"/> had been called that many times: the reference
    /// jump function, for cutting one seed into non-overlapping streams.
    /// </summary>
    public void Jump()
    {
        ReadOnlySpan<ulong> jump = [0x180EC6D33CFD0ABAUL, 0xD5A61266F0C9392CUL, 0xA9582618E03FC9AAUL, 0x39ABDC4529B1661CUL];
        ulong s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        foreach (ulong word in jump)
        {
            for (int b = 0; b < 64; b++)
            {
                if ((word & (1UL << b)) != 0)
                {
                    s0 ^= _s0;
                    s1 ^= _s1;
                    s2 ^= _s2;
                    s3 ^= _s3;
                }

                NextUInt64();
            }
        }

        (_s0, _s1, _s2, _s3) = (s0, s1, s2, s3);
    }

    /// <summary>A generator with the same state, which then runs independently of this one.</summary>
    public Rng Clone() => new(State);

    /// <summary>Shuffles <paramref name="items"/> in place: Fisher–Yates from the last element down, j = <see cref="NextInt"/>(i + 1).</summary>
    public void Shuffle<T>(Span<T> items)
    {
        for (int i = items.Length - 1; i > 0; i--)
        {
            int j = NextInt(i + 1);
            (items[i], items[j]) = (items[j], items[i]);
        }
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

    /// <summary>A uniform double in [<paramref name="low"/>, <paramref name="high"/>).</summary>
    public double NextUniform(double low, double high) => low + ((high - low) * NextDouble());

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
}

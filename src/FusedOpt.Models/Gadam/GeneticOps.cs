using System;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using FusedOpt.Kernels;
using FusedOpt.Randomness;

namespace FusedOpt.Models.Gadam;

/// <summary>What a mutated element is replaced with.</summary>
public enum MutationDraw
{
    /// <summary>The seed's rand(0, 1): u ∈ [0, 1) on a 2⁻²⁴ grid.</summary>
    Unit,

    /// <summary>A redraw from a uniform initializer: Scale·(2u − 1), u ∈ [0, 1) (He/Xavier uniform).</summary>
    SymmetricUniform,

    /// <summary>A redraw from a normal initializer: Scale·z, z by Box–Muller from two 24-bit draws.</summary>
    Normal,

    /// <summary>A redraw from a zero initializer (biases): 0.</summary>
    Zero,
}

/// <summary>The mutation value of one tensor: how to draw it and the initializer's bound or standard deviation.</summary>
/// <param name="Draw">The distribution.</param>
/// <param name="Scale">Bound a of U(−a, a) or σ of N(0, σ²); unused by <see cref="MutationDraw.Unit"/> and <see cref="MutationDraw.Zero"/>.</param>
public readonly record struct MutationValue(MutationDraw Draw, float Scale = 1);

/// <summary>
/// The draws of one child (eq. 46–49): the Philox key of the run's gene stream, the counter words fixed for this child,
/// and the two integer thresholds.
/// </summary>
/// <param name="Seed">The run's seed.</param>
/// <param name="Generation">The generation k (counter word 3).</param>
/// <param name="Child">The child's index p within its generation (counter word 2).</param>
/// <param name="TakeFirstBelow">⌊p_ij·2²⁴⌋ of eq. 47: the element comes from the first parent when its draw k₀ is below.</param>
/// <param name="MutateBelow">⌊p_q·2²⁴⌋ of eq. 49: the element mutates when its draw k₁ is below.</param>
public readonly record struct ChildPlan(ulong Seed, int Generation, int Child, uint TakeFirstBelow, uint MutateBelow);

/// <summary>What a pass did: elements taken from the first parent and elements mutated.</summary>
/// <param name="FromFirst">Elements copied from the first parent.</param>
/// <param name="Mutated">Elements replaced by a mutation value.</param>
public readonly record struct GeneCounts(long FromFirst, long Mutated)
{
    /// <summary>The sum of two counts.</summary>
    public static GeneCounts operator +(GeneCounts a, GeneCounts b) => new(a.FromFirst + b.FromFirst, a.Mutated + b.Mutated);

    /// <summary>The sum of two counts.</summary>
    public static GeneCounts Add(GeneCounts a, GeneCounts b) => a + b;
}

/// <summary>
/// Gadam's crossover (eq. 46–47) and mutation (eq. 48–49) fused into one vectorised pass over a range of the parameter
/// arena: each child element reads both parents once and is written once.
/// </summary>
/// <remarks>
/// <para>For element m (its index in the arena), the Philox4x32-10 block with counter (m mod 2³², m div 2³², child,
/// generation) under the gene-stream key gives four words x₀…x₃, and with kᵢ = xᵢ ≫ 8 (24 bits):</para>
/// <code>
/// child[m] = k₀ &lt; TakeFirstBelow ? first[m] : second[m]           // eq. 46: rand ≤ p_ij
/// if (k₁ &lt; MutateBelow) child[m] = value(x₂, x₃)                    // eq. 48: rand ≤ p_q
/// </code>
/// <para>Nothing depends on how the arena is cut into ranges or threads, or on the instruction set: the AVX-512 path
/// (16 elements per iteration, two 8-lane Philox blocks), the AVX2 path (8, two 4-lane blocks) and the scalar loop (which
/// also finishes the tails) produce the same bits. Mutated elements are rare (p ≈ 1%), so the vector loops find them
/// with a mask and compute their values with the scalar <see cref="Value"/>.</para>
/// </remarks>
public static class GeneticOps
{
    private const float Inv24 = 1.0f / (1 << 24);

    /// <summary>
    /// Writes <paramref name="child"/> from <paramref name="first"/> and <paramref name="second"/> and mutates it.
    /// </summary>
    /// <param name="first">Parent i (the one eq. 47's threshold favours).</param>
    /// <param name="second">Parent j.</param>
    /// <param name="child">The child; may not overlap either parent.</param>
    /// <param name="elementOffset">Arena index of element 0 of these spans (it keys the draws).</param>
    /// <param name="value">The mutation value of this range.</param>
    /// <param name="plan">The child's keys and thresholds.</param>
    /// <param name="isa">The instruction set; null picks <c>FUSEDOPT_ISA</c> or the widest supported.</param>
    public static GeneCounts Apply(ReadOnlySpan<float> first, ReadOnlySpan<float> second, Span<float> child, long elementOffset, MutationValue value, in ChildPlan plan, Isa? isa = null)
    {
        if (first.Length != child.Length || second.Length != child.Length)
        {
            throw new ArgumentException($"gadam: parents of {first.Length} and {second.Length} elements cannot make a child of {child.Length}.");
        }

        if (elementOffset < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(elementOffset), elementOffset, "gadam: the arena offset of a range must be ≥ 0.");
        }

        var key = GadamRandom.Key(plan.Seed, GadamStream.Genes);
        var keys = Philox.Schedule(key);
        int done = 0;
        long fromFirst = 0, mutated = 0;
        switch (IsaSupport.Resolve(isa))
        {
            case Isa.Avx512:
                done = Run512(first, second, child, elementOffset, value, plan, keys, ref fromFirst, ref mutated);
                break;
            case Isa.Avx2:
                done = Run256(first, second, child, elementOffset, value, plan, keys, ref fromFirst, ref mutated);
                break;
        }

        for (int i = done; i < child.Length; i++)
        {
            long m = elementOffset + i;
            var (x0, x1, x2, x3) = Philox.Block(((uint)m, (uint)(m >> 32), (uint)plan.Child, (uint)plan.Generation), key);
            bool takeFirst = (x0 >> 8) < plan.TakeFirstBelow;
            float gene = takeFirst ? first[i] : second[i];
            if ((x1 >> 8) < plan.MutateBelow)
            {
                gene = Value(value, x2, x3);
                mutated++;
            }

            fromFirst += takeFirst ? 1 : 0;
            child[i] = gene;
        }

        return new GeneCounts(fromFirst, mutated);
    }

    /// <summary>The mutation value from the element's words x₂ and x₃ (eq. 48's rand(0, 1), or an initializer's redraw).</summary>
    public static float Value(MutationValue value, uint x2, uint x3)
    {
        float u = (x2 >> 8) * Inv24;
        switch (value.Draw)
        {
            case MutationDraw.Unit:
                return u;
            case MutationDraw.SymmetricUniform:
                return value.Scale * ((2 * u) - 1); // 2u − 1 is exact in float; one rounding, in the product
            case MutationDraw.Normal:
                double u1 = ((x2 >> 8) + 1) * (1.0 / (1 << 24)); // (0, 1], so the log is finite
                double u2 = (x3 >> 8) * (1.0 / (1 << 24));
                return (float)(value.Scale * Math.Sqrt(-2 * DeterministicMath.Log(u1)) * Math.Cos(2 * Math.PI * u2));
            default:
                return 0;
        }
    }

    private static int Run512(ReadOnlySpan<float> first, ReadOnlySpan<float> second, Span<float> child, long offset, MutationValue value, in ChildPlan plan, in Philox.RoundKeys keys, ref long fromFirst, ref long mutated)
    {
        ref float a = ref MemoryMarshal.GetReference(first);
        ref float b = ref MemoryMarshal.GetReference(second);
        ref float c = ref MemoryMarshal.GetReference(child);
        var lane = Vector512.Create(0UL, 1, 2, 3, 4, 5, 6, 7);
        var low = Vector512.Create(0xFFFF_FFFFUL);
        var childWord = Vector512.Create((ulong)(uint)plan.Child);
        var generationWord = Vector512.Create((ulong)(uint)plan.Generation);
        var takeBelow = Vector512.Create(plan.TakeFirstBelow);
        var mutateBelow = Vector512.Create(plan.MutateBelow);
        int i = 0;
        for (; i + 16 <= child.Length; i += 16)
        {
            // Two 8-lane blocks for elements m … m + 7 and m + 8 … m + 15, then the words narrowed to 16 × 32 bits.
            var index = Vector512.Create((ulong)(offset + i)) + lane;
            var p0 = index & low;
            var p1 = index >> 32;
            var p2 = childWord;
            var p3 = generationWord;
            index += Vector512.Create(8UL);
            var q0 = index & low;
            var q1 = index >> 32;
            var q2 = childWord;
            var q3 = generationWord;
            Philox.Block512(ref p0, ref p1, ref p2, ref p3, keys);
            Philox.Block512(ref q0, ref q1, ref q2, ref q3, keys);
            var take = Vector512.LessThan(Vector512.Narrow(p0, q0) >> 8, takeBelow);
            var mutate = Vector512.LessThan(Vector512.Narrow(p1, q1) >> 8, mutateBelow);
            var genes = Vector512.ConditionalSelect(take.AsSingle(), Vector512.LoadUnsafe(ref a, (nuint)i), Vector512.LoadUnsafe(ref b, (nuint)i));
            genes.StoreUnsafe(ref c, (nuint)i);
            fromFirst += BitOperations.PopCount(take.ExtractMostSignificantBits());
            ulong bits = mutate.ExtractMostSignificantBits();
            if (bits != 0)
            {
                var w2 = Vector512.Narrow(p2, q2);
                var w3 = Vector512.Narrow(p3, q3);
                mutated += BitOperations.PopCount(bits);
                for (; bits != 0; bits &= bits - 1)
                {
                    int j = BitOperations.TrailingZeroCount(bits);
                    Unsafe.Add(ref c, i + j) = Value(value, w2.GetElement(j), w3.GetElement(j));
                }
            }
        }

        return i;
    }

    private static int Run256(ReadOnlySpan<float> first, ReadOnlySpan<float> second, Span<float> child, long offset, MutationValue value, in ChildPlan plan, in Philox.RoundKeys keys, ref long fromFirst, ref long mutated)
    {
        ref float a = ref MemoryMarshal.GetReference(first);
        ref float b = ref MemoryMarshal.GetReference(second);
        ref float c = ref MemoryMarshal.GetReference(child);
        var lane = Vector256.Create(0UL, 1, 2, 3);
        var low = Vector256.Create(0xFFFF_FFFFUL);
        var childWord = Vector256.Create((ulong)(uint)plan.Child);
        var generationWord = Vector256.Create((ulong)(uint)plan.Generation);
        var takeBelow = Vector256.Create(plan.TakeFirstBelow);
        var mutateBelow = Vector256.Create(plan.MutateBelow);
        int i = 0;
        for (; i + 8 <= child.Length; i += 8)
        {
            var index = Vector256.Create((ulong)(offset + i)) + lane;
            var p0 = index & low;
            var p1 = index >> 32;
            var p2 = childWord;
            var p3 = generationWord;
            index += Vector256.Create(4UL);
            var q0 = index & low;
            var q1 = index >> 32;
            var q2 = childWord;
            var q3 = generationWord;
            Philox.Block256(ref p0, ref p1, ref p2, ref p3, keys);
            Philox.Block256(ref q0, ref q1, ref q2, ref q3, keys);
            var take = Vector256.LessThan(Vector256.Narrow(p0, q0) >> 8, takeBelow);
            var mutate = Vector256.LessThan(Vector256.Narrow(p1, q1) >> 8, mutateBelow);
            var genes = Vector256.ConditionalSelect(take.AsSingle(), Vector256.LoadUnsafe(ref a, (nuint)i), Vector256.LoadUnsafe(ref b, (nuint)i));
            genes.StoreUnsafe(ref c, (nuint)i);
            fromFirst += BitOperations.PopCount(take.ExtractMostSignificantBits());
            uint bits = mutate.ExtractMostSignificantBits();
            if (bits != 0)
            {
                var w2 = Vector256.Narrow(p2, q2);
                var w3 = Vector256.Narrow(p3, q3);
                mutated += BitOperations.PopCount(bits);
                for (; bits != 0; bits &= bits - 1)
                {
                    int j = BitOperations.TrailingZeroCount(bits);
                    Unsafe.Add(ref c, i + j) = Value(value, w2.GetElement(j), w3.GetElement(j));
                }
            }
        }

        return i;
    }
}

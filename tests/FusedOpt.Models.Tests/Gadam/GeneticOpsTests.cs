using System;
using System.Linq;
using FusedOpt.Kernels;
using FusedOpt.Models.Gadam;
using FusedOpt.Randomness;
using Xunit;

namespace FusedOpt.Tests.Gadam;

/// <summary>
/// The fused crossover + mutation pass (eq. 46–48) against the rule written out per element, across instruction sets,
/// lengths around the vector widths, and offsets that cross the 32-bit counter word.
/// </summary>
public sealed class GeneticOpsTests
{
    private static (float[] First, float[] Second) Parents(int length)
    {
        var first = Enumerable.Range(0, length).Select(static i => 1000f + i).ToArray();
        var second = Enumerable.Range(0, length).Select(static i => -1000f - i).ToArray();
        return (first, second);
    }

    /// <summary>The oracle: eq. 46 and 48 element by element from the scalar Philox block.</summary>
    private static float[] Expected(float[] first, float[] second, long offset, MutationValue value, ChildPlan plan)
    {
        var key = GadamRandom.Key(plan.Seed, GadamStream.Genes);
        var child = new float[first.Length];
        for (int i = 0; i < child.Length; i++)
        {
            long m = offset + i;
            var (x0, x1, x2, x3) = Philox.Block(((uint)m, (uint)(m >> 32), (uint)plan.Child, (uint)plan.Generation), key);
            double rand0 = ((x0 >> 8) + 1) / 16777216.0, rand1 = ((x1 >> 8) + 1) / 16777216.0;
            double pij = plan.TakeFirstBelow / 16777216.0, pq = plan.MutateBelow / 16777216.0;
            child[i] = rand0 <= pij ? first[i] : second[i];
            if (rand1 <= pq)
            {
                child[i] = GeneticOps.Value(value, x2, x3);
            }
        }

        return child;
    }

    public static TheoryData<Isa, int, long> Cases()
    {
        var data = new TheoryData<Isa, int, long>();
        foreach (var isa in new[] { Isa.Scalar, Isa.Avx2, Isa.Avx512 }.Where(IsaSupport.IsSupported))
        {
            foreach (int length in new[] { 0, 1, 7, 8, 9, 15, 16, 17, 53, 1000 })
            {
                data.Add(isa, length, 0);
            }

            data.Add(isa, 200, 4294967200L); // counter word 0 wraps inside the range
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Apply_MatchesTheRuleElementByElement(Isa isa, int length, long offset)
    {
        var (first, second) = Parents(length);
        var plan = new ChildPlan(Seed: 11, Generation: 2, Child: 3, TakeFirstBelow: GadamMath.Threshold24(0.7), MutateBelow: GadamMath.Threshold24(0.05));
        var value = new MutationValue(MutationDraw.SymmetricUniform, 0.25f);
        var child = new float[length];

        var counts = GeneticOps.Apply(first, second, child, offset, value, plan, isa);

        var expected = Expected(first, second, offset, value, plan);
        Assert.Equal(expected, child);
        Assert.Equal(child.Count(static c => Math.Abs(c) < 1), counts.Mutated);
        Assert.Equal(Enumerable.Range(0, length).LongCount(i => Taken(offset, plan, i)), counts.FromFirst);
    }

    private static bool Taken(long offset, ChildPlan plan, int i)
    {
        var key = GadamRandom.Key(plan.Seed, GadamStream.Genes);
        long m = offset + i;
        return (Philox.Block(((uint)m, (uint)(m >> 32), (uint)plan.Child, (uint)plan.Generation), key).X0 >> 8) < plan.TakeFirstBelow;
    }

    [Fact]
    public void Apply_DoesNotDependOnHowTheRangeIsCut()
    {
        var (first, second) = Parents(4099);
        var plan = new ChildPlan(5, 1, 0, GadamMath.Threshold24(0.4), GadamMath.Threshold24(0.02));
        var value = new MutationValue(MutationDraw.Unit);
        var whole = new float[first.Length];
        var pieces = new float[first.Length];

        var all = GeneticOps.Apply(first, second, whole, 100, value, plan);
        var sum = default(GeneCounts);
        foreach (var (start, end) in new[] { (0, 13), (13, 1024), (1024, 1025), (1025, 4099) })
        {
            sum += GeneticOps.Apply(first.AsSpan(start, end - start), second.AsSpan(start, end - start), pieces.AsSpan(start, end - start), 100 + start, value, plan);
        }

        Assert.Equal(whole, pieces);
        Assert.Equal(all, sum);
    }

    [Fact]
    public void Eq46_FractionFromFirstParent_IsTheThreshold()
    {
        var (first, second) = Parents(200_000);
        var child = new float[first.Length];
        double pij = GadamMath.CrossoverProbability(0, 1); // 0.731
        var plan = new ChildPlan(3, 0, 1, GadamMath.Threshold24(pij), 0);

        var counts = GeneticOps.Apply(first, second, child, 0, new MutationValue(MutationDraw.Unit), plan);

        Assert.Equal(0, counts.Mutated);
        Assert.Equal(child.Count(static c => c >= 1000), counts.FromFirst);
        Assert.InRange(counts.FromFirst / 200_000.0, pij - 0.005, pij + 0.005); // σ ≈ 0.001
    }

    [Fact]
    public void Eq48_MutatedFraction_IsTheRate_AndValuesFollowTheDraw()
    {
        var (first, second) = Parents(200_000);
        var child = new float[first.Length];
        double pq = GadamMath.MutationRate(0.01, 0.2, 0.3); // 0.005
        var plan = new ChildPlan(3, 0, 1, GadamMath.Threshold24(1), GadamMath.Threshold24(pq));

        var counts = GeneticOps.Apply(first, second, child, 0, new MutationValue(MutationDraw.Unit), plan);

        Assert.Equal(200_000, counts.FromFirst);
        Assert.InRange(counts.Mutated / 200_000.0, pq - 0.001, pq + 0.001); // σ ≈ 0.00016
        Assert.All(child.Where(static c => c < 1000), static c => Assert.InRange(c, 0f, 1f));
    }

    [Fact]
    public void Thresholds_AtTheExtremes_CopyOneParent_OrMutateEverything()
    {
        var (first, second) = Parents(100);
        var child = new float[100];

        GeneticOps.Apply(first, second, child, 0, default, new ChildPlan(1, 0, 0, 1u << 24, 0));
        Assert.Equal(first, child);
        GeneticOps.Apply(first, second, child, 0, default, new ChildPlan(1, 0, 0, 0, 0));
        Assert.Equal(second, child);
        var counts = GeneticOps.Apply(first, second, child, 0, new MutationValue(MutationDraw.Zero), new ChildPlan(1, 0, 0, 0, 1u << 24));
        Assert.Equal(100, counts.Mutated);
        Assert.All(child, static c => Assert.Equal(0f, c));
        GeneticOps.Apply(first, second, child, 0, new MutationValue(MutationDraw.SymmetricUniform, 0.05f), new ChildPlan(1, 0, 0, 0, 1u << 24));
        Assert.All(child, static c => Assert.InRange(c, -0.05f, 0.05f));
    }

    [Fact]
    public void Value_HandChecked()
    {
        Assert.Equal(0.5f, GeneticOps.Value(new MutationValue(MutationDraw.Unit), 0x80000000u, 0));
        Assert.Equal(0.05f, GeneticOps.Value(new MutationValue(MutationDraw.SymmetricUniform, 0.1f), 0xC0000000u, 0)); // 0.1·(2·0.75 − 1)
        Assert.Equal(0f, GeneticOps.Value(new MutationValue(MutationDraw.Zero), 0x12345678u, 0));
        // Box–Muller with u₁ = 1 (log 0) is 0; with u₁ = e^-2, u₂ = 0: σ·√4 = 2σ (to float rounding of u₁).
        Assert.Equal(0f, GeneticOps.Value(new MutationValue(MutationDraw.Normal, 3f), 0xFFFFFF00u, 0));
    }

    [Fact]
    public void Apply_MismatchedLengths_AreRejected()
    {
        var e = Assert.Throws<ArgumentException>(() => GeneticOps.Apply(new float[3], new float[4], new float[3], 0, default, default));
        Assert.Contains("3 and 4", e.Message, StringComparison.Ordinal);
    }
}

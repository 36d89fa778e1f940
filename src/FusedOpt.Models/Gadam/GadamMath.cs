using System;
using System.Linq;

namespace FusedOpt.Models.Gadam;

/// <summary>
/// The selection arithmetic of Gadam (seed 004, §6.1.3–6.1.4, eq. 45–50), as small pure functions over the
/// population's validation losses. Every function is written out as in the seed so a test can check it by hand.
/// </summary>
/// <remarks>
/// <para><b>Normalisation (the seed leaves it open).</b> L̂ᵢ = (Lᵢ − min L) / (max L − min L): min–max over the
/// population, so L̂ ∈ [0, 1] as the seed requires; when every loss is equal, every L̂ᵢ = 0 (uniform probabilities). A
/// non-finite loss (a diverged member) gets L̂ = 1 and the finite losses set min and max. Min–max is scale free:
/// it gives the same probabilities whether eq. 44 sums or averages the batch's losses.</para>
/// <para><b>Thresholds.</b> Element draws are 24-bit integers k ∈ [0, 2²⁴) standing for rand = (k + 1)·2⁻²⁴ ∈ (0, 1];
/// "rand ≤ p" is then exactly k &lt; ⌊p·2²⁴⌋ (<see cref="Threshold24"/>), an integer comparison that vector and scalar
/// code evaluate identically.</para>
/// </remarks>
public static class GadamMath
{
    /// <summary>2²⁴: the resolution of the per-element draws.</summary>
    public const double Resolution = 1 << 24;

    /// <summary>Min–max normalisation of <paramref name="losses"/> to [0, 1] (see remarks); non-finite losses map to 1.</summary>
    public static double[] Normalize(ReadOnlySpan<double> losses)
    {
        if (losses.IsEmpty)
        {
            throw new ArgumentException("gadam: a population needs at least one loss to normalise.", nameof(losses));
        }

        double min = double.PositiveInfinity, max = double.NegativeInfinity;
        foreach (double l in losses)
        {
            if (double.IsFinite(l))
            {
                min = Math.Min(min, l);
                max = Math.Max(max, l);
            }
        }

        var normalized = new double[losses.Length];
        for (int i = 0; i < losses.Length; i++)
        {
            normalized[i] = !double.IsFinite(losses[i]) ? 1 : max > min ? (losses[i] - min) / (max - min) : 0;
        }

        return normalized;
    }

    /// <summary>Eq. 45: P(Mᵢ) = exp(−L̂ᵢ) / Σⱼ exp(−L̂ⱼ), in float64.</summary>
    public static double[] SelectionProbabilities(ReadOnlySpan<double> normalized)
    {
        var weights = new double[normalized.Length];
        double sum = 0;
        for (int i = 0; i < normalized.Length; i++)
        {
            weights[i] = Math.Exp(-normalized[i]);
            sum += weights[i];
        }

        for (int i = 0; i < weights.Length; i++)
        {
            weights[i] /= sum;
        }

        return weights;
    }

    /// <summary>Eq. 47: the probability that a child element comes from the first parent, exp(−L̂ᵢ) / (exp(−L̂ᵢ) + exp(−L̂ⱼ)).</summary>
    public static double CrossoverProbability(double normalizedFirst, double normalizedSecond)
    {
        double ei = Math.Exp(-normalizedFirst), ej = Math.Exp(-normalizedSecond);
        return ei / (ei + ej);
    }

    /// <summary>
    /// Eq. 49: the child's mutation rate p_q = p·(1 − P(i) − P(j)). Clamped at 0: when one member is drawn as both
    /// parents with P &gt; ½ the formula goes negative, and a negative rate means no mutation.
    /// </summary>
    public static double MutationRate(double baseRate, double probabilityFirst, double probabilitySecond) =>
        Math.Max(0, baseRate * (1 - probabilityFirst - probabilitySecond));

    /// <summary>The integer threshold T = ⌊p·2²⁴⌋ (clamped to [0, 2²⁴]) for which "rand ≤ p" ⇔ k &lt; T (see remarks).</summary>
    public static uint Threshold24(double probability)
    {
        if (double.IsNaN(probability))
        {
            throw new ArgumentOutOfRangeException(nameof(probability), probability, "gadam: a probability threshold cannot be NaN.");
        }

        return (uint)Math.Clamp(Math.Floor(probability * Resolution), 0, Resolution);
    }

    /// <summary>
    /// Inverse-CDF draw of a categorical distribution: the first i with u ≤ P₀ + … + Pᵢ, for u ∈ (0, 1]; rounding that
    /// leaves the total just under u picks the last category.
    /// </summary>
    public static int Categorical(ReadOnlySpan<double> probabilities, double u)
    {
        double cumulative = 0;
        for (int i = 0; i < probabilities.Length; i++)
        {
            cumulative += probabilities[i];
            if (u <= cumulative)
            {
                return i;
            }
        }

        return probabilities.Length - 1;
    }

    /// <summary>
    /// Parent pair <paramref name="pair"/> of generation <paramref name="generation"/>, drawn with replacement by
    /// <paramref name="probabilities"/> (eq. 45): the two parents are independent draws from the Philox block
    /// (pair, generation, 0, 0) of the parents' stream, so they may coincide (the child is then that parent, mutated).
    /// </summary>
    public static (int First, int Second) DrawPair(ReadOnlySpan<double> probabilities, ulong seed, int generation, int pair)
    {
        var (x0, x1, x2, x3) = GadamRandom.Draw(seed, GadamStream.Parents, (uint)pair, (uint)generation, 0, 0);
        return (Categorical(probabilities, GadamRandom.Unit53(x0, x1)), Categorical(probabilities, GadamRandom.Unit53(x2, x3)));
    }

    /// <summary>
    /// The top <paramref name="count"/> candidates by loss (ascending; ties by index; non-finite losses last): the
    /// next generation, best first (§6.1.4).
    /// </summary>
    public static int[] SelectTop(ReadOnlySpan<double> losses, int count)
    {
        if (count < 1 || count > losses.Length)
        {
            throw new ArgumentOutOfRangeException(nameof(count), count, $"gadam: cannot keep {count} of {losses.Length} candidates.");
        }

        double[] keys = [.. losses.ToArray().Select(static l => double.IsFinite(l) ? l : double.PositiveInfinity)];
        return [.. Enumerable.Range(0, keys.Length).OrderBy(i => keys[i]).ThenBy(static i => i).Take(count)];
    }

    /// <summary>Eq. 50: stop when |Σ L⁽ᵏ⁾ − Σ L⁽ᵏ⁺¹⁾| ≤ λ.</summary>
    public static bool HasConverged(double previousSum, double sum, double lambda) => Math.Abs(previousSum - sum) <= lambda;
}

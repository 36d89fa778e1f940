using System;

namespace FusedOpt.Models.Training.Schedules;

/// <summary>
/// Linear decay until iteration τ, then constant, exactly as the lecture writes it (EECS 230, lecture 7,
/// "Need for decreasing learning rate"; Goodfellow et al., 2016, §8.3.1):
/// <code>
/// ε_k = (1 − α) ε₀ + α ε_τ   with α = k / τ,   for k ≤ τ
/// ε_k = ε_τ                                  for k &gt; τ
/// </code>
/// where k is <see cref="SchedulePoint.Iteration"/> (or the epoch with <c>per=epoch</c>), ε₀ the base rate and
/// ε_τ = <see cref="Final"/> · ε₀ ("often … a small positive value", commonly 1% of ε₀). The two terms are computed
/// as written, so ε_τ comes out exactly at k = τ. Spec: <c>linear:tau=400,final=0.01</c>.
/// </summary>
public sealed record LinearDecaySchedule : LearningRateSchedule
{
    /// <summary>The spec and JSON name.</summary>
    public const string Kind = "linear";

    /// <summary>Creates the schedule: τ &gt; 0 steps of <paramref name="per"/>, final fraction ≥ 0.</summary>
    public LinearDecaySchedule(long tau, double final, ScheduleUnit per = ScheduleUnit.Iteration)
    {
        if (tau <= 0)
        {
            throw new ArgumentException($"linear: tau must be a positive number of {Units(per)}, got {tau}.", nameof(tau));
        }

        if (!double.IsFinite(final) || final < 0)
        {
            throw new ArgumentException($"linear: final (ε_τ / ε₀) must be finite and 0 or more, got {Format(final)}.", nameof(final));
        }

        Tau = tau;
        Final = final;
        Per = per;
    }

    /// <summary>τ: the step at which the decay ends.</summary>
    public long Tau { get; }

    /// <summary>ε_τ / ε₀: the final rate as a fraction of the base rate.</summary>
    public double Final { get; }

    /// <summary>What k and τ count (iterations by default).</summary>
    public ScheduleUnit Per { get; }

    /// <inheritdoc/>
    public override string ToSpec() => $"{Kind}:tau={Tau},final={Format(Final)}{FormatUnit(Per)}";

    private protected override double Evaluate(double baseRate, SchedulePoint at)
    {
        long k = at.In(Per);
        double epsilon0 = baseRate;
        double epsilonTau = Final * baseRate;
        if (k > Tau)
        {
            return epsilonTau;
        }

        double alpha = (double)k / Tau;
        return ((1 - alpha) * epsilon0) + (alpha * epsilonTau);
    }

    private static string Units(ScheduleUnit per) => per == ScheduleUnit.Epoch ? "epochs" : "iterations";
}

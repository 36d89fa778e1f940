using System;

namespace FusedOpt.Models.Training.Schedules;

/// <summary>
/// Cosine annealing without restarts (Loshchilov and Hutter, 2017, SGDR eq. 5 with one period):
/// <code>
/// η_t = η_min + (η₀ − η_min) · (1 + cos(π t / T)) / 2   for t ≤ T
/// η_t = η_min                                          for t &gt; T
/// </code>
/// with η_min = <see cref="Minimum"/> · η₀ and t the iteration (or epoch with <c>per=epoch</c>). This is PyTorch's
/// <c>CosineAnnealingLR</c> closed form up to T; past T it stays at η_min instead of rising again. Spec:
/// <c>cosine:T=400,min=0</c> (min optional, default 0).
/// </summary>
public sealed record CosineAnnealingSchedule : LearningRateSchedule
{
    /// <summary>The spec and JSON name.</summary>
    public const string Kind = "cosine";

    /// <summary>Creates the schedule: period T &gt; 0, minimum fraction in [0, 1].</summary>
    public CosineAnnealingSchedule(long t, double minimum = 0, ScheduleUnit per = ScheduleUnit.Iteration)
    {
        if (t <= 0)
        {
            throw new ArgumentException($"cosine: T must be a positive number of {(per == ScheduleUnit.Epoch ? "epochs" : "iterations")}, got {t}.", nameof(t));
        }

        if (!double.IsFinite(minimum) || minimum < 0 || minimum > 1)
        {
            throw new ArgumentException($"cosine: min (η_min / η₀) must be in [0, 1], got {Format(minimum)}.", nameof(minimum));
        }

        T = t;
        Minimum = minimum;
        Per = per;
    }

    /// <summary>T: the length of the half cosine.</summary>
    public long T { get; }

    /// <summary>η_min / η₀: the floor as a fraction of the base rate.</summary>
    public double Minimum { get; }

    /// <summary>What t and T count (iterations by default).</summary>
    public ScheduleUnit Per { get; }

    /// <inheritdoc/>
    public override string ToSpec() => $"{Kind}:T={T},min={Format(Minimum)}{FormatUnit(Per)}";

    private protected override double Evaluate(double baseRate, SchedulePoint at)
    {
        long t = at.In(Per);
        double etaMin = Minimum * baseRate;
        if (t >= T)
        {
            return etaMin;
        }

        return etaMin + ((baseRate - etaMin) * (1 + Math.Cos(Math.PI * t / T)) / 2);
    }
}

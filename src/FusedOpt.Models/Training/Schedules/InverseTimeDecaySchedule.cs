using System;

namespace FusedOpt.Models.Training.Schedules;

/// <summary>
/// Keras-style inverse time decay, as the lecture gives it: <c>lrate = initial_lrate * (1 / (1 + decay * iteration))</c>,
/// where iteration is the number of updates already made (0 for the first, so the first update uses η₀). Computed
/// in that order (a reciprocal, then a product), as Keras's SGD <c>decay</c> argument does. Spec:
/// <c>inverse:decay=1e-3</c>.
/// </summary>
public sealed record InverseTimeDecaySchedule : LearningRateSchedule
{
    /// <summary>The spec and JSON name.</summary>
    public const string Kind = "inverse";

    /// <summary>Creates the schedule; <paramref name="decay"/> is finite and ≥ 0 (0 keeps the rate constant).</summary>
    public InverseTimeDecaySchedule(double decay, ScheduleUnit per = ScheduleUnit.Iteration)
    {
        if (!double.IsFinite(decay) || decay < 0)
        {
            throw new ArgumentException($"inverse: decay must be finite and 0 or more, got {Format(decay)}.", nameof(decay));
        }

        Decay = decay;
        Per = per;
    }

    /// <summary>The decay rate.</summary>
    public double Decay { get; }

    /// <summary>What t counts (iterations by default).</summary>
    public ScheduleUnit Per { get; }

    /// <inheritdoc/>
    public override string ToSpec() => $"{Kind}:decay={Format(Decay)}{FormatUnit(Per)}";

    private protected override double Evaluate(double baseRate, SchedulePoint at) =>
        baseRate * (1.0 / (1.0 + (Decay * at.In(Per))));
}

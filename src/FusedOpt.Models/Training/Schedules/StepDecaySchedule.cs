using System;
using System.Collections.Generic;
using System.Linq;

namespace FusedOpt.Models.Training.Schedules;

/// <summary>
/// Step decay by epoch: η = η₀ · γ^m, where m is the number of milestones ≤ the epoch in progress (0-based). With
/// milestones [150] and γ = 0.1 (the VGG11 study), epochs 0–149 use η₀ and epochs 150 onward 0.1 η₀. This is
/// PyTorch's <c>MultiStepLR</c> stepped once per epoch (its closed form <c>base_lr * gamma ** bisect_right(...)</c>).
/// Spec: <c>step:150,225:0.1</c> (milestones, then γ).
/// </summary>
public sealed record StepDecaySchedule : LearningRateSchedule
{
    /// <summary>The spec and JSON name.</summary>
    public const string Kind = "step";

    private readonly int[] _milestones;

    /// <summary>Creates the schedule; <paramref name="milestones"/> are epochs, positive and strictly increasing; γ is finite and &gt; 0.</summary>
    public StepDecaySchedule(IReadOnlyList<int> milestones, double gamma)
    {
        ArgumentNullException.ThrowIfNull(milestones);
        if (milestones.Count == 0)
        {
            throw new ArgumentException("step: at least one milestone epoch is needed.", nameof(milestones));
        }

        for (int i = 0; i < milestones.Count; i++)
        {
            if (milestones[i] <= 0 || (i > 0 && milestones[i] <= milestones[i - 1]))
            {
                throw new ArgumentException(
                    $"step: milestones must be positive epochs in increasing order, got {string.Join(",", milestones)} (milestone {i}: {milestones[i]}).",
                    nameof(milestones));
            }
        }

        if (!double.IsFinite(gamma) || gamma <= 0)
        {
            throw new ArgumentException($"step: gamma must be finite and > 0, got {Format(gamma)}.", nameof(gamma));
        }

        _milestones = [.. milestones];
        Gamma = gamma;
    }

    /// <summary>The epochs at which the rate is multiplied by <see cref="Gamma"/>, increasing.</summary>
    public IReadOnlyList<int> Milestones => _milestones;

    /// <summary>The factor applied at each milestone (γ).</summary>
    public double Gamma { get; }

    /// <inheritdoc/>
    public override string ToSpec() => $"{Kind}:{string.Join(",", _milestones)}:{Format(Gamma)}";

    /// <summary>Equal when milestones and γ are equal.</summary>
    public bool Equals(StepDecaySchedule? other) =>
        other is not null && Gamma.Equals(other.Gamma) && _milestones.AsSpan().SequenceEqual(other._milestones);

    /// <inheritdoc/>
    public override int GetHashCode() => _milestones.Aggregate(Gamma.GetHashCode(), HashCode.Combine);

    private protected override double Evaluate(double baseRate, SchedulePoint at)
    {
        int passed = 0;
        while (passed < _milestones.Length && _milestones[passed] <= at.Epoch)
        {
            passed++;
        }

        return baseRate * Math.Pow(Gamma, passed);
    }
}

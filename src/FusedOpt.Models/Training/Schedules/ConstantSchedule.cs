namespace FusedOpt.Models.Training.Schedules;

/// <summary>η = η₀ at every point. Spec: <c>constant</c>.</summary>
public sealed record ConstantSchedule : LearningRateSchedule
{
    /// <summary>The spec and JSON name.</summary>
    public const string Kind = "constant";

    /// <inheritdoc/>
    public override string ToSpec() => Kind;

    private protected override double Evaluate(double baseRate, SchedulePoint at) => baseRate;
}

using System;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace FusedOpt.Models.Training.Schedules;

/// <summary>
/// A learning-rate schedule: a pure function of the training clock (<see cref="SchedulePoint"/>) and the base rate
/// η₀, with immutable, serializable parameters. Each kind round-trips through a compact text spec
/// (<see cref="Parse"/> / <see cref="ToSpec"/>, for the CLI) and through JSON (<see cref="ToJson"/> /
/// <see cref="FromJson"/>, for checkpoints and run records).
/// </summary>
/// <remarks>
/// Kinds: <see cref="ConstantSchedule"/>, <see cref="StepDecaySchedule"/>, <see cref="LinearDecaySchedule"/>,
/// <see cref="InverseTimeDecaySchedule"/>, <see cref="CosineAnnealingSchedule"/>. Parameters that set a final or
/// minimum rate are fractions of η₀, so one schedule serves any base rate.
/// </remarks>
[JsonPolymorphic(TypeDiscriminatorPropertyName = "kind")]
[JsonDerivedType(typeof(ConstantSchedule), ConstantSchedule.Kind)]
[JsonDerivedType(typeof(StepDecaySchedule), StepDecaySchedule.Kind)]
[JsonDerivedType(typeof(LinearDecaySchedule), LinearDecaySchedule.Kind)]
[JsonDerivedType(typeof(InverseTimeDecaySchedule), InverseTimeDecaySchedule.Kind)]
[JsonDerivedType(typeof(CosineAnnealingSchedule), CosineAnnealingSchedule.Kind)]
public abstract record LearningRateSchedule
{
    private protected LearningRateSchedule()
    {
    }

    /// <summary>The learning rate at <paramref name="at"/> for base rate <paramref name="baseRate"/> (η₀ ≥ 0, finite).</summary>
    public double LearningRate(double baseRate, SchedulePoint at)
    {
        if (!double.IsFinite(baseRate) || baseRate < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(baseRate), baseRate, $"{ToSpec()}: the base learning rate must be finite and 0 or more, got {baseRate}.");
        }

        at.Validate();
        return Evaluate(baseRate, at);
    }

    /// <summary>The compact text form, accepted by <see cref="Parse"/>: e.g. <c>step:150,225:0.1</c>.</summary>
    public abstract string ToSpec();

    /// <summary>Parses a compact spec; see <see cref="ScheduleSpec.Grammar"/>. Errors name the bad token.</summary>
    public static LearningRateSchedule Parse(string spec) => ScheduleSpec.Parse(spec);

    /// <summary>The schedule as JSON with a <c>kind</c> discriminator, e.g. <c>{"kind":"linear","tau":400,"final":0.01,"per":"iteration"}</c>.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, ScheduleJsonContext.Default.LearningRateSchedule);

    /// <summary>Reads a schedule written by <see cref="ToJson"/>; parameters are validated as by the constructors.</summary>
    public static LearningRateSchedule FromJson(string json)
    {
        ArgumentNullException.ThrowIfNull(json);
        return JsonSerializer.Deserialize(json, ScheduleJsonContext.Default.LearningRateSchedule)
            ?? throw new JsonException("A learning-rate schedule cannot be null.");
    }

    /// <summary>The spec (<see cref="ToSpec"/>).</summary>
    public sealed override string ToString() => ToSpec();

    /// <summary>The rate at a validated point.</summary>
    private protected abstract double Evaluate(double baseRate, SchedulePoint at);

    /// <summary>Shortest round-trip invariant text of <paramref name="value"/>.</summary>
    private protected static string Format(double value) => value.ToString("R", CultureInfo.InvariantCulture);

    /// <summary>The spec suffix for a non-default unit.</summary>
    private protected static string FormatUnit(ScheduleUnit per) => per == ScheduleUnit.Iteration ? string.Empty : ",per=epoch";
}

/// <summary>Source-generated JSON for schedules (camelCase, units as strings).</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, UseStringEnumConverter = true)]
[JsonSerializable(typeof(LearningRateSchedule))]
internal sealed partial class ScheduleJsonContext : JsonSerializerContext;

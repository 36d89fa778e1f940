using System.Collections.Generic;
using System.Text.Json.Serialization;

namespace FusedOpt.Models.Training.Metrics;

/// <summary>
/// One line of a metrics file: a JSON object whose <c>kind</c> says which record it is. Losses and accuracies are
/// doubles; a non-finite loss (a diverged run) is written as the string <c>"NaN"</c> or <c>"Infinity"</c> rather
/// than failing the run.
/// </summary>
[JsonPolymorphic(TypeDiscriminatorPropertyName = "kind")]
[JsonDerivedType(typeof(RunMetadata), "run")]
[JsonDerivedType(typeof(IterationMetrics), "iteration")]
[JsonDerivedType(typeof(EpochMetrics), "epoch")]
public abstract record MetricsRecord
{
    private protected MetricsRecord()
    {
    }
}

/// <summary>
/// What a run is, written once at the start: a name and free-form settings (optimizer, schedule spec, seed, ISA,
/// threads…), all as strings so that readers need no schema.
/// </summary>
/// <param name="Name">The run's name.</param>
/// <param name="Settings">Settings by name.</param>
public sealed record RunMetadata(string Name, IReadOnlyDictionary<string, string> Settings) : MetricsRecord;

/// <summary>One optimizer update.</summary>
/// <param name="Iteration">Updates made before this one, from 0 (the <see cref="Schedules.SchedulePoint"/> clock).</param>
/// <param name="Epoch">The epoch in progress, from 0.</param>
/// <param name="Loss">The minibatch loss.</param>
/// <param name="LearningRate">The learning rate the update used.</param>
public sealed record IterationMetrics(long Iteration, int Epoch, double Loss, double LearningRate) : MetricsRecord
{
    /// <summary>Minibatch accuracy in [0, 1], when computed.</summary>
    public double? Accuracy { get; init; }

    /// <summary>Wall-clock seconds the update took, when measured.</summary>
    public double? Seconds { get; init; }
}

/// <summary>The end of an epoch.</summary>
/// <param name="Epoch">The epoch that ended, from 0.</param>
/// <param name="Iteration">Updates made so far.</param>
/// <param name="TrainLoss">Mean training loss over the epoch's minibatches.</param>
/// <param name="TrainAccuracy">Training accuracy over the epoch, in [0, 1].</param>
/// <param name="LearningRate">The learning rate of the epoch's last update.</param>
public sealed record EpochMetrics(int Epoch, long Iteration, double TrainLoss, double TrainAccuracy, double LearningRate) : MetricsRecord
{
    /// <summary>Test loss, when evaluated.</summary>
    public double? TestLoss { get; init; }

    /// <summary>Test accuracy in [0, 1], when evaluated.</summary>
    public double? TestAccuracy { get; init; }

    /// <summary>Wall-clock seconds of the epoch, when measured.</summary>
    public double? Seconds { get; init; }

    /// <summary>Images the test evaluation covered, when evaluated.</summary>
    public int? TestImages { get; init; }

    /// <summary>Training throughput of the epoch in images per second, when measured.</summary>
    public double? ImagesPerSecond { get; init; }
}

/// <summary>Source-generated JSON for metrics records: camelCase, nulls omitted, NaN and infinities as named literals.</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals)]
[JsonSerializable(typeof(MetricsRecord))]
internal sealed partial class MetricsJsonContext : JsonSerializerContext;

using System;
using System.Text.Json.Serialization;

namespace FusedOpt.Models.Training.Schedules;

/// <summary>What a schedule's time variable counts.</summary>
public enum ScheduleUnit
{
    /// <summary>Optimizer updates (minibatches) since the start of training.</summary>
    [JsonStringEnumMemberName("iteration")]
    Iteration,

    /// <summary>Completed epochs (the 0-based epoch in progress).</summary>
    [JsonStringEnumMemberName("epoch")]
    Epoch,
}

/// <summary>
/// The moment a learning rate is asked for, both clocks at once: <paramref name="Iteration"/> is the number of
/// updates already made (0 for the first update) and <paramref name="Epoch"/> the 0-based epoch the update is in.
/// </summary>
/// <param name="Iteration">Updates made before this one, from 0.</param>
/// <param name="Epoch">The epoch in progress, from 0.</param>
public readonly record struct SchedulePoint(long Iteration, int Epoch)
{
    /// <summary>The time in <paramref name="unit"/>.</summary>
    public long In(ScheduleUnit unit) => unit == ScheduleUnit.Epoch ? Epoch : Iteration;

    /// <summary>Throws when either clock is negative.</summary>
    public void Validate()
    {
        if (Iteration < 0 || Epoch < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(Iteration), $"Schedule point (iteration {Iteration}, epoch {Epoch}): both must be 0 or more.");
        }
    }
}

using System;
using System.Globalization;

namespace FusedOpt.Models.Training;

/// <summary>
/// An estimate of the memory traffic the step inside backward saves per iteration. The separate step moves
/// <see cref="Optimizer.TrafficBytesPerParameter"/> × parameters through memory (Adam: 28 B per parameter with fp32 states,
/// 20 with bf16, about 16.06 with q8). Inside backward each
/// layer is stepped right after its backward wrote its gradient, so the gradient read (4 B per parameter) comes from
/// cache whenever a layer's gradient fits there; parameters and states are still read and written through memory.
/// </summary>
/// <param name="StepBytes">Bytes the separate step moves per iteration.</param>
/// <param name="InCacheBytes">Of those, the gradient reads the step inside backward finds in cache.</param>
public readonly record struct StepTraffic(long StepBytes, long InCacheBytes)
{
    /// <summary>The estimate for <paramref name="optimizer"/>'s rules and arena.</summary>
    public static StepTraffic Of(Optimizer optimizer)
    {
        ArgumentNullException.ThrowIfNull(optimizer);
        long n = optimizer.Arena.ParameterCount;
        return new StepTraffic((long)Math.Round(optimizer.TrafficBytesPerParameter * n), sizeof(float) * n);
    }

    /// <summary>One line for a report.</summary>
    public string Describe() => string.Create(
        CultureInfo.InvariantCulture,
        $"the separate step moves {StepBytes / 1e6:0.0} MB per iteration; inside backward the gradient reads ({InCacheBytes / 1e6:0.0} MB, {(double)InCacheBytes / Math.Max(StepBytes, 1):P0}) come from cache where a layer's gradient fits there");
}

using System.Diagnostics;

namespace FusedOpt.Models.Layers;

/// <summary>
/// Time a layer has spent, accumulated over calls (Stopwatch ticks): forward, and backward split into its
/// weight-gradient half (dL/dθ) and its data-gradient half (dL/dx). <see cref="Sequential{T}"/> records forward and
/// whole backward; layers with weights record their weight half, the data half is the rest. Two timestamps per layer
/// and pass: negligible against the layers' work.
/// </summary>
public sealed class LayerTimings
{
    /// <summary>Ticks in forward passes.</summary>
    public long Forward { get; private set; }

    /// <summary>Ticks in backward passes, both halves.</summary>
    public long Backward { get; private set; }

    /// <summary>Ticks in the weight-gradient half of backward passes.</summary>
    public long BackwardWeights { get; private set; }

    /// <summary>Ticks in the data-gradient half: <see cref="Backward"/> − <see cref="BackwardWeights"/>.</summary>
    public long BackwardData => Backward - BackwardWeights;

    /// <summary>Forward passes recorded.</summary>
    public int ForwardCalls { get; private set; }

    /// <summary>Backward passes recorded.</summary>
    public int BackwardCalls { get; private set; }

    /// <summary>Milliseconds per call of a tick count over <paramref name="calls"/> calls.</summary>
    public static double Milliseconds(long ticks, int calls) => calls == 0 ? 0 : 1e3 * ticks / Stopwatch.Frequency / calls;

    /// <summary>Forgets everything recorded.</summary>
    public void Reset() => (Forward, Backward, BackwardWeights, ForwardCalls, BackwardCalls) = (0, 0, 0, 0, 0);

    internal void AddForward(long ticks)
    {
        Forward += ticks;
        ForwardCalls++;
    }

    internal void AddBackward(long ticks)
    {
        Backward += ticks;
        BackwardCalls++;
    }

    internal void AddBackwardWeights(long ticks) => BackwardWeights += ticks;
}

using System;
using System.Numerics;

namespace FusedOpt.Models.Initialization;

/// <summary>
/// Fills weight tensors by <see cref="InitScheme"/> from a <see cref="Rng"/>. Values are drawn in float64 and rounded
/// once to the tensor's element type, in element order, so a seed gives the same tensor on every machine.
/// </summary>
/// <remarks>
/// Conventions (as PyTorch's <c>torch.nn.init</c>): for a weight stored [fan_out, fan_in], fan_in is the number of
/// inputs of a unit and fan_out the number of units. The uniform draw is a·(2u − 1) with u ∈ [0, 1) on a 2⁻⁵³ grid;
/// the normal draw is σ·z with z from <see cref="Rng.NextGaussian"/>. He schemes use gain √2 (ReLU), folded into the
/// formulas; <c>gain</c> scales the Xavier schemes (1 for tanh/sigmoid as in the paper; 5/3 is PyTorch's tanh gain).
/// </remarks>
public static class Initializers
{
    /// <summary>The bound a of a uniform scheme or the standard deviation σ of a normal one.</summary>
    /// <param name="scheme">The scheme.</param>
    /// <param name="fanIn">Inputs per unit, ≥ 1.</param>
    /// <param name="fanOut">Units, ≥ 1.</param>
    /// <param name="gain">Gain of the Xavier schemes (ignored by He).</param>
    public static double Scale(InitScheme scheme, int fanIn, int fanOut, double gain = 1)
    {
        if (fanIn < 1 || fanOut < 1)
        {
            throw new ArgumentOutOfRangeException(fanIn < 1 ? nameof(fanIn) : nameof(fanOut), $"init: fan_in and fan_out must be ≥ 1, got fan_in = {fanIn}, fan_out = {fanOut}.");
        }

        if (!(gain > 0) || double.IsInfinity(gain))
        {
            throw new ArgumentOutOfRangeException(nameof(gain), gain, $"init: gain must be finite and > 0, got {gain}.");
        }

        return scheme switch
        {
            InitScheme.XavierUniform => gain * Math.Sqrt(6.0 / (fanIn + fanOut)),
            InitScheme.XavierNormal => gain * Math.Sqrt(2.0 / (fanIn + fanOut)),
            InitScheme.HeUniform => Math.Sqrt(6.0 / fanIn),
            InitScheme.HeNormal => Math.Sqrt(2.0 / fanIn),
            _ => throw new ArgumentOutOfRangeException(nameof(scheme), scheme, $"init: unknown scheme {(int)scheme}; expected XavierUniform, XavierNormal, HeUniform or HeNormal."),
        };
    }

    /// <summary>Fills <paramref name="weights"/> (a [fan_out, fan_in] matrix, row-major) by <paramref name="scheme"/>.</summary>
    /// <param name="scheme">The scheme.</param>
    /// <param name="weights">fan_out · fan_in values.</param>
    /// <param name="fanIn">Inputs per unit.</param>
    /// <param name="fanOut">Units.</param>
    /// <param name="rng">The generator, advanced by the draw.</param>
    /// <param name="gain">Gain of the Xavier schemes.</param>
    public static void Fill<T>(InitScheme scheme, Span<T> weights, int fanIn, int fanOut, Rng rng, double gain = 1)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(rng);
        double scale = Scale(scheme, fanIn, fanOut, gain);
        if (weights.Length != (long)fanIn * fanOut)
        {
            throw new ArgumentException($"init: {weights.Length} weights given for fan_out × fan_in = {fanOut} × {fanIn} = {(long)fanIn * fanOut}.", nameof(weights));
        }

        bool uniform = scheme is InitScheme.XavierUniform or InitScheme.HeUniform;
        for (int i = 0; i < weights.Length; i++)
        {
            double value = uniform ? scale * ((2 * rng.NextDouble()) - 1) : scale * rng.NextGaussian();
            weights[i] = T.CreateTruncating(value);
        }
    }
}

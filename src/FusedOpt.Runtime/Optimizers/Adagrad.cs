using System;
using FusedOpt;

namespace FusedOpt.Optimizers;

/// <summary>
/// Adagrad (Duchi et al., 2011) as <c>torch.optim.Adagrad</c>:
/// <code>
/// g ← g + λ·p                           (WeightDecay λ)
/// γ̃ ← γ / (1 + (t − 1)·η)               (Lr γ, LrDecay η)
/// s ← s + g²                            (s starts at InitialAccumulatorValue)
/// p ← p − γ̃ · g / (√s + ε)
/// </code>
/// </summary>
[Optimizer("adagrad", Torch = "Adagrad", Summary = "Adagrad with lr decay and an initial accumulator (torch.optim.Adagrad)")]
public partial record Adagrad(
    [NonNegative] float Lr = 1e-2f,
    [NonNegative] float LrDecay = 0f,
    [NonNegative] float WeightDecay = 0f,
    [NonNegative] float InitialAccumulatorValue = 0f,
    [NonNegative] float Eps = 1e-10f)
{
    private void Update(ref float p, float g, [InitialFrom(nameof(InitialAccumulatorValue)), NonNegative] ref float sum, int t)
    {
        if (WeightDecay != 0) g += WeightDecay * p;
        sum += g * g;
        p -= Lr / (1 + (t - 1) * LrDecay) * (g / (MathF.Sqrt(sum) + Eps));
    }
}

using System;
using FusedOpt;

namespace FusedOpt.Optimizers;

/// <summary>
/// Adadelta (Zeiler, 2012) as <c>torch.optim.Adadelta</c>:
/// <code>
/// g ← g + λ·p
/// s ← ρ·s + (1 − ρ)·g²
/// Δ ← √(u + ε) / √(s + ε) · g
/// u ← ρ·u + (1 − ρ)·Δ²
/// p ← p − γ·Δ                         (Lr γ, 1 by default as in PyTorch)
/// </code>
/// </summary>
[Optimizer("adadelta", Torch = "Adadelta", Summary = "Adadelta (torch.optim.Adadelta)")]
public partial record Adadelta(
    [NonNegative] float Lr = 1f,
    [Interval(0, 1)] float Rho = 0.9f,
    [NonNegative] float Eps = 1e-6f,
    [NonNegative] float WeightDecay = 0f)
{
    private void Update(ref float p, float g, [NonNegative] ref float squareAvg, [NonNegative] ref float accDelta)
    {
        if (WeightDecay != 0) g += WeightDecay * p;
        squareAvg = Rho * squareAvg + (1 - Rho) * g * g;
        float delta = MathF.Sqrt(accDelta + Eps) / MathF.Sqrt(squareAvg + Eps) * g;
        accDelta = Rho * accDelta + (1 - Rho) * delta * delta;
        p -= Lr * delta;
    }
}

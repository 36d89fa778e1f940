using System;
using FusedOpt;

namespace FusedOpt.Optimizers;

/// <summary>
/// RAdam (Liu et al., 2020), rectified Adam, as <c>torch.optim.RAdam</c>:
/// <code>
/// g ← g + λ·p;   m ← β₁·m + (1 − β₁)·g;   v ← β₂·v + (1 − β₂)·g²
/// ρ∞ ← 2/(1 − β₂) − 1;   ρₜ ← ρ∞ − 2t·β₂ᵗ/(1 − β₂ᵗ)
/// if ρₜ &gt; 5:  r ← √((ρₜ−4)(ρₜ−2)ρ∞ / ((ρ∞−4)(ρ∞−2)ρₜ));  p ← p − m̂·γ·√(1 − β₂ᵗ)/(√v + ε)·r
/// else:       p ← p − m̂·γ                                   (m̂ = m/(1 − β₁ᵗ))
/// </code>
/// ρₜ &gt; 5 depends only on t, so it is a switch: each step runs one branch-free kernel.
/// </summary>
[Optimizer("radam", Torch = "RAdam", Summary = "Rectified Adam (torch.optim.RAdam)")]
public partial record RAdam(
    [NonNegative] float Lr = 1e-3f,
    [Unit] float Beta1 = 0.9f,
    [Unit] float Beta2 = 0.999f,
    [NonNegative] float Eps = 1e-8f,
    [NonNegative] float WeightDecay = 0f)
{
    private void Update(ref float p, float g, ref float m, [NonNegative] ref float v, int t)
    {
        if (WeightDecay != 0) g += WeightDecay * p;
        m = Beta1 * m + (1 - Beta1) * g;
        v = Beta2 * v + (1 - Beta2) * g * g;
        float bc2 = 1 - MathF.Pow(Beta2, t);
        float mHat = m / (1 - MathF.Pow(Beta1, t));
        float rhoInf = 2 / (1 - Beta2) - 1;
        float rhoT = rhoInf - 2 * t * MathF.Pow(Beta2, t) / bc2;
        if (rhoT > 5)
        {
            float rect = MathF.Sqrt((rhoT - 4) * (rhoT - 2) * rhoInf / ((rhoInf - 4) * (rhoInf - 2) * rhoT));
            p -= mHat * Lr * (MathF.Sqrt(bc2) / (MathF.Sqrt(v) + Eps)) * rect;
        }
        else
        {
            p -= mHat * Lr;
        }
    }
}

using System;
using FusedOpt;

namespace FusedOpt.Optimizers;

/// <summary>
/// NAdam (Dozat, 2016) with the momentum schedule of <c>torch.optim.NAdam</c>:
/// <code>
/// g ← g + λ·p
/// μₜ ← β₁·(1 − ½·0.96^(t·ψ));  μₜ₊₁ likewise           (MomentumDecay ψ)
/// Πₜ ← Πₜ₋₁·μₜ                                        (a per-step state, starts at 1)
/// m ← β₁·m + (1 − β₁)·g;  v ← β₂·v + (1 − β₂)·g²
/// d ← √(v / (1 − β₂ᵗ)) + ε
/// p ← p − γ(1 − μₜ)/(1 − Πₜ) · g/d − γ·μₜ₊₁/(1 − Πₜ·μₜ·μₜ₊₁) · m/d
/// </code>
/// The second denominator is what PyTorch 1.13 computes (and what the reference trajectories record: 5e-7 against
/// 2e-2 for the alternative); PyTorch's documentation writes 1 − Πₜ₊₁ = 1 − Πₜ·μₜ₊₁ there. The two differ by a
/// factor μₜ inside a product that vanishes within ~10 steps, so they agree after the first few steps.
/// The survey's simpler Nadam (seed 004, Eq. 42) is <see cref="NadamSurvey"/>.
/// </summary>
[Optimizer("nadam", Torch = "NAdam", Summary = "NAdam with PyTorch's momentum schedule (torch.optim.NAdam)")]
public partial record NAdam(
    [NonNegative] float Lr = 2e-3f,
    [Unit] float Beta1 = 0.9f,
    [Unit] float Beta2 = 0.999f,
    [NonNegative] float Eps = 1e-8f,
    [NonNegative] float WeightDecay = 0f,
    [NonNegative] float MomentumDecay = 4e-3f)
{
    private void Update(ref float p, float g, ref float m, [NonNegative] ref float v, [InitialValue(1)] ref double muProduct, int t)
    {
        if (WeightDecay != 0) g += WeightDecay * p;
        float mu = Beta1 * (1 - 0.5f * MathF.Pow(0.96f, t * MomentumDecay));
        float muNext = Beta1 * (1 - 0.5f * MathF.Pow(0.96f, (t + 1) * MomentumDecay));
        muProduct *= mu;
        m = Beta1 * m + (1 - Beta1) * g;
        v = Beta2 * v + (1 - Beta2) * g * g;
        float denom = MathF.Sqrt(v / (1 - MathF.Pow(Beta2, t))) + Eps;
        p -= Lr * (1 - mu) / (1 - (float)muProduct) * (g / denom);
        p -= Lr * muNext / (1 - (float)(muProduct * mu * muNext)) * (m / denom);
    }
}

/// <summary>
/// Nadam as the survey writes it (Zhang, seed 004, Eq. 42 / Algorithm 10), without a momentum schedule:
/// <code>
/// m ← β₁·m + (1 − β₁)·g;   v ← β₂·v + (1 − β₂)·g²
/// m̂ ← m/(1 − β₁ᵗ);  v̂ ← v/(1 − β₂ᵗ)
/// p ← p − η/(√v̂ + ε) · (β₁·m̂ + (1 − β₁)·g/(1 − β₁ᵗ))
/// </code>
/// Algorithm 10's last line puts ε inside the root; we follow Eq. 42 (ε outside), as Adam does.
/// </summary>
[Optimizer("nadam-survey", Summary = "Nadam as in Zhang's survey, Eq. 42 (seed 004)")]
public partial record NadamSurvey(
    [NonNegative] float Lr = 2e-3f,
    [Unit] float Beta1 = 0.9f,
    [Unit] float Beta2 = 0.999f,
    [NonNegative] float Eps = 1e-8f)
{
    private void Update(ref float p, float g, ref float m, [NonNegative] ref float v, int t)
    {
        m = Beta1 * m + (1 - Beta1) * g;
        v = Beta2 * v + (1 - Beta2) * g * g;
        float bc1 = 1 - MathF.Pow(Beta1, t);
        float mHat = m / bc1;
        float vHat = v / (1 - MathF.Pow(Beta2, t));
        p -= Lr / (MathF.Sqrt(vHat) + Eps) * (Beta1 * mHat + (1 - Beta1) * g / bc1);
    }
}

using System;
using FusedOpt;

namespace FusedOpt.Optimizers;

/// <summary>
/// AdaBelief (Zhuang et al., 2020) as the authors' <c>adabelief-pytorch</c> 0.2 computes it, with decoupled weight
/// decay and ε added to the stored belief every step:
/// <code>
/// p ← p·(1 − γ·λ)
/// m ← β₁·m + (1 − β₁)·g
/// s ← β₂·s + (1 − β₂)·(g − m)² + ε          (ε is added to the stored belief every step, as the package does)
/// ŝmax ← max(ŝmax, s)                        (Amsgrad)
/// without Rectify:  p ← p − γ/(1 − β₁ᵗ) · m / (√s / √(1 − β₂ᵗ) + ε)
/// with Rectify (RAdam's N_sma):  N ← N∞ − 2t·β₂ᵗ/(1 − β₂ᵗ)
///     N ≥ 5:  p ← p − γ·√((1−β₂ᵗ)(N−4)/(N∞−4)·(N−2)/N·N∞/(N∞−2))/(1 − β₁ᵗ) · m/(√s + ε)
///     N &lt; 5:  p ← p − γ/(1 − β₁ᵗ) · m            (DegeneratedToSgd)
/// </code>
/// As in the package, the rectified branch divides by √s, not by the AMSGrad maximum. Rectification is off by default:
/// the reference trajectories (shared/reference, adabelief-pytorch 0.2) were recorded without it — they match the
/// unrectified rule to 3e-7 and the rectified one not at all.
/// </summary>
[Optimizer("adabelief", Torch = "AdaBelief", Summary = "AdaBelief as adabelief-pytorch 0.2 (decoupled decay, optional rectification)")]
public partial record AdaBelief(
    [NonNegative] float Lr = 1e-3f,
    [Unit] float Beta1 = 0.9f,
    [Unit] float Beta2 = 0.999f,
    [NonNegative] float Eps = 1e-16f,
    [NonNegative] float WeightDecay = 0f,
    bool Amsgrad = false,
    bool Rectify = false,
    bool DegeneratedToSgd = true)
{
    private void Update(ref float p, float g, ref float m, [NonNegative] ref float s, [NonNegative] ref float sMax, int t)
    {
        p *= 1 - Lr * WeightDecay;
        m = Beta1 * m + (1 - Beta1) * g;
        float r = g - m;
        s = Beta2 * s + (1 - Beta2) * r * r + Eps;
        if (Amsgrad) sMax = MathF.Max(sMax, s);
        float bc1 = 1 - MathF.Pow(Beta1, t);
        float beta2T = MathF.Pow(Beta2, t);
        float nSmaMax = 2 / (1 - Beta2) - 1;
        float nSma = nSmaMax - 2 * t * beta2T / (1 - beta2T);
        if (!Rectify)
        {
            p -= Lr / bc1 * (m / (MathF.Sqrt(Amsgrad ? sMax : s) / MathF.Sqrt(1 - beta2T) + Eps));
        }
        else if (nSma >= 5)
        {
            float stepSize = MathF.Sqrt((1 - beta2T) * (nSma - 4) / (nSmaMax - 4) * (nSma - 2) / nSma * nSmaMax / (nSmaMax - 2)) / bc1;
            p -= stepSize * Lr * (m / (MathF.Sqrt(s) + Eps));
        }
        else if (DegeneratedToSgd)
        {
            p -= 1 / bc1 * Lr * m;
        }
    }
}

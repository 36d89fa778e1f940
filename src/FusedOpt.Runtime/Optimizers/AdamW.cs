using System;
using FusedOpt;

namespace FusedOpt.Optimizers;

/// <summary>
/// AdamW (Loshchilov &amp; Hutter, 2019): Adam with decoupled weight decay, as <c>torch.optim.AdamW</c>:
/// <code>
/// p ← p · (1 − γ·λ)                              (decay first, not through the gradient)
/// m ← β₁·m + (1 − β₁)·g;  v ← β₂·v + (1 − β₂)·g²;  v̂max ← max(v̂max, v) (Amsgrad)
/// p ← p − γ/(1 − β₁ᵗ) · m / (√v / √(1 − β₂ᵗ) + ε)
/// </code>
/// PyTorch's default weight decay for AdamW is 1e-2.
/// </summary>
[Optimizer("adamw", Torch = "AdamW", Summary = "Adam with decoupled weight decay and AMSGrad (torch.optim.AdamW)")]
public partial record AdamW(
    [NonNegative] float Lr = 1e-3f,
    [Unit] float Beta1 = 0.9f,
    [Unit] float Beta2 = 0.999f,
    [NonNegative] float Eps = 1e-8f,
    [NonNegative] float WeightDecay = 1e-2f,
    bool Amsgrad = false)
{
    private void Update(ref float p, float g, ref float m, [NonNegative] ref float v, [NonNegative] ref float vMax, int t)
    {
        p *= 1 - Lr * WeightDecay;
        m = Beta1 * m + (1 - Beta1) * g;
        v = Beta2 * v + (1 - Beta2) * g * g;
        if (Amsgrad) vMax = MathF.Max(vMax, v);
        float denom = MathF.Sqrt(Amsgrad ? vMax : v) / MathF.Sqrt(1 - MathF.Pow(Beta2, t)) + Eps;
        p -= Lr / (1 - MathF.Pow(Beta1, t)) * (m / denom);
    }
}

using System;
using FusedOpt;

namespace FusedOpt.Optimizers;

/// <summary>
/// Adam (Kingma &amp; Ba, 2015) with L2 weight decay and AMSGrad (Reddi et al., 2018), as <c>torch.optim.Adam</c>:
/// <code>
/// g ← g + λ·p                                   (WeightDecay λ: L2, added to the gradient)
/// m ← β₁·m + (1 − β₁)·g
/// v ← β₂·v + (1 − β₂)·g²
/// v̂max ← max(v̂max, v)                           (Amsgrad)
/// p ← p − γ/(1 − β₁ᵗ) · m / (√v / √(1 − β₂ᵗ) + ε)
/// </code>
/// The generator hoists γ/(1 − β₁ᵗ) and √(1 − β₂ᵗ) out of the element loop (float64, once per step) and allocates
/// vMax only when <see cref="Amsgrad"/> is on. For decoupled weight decay use <see cref="AdamW"/>.
/// </summary>
[Optimizer("adam", Torch = "Adam", Summary = "Adam with L2 weight decay and AMSGrad (torch.optim.Adam)")]
public partial record Adam(
    [NonNegative] float Lr = 1e-3f,
    [Unit] float Beta1 = 0.9f,
    [Unit] float Beta2 = 0.999f,
    [NonNegative] float Eps = 1e-8f,
    [NonNegative] float WeightDecay = 0f,
    bool Amsgrad = false)
{
    private void Update(ref float p, float g, ref float m, [NonNegative] ref float v, [NonNegative] ref float vMax, int t)
    {
        if (WeightDecay != 0) g += WeightDecay * p;
        m = Beta1 * m + (1 - Beta1) * g;
        v = Beta2 * v + (1 - Beta2) * g * g;
        if (Amsgrad) vMax = MathF.Max(vMax, v);
        float denom = MathF.Sqrt(Amsgrad ? vMax : v) / MathF.Sqrt(1 - MathF.Pow(Beta2, t)) + Eps;
        p -= Lr / (1 - MathF.Pow(Beta1, t)) * (m / denom);
    }
}

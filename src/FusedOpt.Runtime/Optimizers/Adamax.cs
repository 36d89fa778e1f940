using System;
using FusedOpt;

namespace FusedOpt.Optimizers;

/// <summary>
/// Adamax (Kingma &amp; Ba, 2015, §7.1), Adam with the infinity norm, as <c>torch.optim.Adamax</c>:
/// <code>
/// g ← g + λ·p
/// m ← β₁·m + (1 − β₁)·g
/// u ← max(β₂·u, |g| + ε)
/// p ← p − γ/(1 − β₁ᵗ) · m / u
/// </code>
/// </summary>
[Optimizer("adamax", Torch = "Adamax", Summary = "Adamax, Adam with the infinity norm (torch.optim.Adamax)")]
public partial record Adamax(
    [NonNegative] float Lr = 2e-3f,
    [Unit] float Beta1 = 0.9f,
    [Unit] float Beta2 = 0.999f,
    [NonNegative] float Eps = 1e-8f,
    [NonNegative] float WeightDecay = 0f)
{
    private void Update(ref float p, float g, ref float m, [NonNegative] ref float u, int t)
    {
        if (WeightDecay != 0) g += WeightDecay * p;
        m = Beta1 * m + (1 - Beta1) * g;
        u = MathF.Max(Beta2 * u, MathF.Abs(g) + Eps);
        p -= Lr / (1 - MathF.Pow(Beta1, t)) * (m / u);
    }
}

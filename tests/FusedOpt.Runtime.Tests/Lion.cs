using System;

namespace FusedOpt.Tests;

/// <summary>
/// Lion (Chen et al., 2023, "Symbolic Discovery of Optimization Algorithms"), declared here, in the test project, in
/// the same few lines a user would write: the proof that a new optimizer needs nothing but its rule.
/// <code>
/// p ← p·(1 − γλ);   p ← p − γ·sign(β₁·m + (1 − β₁)·g);   m ← β₂·m + (1 − β₂)·g
/// </code>
/// </summary>
[Optimizer("lion", Summary = "Lion: sign of an interpolated momentum (Chen et al., 2023)")]
public partial record Lion([NonNegative] float Lr = 1e-4f, [Unit] float Beta1 = 0.9f, [Unit] float Beta2 = 0.99f, [NonNegative] float WeightDecay = 0f)
{
    private void Update(ref float p, float g, ref float m)
    {
        p *= 1 - Lr * WeightDecay;
        p -= Lr * MathF.Sign(Beta1 * m + (1 - Beta1) * g);
        m = Beta2 * m + (1 - Beta2) * g;
    }
}

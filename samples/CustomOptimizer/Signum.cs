using System;
using FusedOpt;

namespace CustomOptimizer;

/// <summary>
/// Signum, sign descent with momentum (Bernstein et al., 2018, "signSGD: Compressed Optimisation for Non-Convex
/// Problems"): the whole optimizer. The FusedOpt generator turns it into fused AVX-512 / AVX2 / scalar kernels.
/// <code>
/// m ← β·m + (1 − β)·g;   p ← p − γ·sign(m)
/// </code>
/// </summary>
[Optimizer("signum", Summary = "Signum: sign of the momentum (Bernstein et al., 2018)")]
public partial record Signum([NonNegative] float Lr = 1e-3f, [Unit] float Beta = 0.9f)
{
    private void Update(ref float p, float g, ref float m)
    {
        m = Beta * m + (1 - Beta) * g;
        p -= Lr * MathF.Sign(m);
    }
}

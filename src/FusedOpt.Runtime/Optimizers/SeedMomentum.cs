using FusedOpt;

namespace FusedOpt.Optimizers;

/// <summary>
/// Momentum as an exponential moving average of gradients (Zhang, "Gradient Descent based Optimization Algorithms
/// for Deep Learning Models Training", Algorithm 4; seed 004):
/// <code>
/// v ← ρ·v + (1 − ρ)·g
/// p ← p − η·v
/// </code>
/// Unlike <see cref="Sgd"/>, the gradient is damped by (1 − ρ), so the same η takes smaller steps.
/// </summary>
[Optimizer("sgd-ema", Summary = "EMA momentum v = ρv + (1−ρ)g; p -= ηv (Zhang, seed 004)")]
public partial record SgdEma(
    [NonNegative] float Lr = 1e-2f,
    [Interval(0, 1)] float Rho = 0.9f)
{
    private void Update(ref float p, float g, ref float v)
    {
        v = Rho * v + (1 - Rho) * g;
        p -= Lr * v;
    }
}

/// <summary>
/// Momentum in velocity form, as the FCN study implements it (Fischer, seed 001, Figure 3; CS231n):
/// <code>
/// v ← μ·v − η·dw
/// w ← w + v
/// </code>
/// With a constant η this is the same trajectory as <see cref="Sgd"/> with momentum; it differs when η changes,
/// because v stores η-scaled steps.
/// </summary>
[Optimizer("sgd-momentum", Summary = "Velocity momentum v = μv − η·dw; w += v (Fischer FCN study, seed 001)")]
public partial record SgdMomentum(
    [NonNegative] float Lr = 1e-2f,
    [Interval(0, 1)] float Mu = 0.9f)
{
    private void Update(ref float p, float g, ref float v)
    {
        v = Mu * v - Lr * g;
        p += v;
    }
}

/// <summary>
/// Nesterov momentum in the FCN study's form (Fischer, seed 001, Figure 5; CS231n), where the stored parameters are
/// the look-ahead ones:
/// <code>
/// v_prev ← v
/// v ← μ·v − η·dw
/// w ← w + v + μ·(v − v_prev)
/// </code>
/// </summary>
[Optimizer("sgd-nesterov", Summary = "Nesterov momentum w += v + μ(v − v_prev) (Fischer FCN study, seed 001)")]
public partial record SgdNesterov(
    [NonNegative] float Lr = 1e-2f,
    [Interval(0, 1)] float Mu = 0.9f)
{
    private void Update(ref float p, float g, ref float v)
    {
        float vPrev = v;
        v = Mu * v - Lr * g;
        p += v + Mu * (v - vPrev);
    }
}

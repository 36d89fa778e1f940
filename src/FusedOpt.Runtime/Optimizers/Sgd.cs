using FusedOpt;

namespace FusedOpt.Optimizers;

/// <summary>
/// Stochastic gradient descent with optional L2 weight decay, momentum, dampening and Nesterov momentum, exactly as
/// <c>torch.optim.SGD</c>:
/// <code>
/// g ← g + λ·p                               (WeightDecay λ ≠ 0)
/// b ← g                    on the first step (momentum μ ≠ 0)
/// b ← μ·b + (1 − τ)·g      afterwards        (Dampening τ)
/// g ← g + μ·b  if Nesterov, else g ← b
/// p ← p − γ·g                               (Lr γ)
/// </code>
/// PyTorch 1.x had no default learning rate; we use PyTorch 2's 1e-3.
/// </summary>
[Optimizer("sgd", Torch = "SGD", Summary = "SGD with weight decay, momentum, dampening and Nesterov (torch.optim.SGD)")]
[Constraint("!Nesterov || (Momentum > 0 && Dampening == 0)", "Nesterov momentum requires a momentum > 0 and zero dampening.")]
public partial record Sgd(
    [NonNegative] float Lr = 1e-3f,
    [NonNegative] float Momentum = 0f,
    float Dampening = 0f,
    [NonNegative] float WeightDecay = 0f,
    bool Nesterov = false)
{
    private void Update(ref float p, float g, ref float buf, int t)
    {
        if (WeightDecay != 0) g += WeightDecay * p;
        if (Momentum != 0)
        {
            buf = t == 1 ? g : Momentum * buf + (1 - Dampening) * g;
            g = Nesterov ? g + Momentum * buf : buf;
        }

        p -= Lr * g;
    }
}

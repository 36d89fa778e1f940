using System;
using FusedOpt;

namespace FusedOpt.Optimizers;

/// <summary>
/// RMSprop (Hinton, lecture 6e) as <c>torch.optim.RMSprop</c>, with L2 weight decay, momentum and the centered
/// variant (Graves, 2013):
/// <code>
/// g ← g + λ·p
/// s ← α·s + (1 − α)·g²
/// ḡ ← α·ḡ + (1 − α)·g                    (Centered)
/// d ← √(s − ḡ²) + ε  if Centered, else √s + ε
/// b ← μ·b + g / d;  p ← p − γ·b          (Momentum μ &gt; 0)
/// p ← p − γ·g / d                         (otherwise)
/// </code>
/// Note ε is added outside the root, as in PyTorch (Keras adds it inside). α is limited to [0, 1], where PyTorch only
/// asks α ≥ 0: with α &gt; 1 the first step makes s = (1 − α)·g² negative and √s NaN, and s is declared
/// <c>[NonNegative]</c> (its compressed form uses the unsigned code).
/// </summary>
[Optimizer("rmsprop", Torch = "RMSprop", Summary = "RMSprop with momentum and the centered variant (torch.optim.RMSprop)")]
public partial record RmsProp(
    [NonNegative] float Lr = 1e-2f,
    [Interval(0, 1)] float Alpha = 0.99f,
    [NonNegative] float Eps = 1e-8f,
    [NonNegative] float WeightDecay = 0f,
    [NonNegative] float Momentum = 0f,
    bool Centered = false)
{
    private void Update(ref float p, float g, [NonNegative] ref float squareAvg, ref float gradAvg, ref float buf)
    {
        if (WeightDecay != 0) g += WeightDecay * p;
        squareAvg = Alpha * squareAvg + (1 - Alpha) * g * g;
        if (Centered) gradAvg = Alpha * gradAvg + (1 - Alpha) * g;
        float avg = MathF.Sqrt(Centered ? squareAvg - gradAvg * gradAvg : squareAvg) + Eps;
        if (Momentum > 0)
        {
            buf = Momentum * buf + g / avg;
            p -= Lr * buf;
        }
        else
        {
            p -= Lr * (g / avg);
        }
    }
}

using System;

namespace FusedOpt.Models.Losses;

/// <summary>
/// Mean absolute error (seed 004, eq. 2): ℓ(ŷ, y) = (1/C) Σⱼ |yⱼ − ŷⱼ| per row, averaged over the batch:
/// L = (1/(B·C)) Σ |ŷ − y|; ∂L/∂ŷ = sign(ŷ − y)/(B·C), taking 0 at ŷ = y (the subgradient PyTorch uses).
/// With class labels the target is the one-hot vector of the label.
/// </summary>
public sealed class MeanAbsoluteError : PointwiseLoss
{
    /// <inheritdoc />
    public override string Name => "mae";

    /// <inheritdoc />
    protected override (double Loss, double Derivative) Pointwise(double d) => (Math.Abs(d), Math.Sign(d));
}

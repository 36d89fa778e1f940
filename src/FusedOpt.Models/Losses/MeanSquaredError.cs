using System;

namespace FusedOpt.Models.Losses;

/// <summary>
/// Mean squared error (seed 004, eq. 1): ℓ(ŷ, y) = (1/C) Σⱼ (yⱼ − ŷⱼ)² per row, averaged over the batch:
/// L = (1/(B·C)) Σ (ŷ − y)², as PyTorch's <c>MSELoss(reduction="mean")</c>; ∂L/∂ŷ = 2(ŷ − y)/(B·C).
/// With class labels the target is the one-hot vector of the label.
/// </summary>
public sealed class MeanSquaredError : PointwiseLoss
{
    /// <inheritdoc />
    public override string Name => "mse";

    /// <inheritdoc />
    protected override (double Loss, double Derivative) Pointwise(double d) => (d * d, 2 * d);
}

using System;
using System.Numerics;

namespace FusedOpt.Models.Losses;

/// <summary>
/// Mean squared error (seed 004, eq. 1): ℓ(ŷ, y) = (1/C) Σⱼ (yⱼ − ŷⱼ)² per row, averaged over the batch:
/// L = (1/(B·C)) Σ (ŷ − y)², as PyTorch's <c>MSELoss(reduction="mean")</c>; ∂L/∂ŷ = 2(ŷ − y)/(B·C).
/// With class labels the target is the one-hot vector of the label.
/// </summary>
public sealed class MeanSquaredError : ILoss
{
    /// <inheritdoc />
    public string Name => "mse";

    /// <inheritdoc />
    public double Evaluate<T>(ReadOnlySpan<T> outputs, ReadOnlySpan<int> labels, int classes, Span<T> gradient)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        LossArguments.Validate(Name, outputs, labels, classes, gradient);
        double scale = 1.0 / outputs.Length;
        double total = 0;
        for (int i = 0; i < outputs.Length; i++)
        {
            double target = i % classes == labels[i / classes] ? 1 : 0;
            total += Term(outputs[i], target, scale, gradient, i);
        }

        return total * scale;
    }

    /// <summary>The same loss against dense targets of the outputs' shape (regression).</summary>
    /// <param name="outputs">Model outputs, any shape.</param>
    /// <param name="targets">Targets, the same length.</param>
    /// <param name="gradient">dL/d(outputs), overwritten; or empty.</param>
    public double Evaluate<T>(ReadOnlySpan<T> outputs, ReadOnlySpan<T> targets, Span<T> gradient)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        LossArguments.ValidateDense(Name, outputs, targets, gradient);
        double scale = 1.0 / outputs.Length;
        double total = 0;
        for (int i = 0; i < outputs.Length; i++)
        {
            total += Term(outputs[i], double.CreateTruncating(targets[i]), scale, gradient, i);
        }

        return total * scale;
    }

    private static double Term<T>(T output, double target, double scale, Span<T> gradient, int i)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        double d = double.CreateTruncating(output) - target;
        if (!gradient.IsEmpty)
        {
            gradient[i] = T.CreateTruncating(2 * d * scale);
        }

        return d * d;
    }
}

using System;
using System.Numerics;

namespace FusedOpt.Models.Losses;

/// <summary>
/// A loss that is the mean over every output of a function of the difference d = ŷ − y (MSE: d², MAE: |d|), against
/// one-hot class targets or dense targets. Subclasses give the function and its derivative.
/// </summary>
public abstract class PointwiseLoss : ILoss
{
    /// <inheritdoc />
    public abstract string Name { get; }

    /// <summary>The loss of one output and its derivative with respect to the output, for d = ŷ − y.</summary>
    protected abstract (double Loss, double Derivative) Pointwise(double d);

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

    private double Term<T>(T output, double target, double scale, Span<T> gradient, int i)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (loss, derivative) = Pointwise(double.CreateTruncating(output) - target);
        if (!gradient.IsEmpty)
        {
            gradient[i] = T.CreateTruncating(derivative * scale);
        }

        return loss;
    }
}

using System;
using System.Numerics;

namespace FusedOpt.Models.Losses;

/// <summary>
/// A loss over a batch of model outputs [B, C] (row-major) and integer class labels [B]: returns the mean loss and
/// writes dL/d(outputs), the gradient a model's <see cref="Sequential{T}.Backward"/> takes.
/// </summary>
/// <remarks>
/// Sums are accumulated in float64 whatever <c>T</c> is; the gradient is rounded to <c>T</c> once per element. The
/// loss is the mean over the batch, so the gradient carries a factor 1/B.
/// </remarks>
public interface ILoss
{
    /// <summary>Short name for reports and the command line, e.g. <c>cross-entropy</c>.</summary>
    string Name { get; }

    /// <summary>The mean loss over the batch; writes dL/d(outputs) into <paramref name="gradient"/> unless it is empty.</summary>
    /// <param name="outputs">Model outputs [B, <paramref name="classes"/>].</param>
    /// <param name="labels">Class index of each row, in [0, <paramref name="classes"/>).</param>
    /// <param name="classes">Outputs per row.</param>
    /// <param name="gradient">dL/d(outputs) [B, <paramref name="classes"/>], overwritten; or empty to skip it.</param>
    double Evaluate<T>(ReadOnlySpan<T> outputs, ReadOnlySpan<int> labels, int classes, Span<T> gradient)
        where T : unmanaged, IFloatingPointIeee754<T>;
}

/// <summary>Argument checks shared by the losses.</summary>
internal static class LossArguments
{
    /// <summary>Throws unless the spans hold B = labels.Length rows of <paramref name="classes"/> and every label is in range.</summary>
    public static void Validate<T>(string loss, ReadOnlySpan<T> outputs, ReadOnlySpan<int> labels, int classes, Span<T> gradient)
    {
        if (classes < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(classes), classes, $"{loss}: classes must be ≥ 1, got {classes}.");
        }

        if (labels.Length == 0)
        {
            throw new ArgumentException($"{loss}: the batch is empty (no labels).", nameof(labels));
        }

        long expected = (long)labels.Length * classes;
        if (outputs.Length != expected)
        {
            throw new ArgumentException($"{loss}: outputs hold {outputs.Length} values but {labels.Length} labels × {classes} classes need {expected}.", nameof(outputs));
        }

        if (!gradient.IsEmpty && gradient.Length != expected)
        {
            throw new ArgumentException($"{loss}: the gradient holds {gradient.Length} values but must match the outputs' {expected} (or be empty).", nameof(gradient));
        }

        for (int i = 0; i < labels.Length; i++)
        {
            if ((uint)labels[i] >= (uint)classes)
            {
                throw new ArgumentOutOfRangeException(nameof(labels), labels[i], $"{loss}: label {labels[i]} of row {i} is outside [0, {classes}).");
            }
        }
    }

    /// <summary>Throws unless outputs and dense targets have the same, non-zero length.</summary>
    public static void ValidateDense<T>(string loss, ReadOnlySpan<T> outputs, ReadOnlySpan<T> targets, Span<T> gradient)
    {
        if (outputs.Length == 0 || outputs.Length != targets.Length)
        {
            throw new ArgumentException($"{loss}: outputs hold {outputs.Length} values and targets {targets.Length}; they must be equal and non-zero.", nameof(targets));
        }

        if (!gradient.IsEmpty && gradient.Length != outputs.Length)
        {
            throw new ArgumentException($"{loss}: the gradient holds {gradient.Length} values but must match the outputs' {outputs.Length} (or be empty).", nameof(gradient));
        }
    }
}

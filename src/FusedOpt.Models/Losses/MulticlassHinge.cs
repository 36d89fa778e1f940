using System;
using System.Numerics;

namespace FusedOpt.Models.Losses;

/// <summary>
/// The multiclass hinge loss of Weston and Watkins (1999), as in cs231n and seed 004 (eq. 3): for scores z and
/// label y of one row, ℓ = Σ_{j ≠ y} max(0, zⱼ − z_y + Δ) with margin Δ (1 by default); L = (1/B) Σ_rows ℓ.
/// </summary>
/// <remarks>
/// Subgradient: for each j ≠ y with zⱼ − z_y + Δ &gt; 0 (a violated margin), ∂L/∂zⱼ = 1/B and ∂L/∂z_y −= 1/B;
/// a term exactly at 0 counts as inactive. Seed 004's worked example: scores [0.49, 0.43, 0.08] with label 0 give
/// ℓ = max(0, 0.43 − 0.49 + 1) + max(0, 0.08 − 0.49 + 1) = 0.94 + 0.59 = 1.53.
/// </remarks>
public sealed class MulticlassHinge : ILoss
{
    /// <summary>Creates the loss with margin <paramref name="margin"/> (Δ &gt; 0).</summary>
    public MulticlassHinge(double margin = 1)
    {
        if (!(margin > 0) || double.IsInfinity(margin))
        {
            throw new ArgumentOutOfRangeException(nameof(margin), margin, $"hinge: the margin must be finite and > 0, got {margin}.");
        }

        Margin = margin;
    }

    /// <summary>The margin Δ.</summary>
    public double Margin { get; }

    /// <inheritdoc />
    public string Name => "hinge";

    /// <inheritdoc />
    public double Evaluate<T>(ReadOnlySpan<T> outputs, ReadOnlySpan<int> labels, int classes, Span<T> gradient)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        LossArguments.Validate(Name, outputs, labels, classes, gradient);
        int batch = labels.Length;
        double invBatch = 1.0 / batch;
        T step = T.CreateTruncating(invBatch);
        double total = 0;
        for (int r = 0; r < batch; r++)
        {
            ReadOnlySpan<T> z = outputs.Slice(r * classes, classes);
            int y = labels[r];
            double zy = double.CreateTruncating(z[y]);
            Span<T> g = gradient.IsEmpty ? [] : gradient.Slice(r * classes, classes);
            int violated = 0;
            for (int j = 0; j < classes; j++)
            {
                double term = j == y ? 0 : double.CreateTruncating(z[j]) - zy + Margin;
                bool active = term > 0;
                if (active)
                {
                    total += term;
                    violated++;
                }

                if (!g.IsEmpty)
                {
                    g[j] = active ? step : T.Zero;
                }
            }

            if (!g.IsEmpty)
            {
                g[y] = T.CreateTruncating(-violated * invBatch);
            }
        }

        return total * invBatch;
    }
}

using System;
using System.Numerics;

namespace FusedOpt.Models.Losses;

/// <summary>
/// Softmax followed by cross-entropy, fused: for logits z and label y of one row,
/// ℓ = −log softmax(z)_y = log Σⱼ e^{zⱼ} − z_y, computed stably as m + log Σⱼ e^{zⱼ − m} with m = maxⱼ zⱼ (no
/// exponent exceeds 0, so nothing overflows). L = (1/B) Σ_rows ℓ.
/// </summary>
/// <remarks>
/// Gradient: ∂L/∂zⱼ = (softmax(z)ⱼ − [j = y]) / B, with softmax(z)ⱼ = e^{zⱼ − m} / Σₖ e^{zₖ − m}.
/// Seed 004 (eq. 4) writes cross-entropy on probabilities, ℓ = −Σⱼ yⱼ log ŷⱼ; with ŷ = softmax(z) and one-hot y
/// it is this loss. Its worked example (ŷ₁ = [0.49, 0.43, 0.08], dog: ℓ = 0.713) is reproduced by logits z = log ŷ.
/// </remarks>
public sealed class SoftmaxCrossEntropy : ILoss
{
    /// <inheritdoc />
    public string Name => "cross-entropy";

    /// <inheritdoc />
    public double Evaluate<T>(ReadOnlySpan<T> outputs, ReadOnlySpan<int> labels, int classes, Span<T> gradient)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        LossArguments.Validate(Name, outputs, labels, classes, gradient);
        int batch = labels.Length;
        double invBatch = 1.0 / batch;
        double total = 0;
        for (int r = 0; r < batch; r++)
        {
            ReadOnlySpan<T> z = outputs.Slice(r * classes, classes);
            double max = double.NegativeInfinity;
            for (int j = 0; j < classes; j++)
            {
                max = Math.Max(max, double.CreateTruncating(z[j]));
            }

            double sum = 0;
            for (int j = 0; j < classes; j++)
            {
                sum += Math.Exp(double.CreateTruncating(z[j]) - max);
            }

            int y = labels[r];
            double logSum = Math.Log(sum);
            total += logSum + max - double.CreateTruncating(z[y]);

            if (!gradient.IsEmpty)
            {
                Span<T> g = gradient.Slice(r * classes, classes);
                double inv = 1 / sum;
                for (int j = 0; j < classes; j++)
                {
                    double p = Math.Exp(double.CreateTruncating(z[j]) - max) * inv;
                    g[j] = T.CreateTruncating((p - (j == y ? 1 : 0)) * invBatch);
                }
            }
        }

        return total * invBatch;
    }
}

using System;
using System.Numerics;

namespace FusedOpt.Models.Losses;

/// <summary>Classification metrics over model outputs [B, C].</summary>
public static class Metrics
{
    /// <summary>Rows whose highest score (the first, on ties) is at the label's index.</summary>
    public static int CountCorrect<T>(ReadOnlySpan<T> outputs, ReadOnlySpan<int> labels, int classes)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        LossArguments.Validate("accuracy", outputs, labels, classes, []);
        int correct = 0;
        for (int r = 0; r < labels.Length; r++)
        {
            ReadOnlySpan<T> z = outputs.Slice(r * classes, classes);
            int best = 0;
            for (int j = 1; j < classes; j++)
            {
                if (z[j] > z[best])
                {
                    best = j;
                }
            }

            correct += best == labels[r] ? 1 : 0;
        }

        return correct;
    }
}

using System;
using System.Collections.Generic;
using System.Linq;

namespace FusedOpt.Models.Losses;

/// <summary>The losses by name, for the command line: <c>cross-entropy</c>, <c>hinge</c>, <c>mse</c>, <c>mae</c>.</summary>
public static class LossCatalog
{
    /// <summary>One instance of every loss (hinge with margin 1).</summary>
    public static IReadOnlyList<ILoss> All { get; } = [new SoftmaxCrossEntropy(), new MulticlassHinge(), new MeanSquaredError(), new MeanAbsoluteError()];

    /// <summary>The loss named <paramref name="name"/> (case-insensitive; <c>ce</c> is accepted for cross-entropy).</summary>
    public static ILoss Get(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        string key = name.Trim().ToLowerInvariant();
        if (key is "ce" or "softmax-cross-entropy")
        {
            key = "cross-entropy";
        }

        return All.FirstOrDefault(l => l.Name == key)
            ?? throw new ArgumentException($"'{name}' is not a loss; expected one of {string.Join(", ", All.Select(static l => l.Name))}.", nameof(name));
    }
}

using System;

namespace FusedOpt.Models.Layers;

/// <summary>
/// A tensor a layer keeps between batches but never trains — BatchNorm's running mean and variance. Buffers live
/// beside the parameters: checkpoints save and restore them, optimizers never step them.
/// </summary>
/// <param name="Name">Unique within the model, PyTorch-style (<c>{layer}.running_mean</c>).</param>
/// <param name="Values">The values, owned by the layer and updated in place.</param>
/// <typeparam name="T"><see cref="float"/> or <see cref="double"/>.</typeparam>
public sealed record LayerBuffer<T>(string Name, T[] Values)
    where T : unmanaged
{
    /// <summary>The values as a span.</summary>
    public Span<T> Span => Values;
}

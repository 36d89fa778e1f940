using System;
using System.Collections.Generic;
using System.Numerics;
using FusedOpt.Models;
using FusedOpt.Models.Layers;

namespace FusedOpt.Tests.Training;

/// <summary>
/// A test-only layer with a buffer, standing in for BatchNorm's running statistics: y = x, and in training mode each
/// feature's running mean moves 10% towards the batch mean (m ← 0.9·m + 0.1·mean). Evaluation leaves it alone.
/// </summary>
internal sealed class RunningMeanLayer<T> : Layer<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly LayerBuffer<T> _mean;

    public RunningMeanLayer(string name, int features)
        : base(name, features, features)
    {
        _mean = new LayerBuffer<T>(name + ".running_mean", new T[features]);
    }

    public override LayerSpec Spec => new RunningMeanSpec(InputFeatures, Name);

    public override IReadOnlyList<LayerBuffer<T>> Buffers => [_mean];

    public override void Forward(MatMul<T> matMul, ReadOnlySpan<T> x, Span<T> y, int batch, bool training)
    {
        x.CopyTo(y);
        if (!training)
        {
            return;
        }

        T decay = T.CreateChecked(0.9), step = T.CreateChecked(0.1), rows = T.CreateChecked(batch);
        var mean = _mean.Span;
        for (int j = 0; j < InputFeatures; j++)
        {
            T sum = T.Zero;
            for (int b = 0; b < batch; b++)
            {
                sum += x[(b * InputFeatures) + j];
            }

            mean[j] = (decay * mean[j]) + (step * (sum / rows));
        }
    }

    public override void Backward(MatMul<T> matMul, ReadOnlySpan<T> x, ReadOnlySpan<T> y, ReadOnlySpan<T> dy, Span<T> dx, int batch, bool inputGradient)
    {
        if (inputGradient)
        {
            dy.CopyTo(dx);
        }
    }
}

/// <summary>The spec of <see cref="RunningMeanLayer{T}"/>.</summary>
internal sealed record RunningMeanSpec(int Features, string Name) : LayerSpec
{
    public override Layer<T> Create<T>() => new RunningMeanLayer<T>(Name, Features);
}

using System;
using System.Collections.Generic;
using FusedOpt.Memory;
using FusedOpt.Models.Data;
using FusedOpt.Models.Initialization;
using FusedOpt.Models.Layers;
using FusedOpt.Models.Losses;
using FusedOpt.Optimizers;

namespace FusedOpt.Models.Gadam;

/// <summary>
/// One unit model of the population: its network, its arena (parameters and gradients), its Adam, and its own batch
/// buffers, so members can train on different threads at once. A slot is reused: a child is written into the slot of a
/// member that did not survive.
/// </summary>
internal sealed class GadamMember : IDisposable
{
    private const int Classes = 10;
    private readonly GadamOptions _options;
    private readonly float[] _images;
    private readonly int[] _labels;
    private readonly float[] _dLogits;
    private readonly SoftmaxCrossEntropy _loss = new();

    public GadamMember(ModelSpec spec, GadamOptions options)
    {
        _options = options;
        Model = spec.Build<float>(options.MemberThreads, options.Isa);
        Arena = new ParameterArena();
        Model.Register(Arena);
        Arena.Build();
        Optimizer = CreateOptimizer();
        int rows = Math.Max(options.BatchSize, GadamOptions.EvalChunk);
        _images = new float[rows * Cifar10Layout.ImageSize];
        _labels = new int[rows];
        _dLogits = new float[rows * Classes];
    }

    public Sequential<float> Model { get; }

    public ParameterArena Arena { get; }

    public Optimizer Optimizer { get; private set; }

    /// <summary>A fresh Adam (zero moments, step 0): what a child starts with.</summary>
    public void ResetOptimizer()
    {
        Optimizer.Dispose();
        Optimizer = CreateOptimizer();
    }

    /// <summary>
    /// Eq. 43: <paramref name="epochs"/> epochs of Adam over <paramref name="train"/> in batches drawn by this
    /// member's own stream <paramref name="seed"/>. Returns the summed batch losses (× rows) and the images seen.
    /// </summary>
    public (double LossSum, long Images) Train(ImageSet train, ChannelNormalization normalization, ulong seed, int epochs)
    {
        var batches = new MinibatchIterator(train, normalization, new MinibatchOptions { BatchSize = _options.BatchSize, Seed = seed });
        Model.Reseed(seed);
        double lossSum = 0;
        long images = 0;
        for (int e = 0; e < epochs; e++)
        {
            while (batches.TryNext(_images, _labels, out int count))
            {
                Arena.ZeroGrads();
                var logits = Model.Forward(_images.AsSpan(0, count * Cifar10Layout.ImageSize), count, training: true);
                double loss = _loss.Evaluate(logits, _labels.AsSpan(0, count), Classes, _dLogits.AsSpan(0, count * Classes));
                Model.Backward(_dLogits.AsSpan(0, count * Classes));
                Optimizer.Step();
                lossSum += loss * count;
                images += count;
            }
        }

        return (lossSum, images);
    }

    /// <summary>
    /// Eq. 44, averaged: the mean cross-entropy over <paramref name="count"/> prepared rows, computed in forward passes of
    /// <see cref="GadamOptions.EvalChunk"/> rows (fixed, so the value does not depend on where it is computed).
    /// </summary>
    public double Loss(ReadOnlySpan<float> inputs, ReadOnlySpan<int> labels, int count)
    {
        double sum = 0;
        for (int start = 0; start < count; start += GadamOptions.EvalChunk)
        {
            int rows = Math.Min(GadamOptions.EvalChunk, count - start);
            var logits = Model.Forward(inputs.Slice(start * Cifar10Layout.ImageSize, rows * Cifar10Layout.ImageSize), rows, training: false);
            sum += _loss.Evaluate(logits, labels.Slice(start, rows), Classes, Span<float>.Empty) * rows;
        }

        return sum / count;
    }

    /// <summary>Mean loss and accuracy over a whole image set, in evaluation mode.</summary>
    public (double Loss, double Accuracy) Evaluate(ImageSet images, ChannelNormalization normalization)
    {
        var batches = new MinibatchIterator(images, normalization, MinibatchOptions.Sequential(GadamOptions.EvalChunk));
        double lossSum = 0;
        long correct = 0, seen = 0;
        while (batches.TryNext(_images, _labels, out int count))
        {
            var logits = Model.Forward(_images.AsSpan(0, count * Cifar10Layout.ImageSize), count, training: false);
            lossSum += _loss.Evaluate(logits, _labels.AsSpan(0, count), Classes, Span<float>.Empty) * count;
            correct += Metrics.CountCorrect(logits, _labels.AsSpan(0, count), Classes);
            seen += count;
        }

        return (lossSum / Math.Max(seen, 1), (double)correct / Math.Max(seen, 1));
    }

    /// <summary>
    /// What a mutated element of each tensor becomes (eq. 48): rand(0, 1) everywhere, or a redraw from the tensor's own
    /// initializer — a linear layer's weights by its He/Xavier scheme, its biases 0.
    /// </summary>
    public Dictionary<string, MutationValue> MutationValues(MutationMode mode)
    {
        var values = new Dictionary<string, MutationValue>(StringComparer.Ordinal);
        foreach (var layer in Model.Layers)
        {
            if (layer.Parameters.Count == 0)
            {
                continue;
            }

            if (mode == MutationMode.Uniform)
            {
                foreach (var t in layer.Parameters)
                {
                    values[t.Name] = new MutationValue(MutationDraw.Unit);
                }

                continue;
            }

            if (layer is not Linear<float> linear)
            {
                throw new ArgumentException($"gadam: --mutation init does not know the initializer of layer '{layer.Name}' ({layer.Spec}); use --mutation uniform.");
            }

            float scale = (float)Initializers.Scale(linear.Init, linear.InputFeatures, linear.OutputFeatures);
            bool uniform = linear.Init is InitScheme.HeUniform or InitScheme.XavierUniform;
            values[linear.Weight.Name] = new MutationValue(uniform ? MutationDraw.SymmetricUniform : MutationDraw.Normal, scale);
            values[linear.Bias.Name] = new MutationValue(MutationDraw.Zero);
        }

        return values;
    }

    public void Dispose()
    {
        Optimizer.Dispose();
        Model.Dispose();
        Arena.Dispose();
    }

    private Optimizer CreateOptimizer() =>
        new(Arena, new Adam(Lr: (float)_options.LearningRate), new OptimizerOptions { Threads = _options.MemberThreads, Isa = _options.Isa });
}

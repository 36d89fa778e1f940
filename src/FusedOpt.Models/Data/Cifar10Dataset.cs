using System.Collections.Generic;

namespace FusedOpt.Models.Data;

/// <summary>A loaded CIFAR-10 folder: the training and test images as raw bytes, and the normalization both use.</summary>
/// <param name="Directory">The folder the files were read from.</param>
/// <param name="Train">The training images used (after the subset options).</param>
/// <param name="Test">The test images (empty when <see cref="Cifar10Options.TestSubset"/> is 0).</param>
/// <param name="Normalization">The normalization of both splits; by default computed from <paramref name="Train"/>.</param>
public sealed record Cifar10Dataset(string Directory, ImageSet Train, ImageSet Test, ChannelNormalization Normalization)
{
    /// <summary>Class names in label order.</summary>
    public static IReadOnlyList<string> ClassNames => Cifar10Layout.ClassNames;

    /// <summary>A minibatch iterator over the training images with this data set's normalization.</summary>
    public MinibatchIterator TrainBatches(MinibatchOptions options) => new(Train, Normalization, options);

    /// <summary>A sequential, unaugmented iterator over the test images, for evaluation.</summary>
    public MinibatchIterator TestBatches(int batchSize) => new(Test, Normalization, MinibatchOptions.Sequential(batchSize));
}

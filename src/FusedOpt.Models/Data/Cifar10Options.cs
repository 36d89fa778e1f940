using System;

namespace FusedOpt.Models.Data;

/// <summary>What <see cref="Cifar10.Load(string, Cifar10Options?)"/> reads and how it normalizes.</summary>
public sealed record Cifar10Options
{
    /// <summary>The default: all 50,000 training and 10,000 test images, official file sizes, per-channel normalization.</summary>
    public static Cifar10Options Default { get; } = new();

    /// <summary>
    /// Use only this many training images: the first N in file order (data_batch_1 record 0 onward), or with
    /// <see cref="Balanced"/> the first N / 10 of each class in file order. Null: all of them.
    /// </summary>
    public int? Subset { get; init; }

    /// <summary>Take <see cref="Subset"/> / 10 images of each class (in file order) instead of the first <see cref="Subset"/>; needs a subset that is a multiple of 10.</summary>
    public bool Balanced { get; init; }

    /// <summary>Use only the first N test images; null: all; 0: load no test images.</summary>
    public int? TestSubset { get; init; }

    /// <summary>
    /// The normalization of both splits. Null (the default): the per-channel mean and population std of the
    /// training images actually used (after <see cref="Subset"/> and <see cref="Balanced"/>), never of the test set.
    /// Pass <see cref="ChannelNormalization.UnitRange"/> for plain v / 255, or saved statistics to normalize a resumed
    /// run exactly as the first.
    /// </summary>
    public ChannelNormalization? Normalization { get; init; }

    /// <summary>
    /// The number of records each file must hold: 10,000 in the official layout (the default). Null accepts any
    /// positive whole number of records, for small synthetic folders in tests. Files are always required to be a
    /// whole number of 3,073-byte records.
    /// </summary>
    public int? RecordsPerFile { get; init; } = Cifar10Layout.RecordsPerFile;

    /// <summary>Throws when the options contradict each other, naming the option and its value.</summary>
    public void Validate()
    {
        if (Subset is int subset && subset <= 0)
        {
            throw new ArgumentException($"CIFAR-10 options: Subset must be positive, got {subset}.");
        }

        if (TestSubset is int testSubset && testSubset < 0)
        {
            throw new ArgumentException($"CIFAR-10 options: TestSubset must be 0 or more, got {testSubset}.");
        }

        if (RecordsPerFile is int perFile && perFile <= 0)
        {
            throw new ArgumentException($"CIFAR-10 options: RecordsPerFile must be positive or null, got {perFile}.");
        }

        if (Balanced && Subset is null)
        {
            throw new ArgumentException("CIFAR-10 options: Balanced needs a Subset (the number of images, a multiple of 10).");
        }

        if (Balanced && Subset % Cifar10Layout.ClassCount != 0)
        {
            throw new ArgumentException($"CIFAR-10 options: a balanced subset takes the same number of images from each of the 10 classes, so Subset must be a multiple of 10, got {Subset}.");
        }
    }
}

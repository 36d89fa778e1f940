using System;

namespace FusedOpt.Models.Data;

/// <summary>Random training-time augmentation: a crop of the zero-padded image and a left–right flip.</summary>
/// <param name="CropPadding">Pad each side with this many black pixels, then take a random 32×32 crop; 0: no crop.</param>
/// <param name="HorizontalFlip">Flip left–right with probability 1/2.</param>
public readonly record struct Augmentation(int CropPadding, bool HorizontalFlip)
{
    /// <summary>No augmentation.</summary>
    public static Augmentation None => default;

    /// <summary>The usual CIFAR-10 augmentation: padding 4 then a random crop, and a random flip.</summary>
    public static Augmentation CropAndFlip => new(4, true);

    /// <summary>True when any augmentation is on.</summary>
    public bool IsEnabled => CropPadding > 0 || HorizontalFlip;
}

/// <summary>How a <see cref="MinibatchIterator"/> orders, groups and augments images.</summary>
public sealed record MinibatchOptions
{
    /// <summary>Images per batch (the last batch of an epoch may be smaller unless <see cref="DropLast"/>).</summary>
    public int BatchSize { get; init; } = 128;

    /// <summary>Visit the images in a new random order each epoch; false: in stored order.</summary>
    public bool Shuffle { get; init; } = true;

    /// <summary>Skip the last, smaller batch of each epoch.</summary>
    public bool DropLast { get; init; }

    /// <summary>Seed of the shuffling and augmentation generators.</summary>
    public ulong Seed { get; init; }

    /// <summary>Random augmentation applied to each image (none by default).</summary>
    public Augmentation Augmentation { get; init; }

    /// <summary>In stored order, no augmentation, every image once: for evaluation.</summary>
    public static MinibatchOptions Sequential(int batchSize) => new() { BatchSize = batchSize, Shuffle = false };

    /// <summary>Throws, naming the option and its value, when an option is out of range.</summary>
    public void Validate()
    {
        if (BatchSize <= 0)
        {
            throw new ArgumentException($"Minibatch options: BatchSize must be positive, got {BatchSize}.");
        }

        if (Augmentation.CropPadding is < 0 or >= Cifar10Layout.Side)
        {
            throw new ArgumentException($"Minibatch options: CropPadding must be in [0, {Cifar10Layout.Side - 1}], got {Augmentation.CropPadding}.");
        }
    }
}

/// <summary>
/// Where a <see cref="MinibatchIterator"/> stands, for checkpoints: restoring it with
/// <see cref="MinibatchIterator.Restore"/> makes the iterator produce exactly the batches it would have produced.
/// </summary>
/// <param name="Epoch">The epoch in progress, from 0.</param>
/// <param name="Batch">Batches of that epoch already produced.</param>
/// <param name="ShuffleAtEpochStart">The shuffling generator's state just before it drew this epoch's order.</param>
/// <param name="Augment">The augmentation generator's state now.</param>
public readonly record struct MinibatchState(long Epoch, int Batch, RngState ShuffleAtEpochStart, RngState Augment);

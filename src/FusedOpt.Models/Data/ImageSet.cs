using System;

namespace FusedOpt.Models.Data;

/// <summary>
/// Labelled 32×32 RGB images kept as the raw bytes of the file: <see cref="Count"/> × 3,072 pixel bytes (each image
/// channel-major, CHW, as CIFAR-10 stores it) and one label byte per image.
/// </summary>
/// <remarks>
/// Raw bytes are kept, and floats are produced per batch (<see cref="CopyNormalized"/>, <see cref="MinibatchIterator"/>):
/// the 50,000 training images take 154 MB as bytes but 614 MB as float32, and a batch is converted in a few
/// microseconds per image through a 256-entry table per channel. <see cref="ToTensor"/> converts everything at once
/// for callers that want the whole [N, 3072] tensor (a small evaluation set, say).
/// </remarks>
public sealed class ImageSet
{
    private readonly byte[] _pixels;
    private readonly byte[] _labels;

    /// <summary>Wraps <paramref name="pixels"/> (count × 3,072 bytes) and <paramref name="labels"/> (count bytes, each 0–9); the arrays are not copied.</summary>
    public ImageSet(string name, byte[] pixels, byte[] labels)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(pixels);
        ArgumentNullException.ThrowIfNull(labels);
        if (pixels.Length != (long)labels.Length * Cifar10Layout.ImageSize)
        {
            throw new ArgumentException(
                $"Image set '{name}': {labels.Length} labels need {(long)labels.Length * Cifar10Layout.ImageSize} pixel bytes, got {pixels.Length}.",
                nameof(pixels));
        }

        for (int i = 0; i < labels.Length; i++)
        {
            if (labels[i] >= Cifar10Layout.ClassCount)
            {
                throw new ArgumentException($"Image set '{name}': label {labels[i]} of image {i} is outside 0–9.", nameof(labels));
            }
        }

        Name = name;
        _pixels = pixels;
        _labels = labels;
    }

    /// <summary>What the images are ("train", "test"), for messages.</summary>
    public string Name { get; }

    /// <summary>Number of images.</summary>
    public int Count => _labels.Length;

    /// <summary>All pixel bytes, image after image, each image CHW.</summary>
    public ReadOnlySpan<byte> Pixels => _pixels;

    /// <summary>All labels, one byte (0–9) per image.</summary>
    public ReadOnlySpan<byte> Labels => _labels;

    /// <summary>The 3,072 pixel bytes of image <paramref name="index"/>, CHW.</summary>
    public ReadOnlySpan<byte> Image(int index)
    {
        CheckIndex(index);
        return _pixels.AsSpan(index * Cifar10Layout.ImageSize, Cifar10Layout.ImageSize);
    }

    /// <summary>The label (0–9) of image <paramref name="index"/>.</summary>
    public int Label(int index)
    {
        CheckIndex(index);
        return _labels[index];
    }

    /// <summary>How many images each class has, indexed by label.</summary>
    public int[] ClassCounts()
    {
        var counts = new int[Cifar10Layout.ClassCount];
        foreach (byte label in _labels)
        {
            counts[label]++;
        }

        return counts;
    }

    /// <summary>The labels widened to <see cref="int"/>, for losses that take integer class indices.</summary>
    public int[] LabelsAsInt32()
    {
        var result = new int[Count];
        for (int i = 0; i < result.Length; i++)
        {
            result[i] = _labels[i];
        }

        return result;
    }

    /// <summary>
    /// Writes images [<paramref name="start"/>, <paramref name="start"/> + <paramref name="count"/>) normalized with
    /// <paramref name="normalization"/> into <paramref name="destination"/> as a [count, 3072] row-major tensor.
    /// </summary>
    public void CopyNormalized(int start, int count, ChannelNormalization normalization, Span<float> destination)
    {
        ArgumentNullException.ThrowIfNull(normalization);
        if (start < 0 || count < 0 || start > Count - count)
        {
            throw new ArgumentOutOfRangeException(nameof(start), $"Images [{start}, {start + count}) are outside image set '{Name}' of {Count}.");
        }

        long needed = (long)count * Cifar10Layout.ImageSize;
        if (destination.Length < needed)
        {
            throw new ArgumentException($"{count} images need {needed} floats, the destination holds {destination.Length}.", nameof(destination));
        }

        ReadOnlySpan<float> table = normalization.Table;
        for (int i = 0; i < count; i++)
        {
            ImageTransform.Normalize(Image(start + i), table, destination.Slice(i * Cifar10Layout.ImageSize, Cifar10Layout.ImageSize));
        }
    }

    /// <summary>Every image normalized, as one [Count, 3072] row-major tensor (Count × 12,288 bytes).</summary>
    public float[] ToTensor(ChannelNormalization normalization)
    {
        var tensor = new float[(long)Count * Cifar10Layout.ImageSize];
        CopyNormalized(0, Count, normalization, tensor);
        return tensor;
    }

    private void CheckIndex(int index)
    {
        if ((uint)index >= (uint)Count)
        {
            throw new ArgumentOutOfRangeException(nameof(index), index, $"Image set '{Name}' holds {Count} images.");
        }
    }
}

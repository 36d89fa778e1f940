using System;

namespace FusedOpt.Models.Data;

/// <summary>
/// Cuts an <see cref="ImageSet"/> into minibatches, epoch after epoch: a new seeded permutation each epoch, optional
/// random crop and flip, normalization, written into buffers the caller owns. After construction nothing allocates.
/// </summary>
/// <remarks>
/// <para>Randomness: one <see cref="Rng"/> seeded with <see cref="MinibatchOptions.Seed"/> shuffles; a second, the
/// same generator advanced by <see cref="Rng.Jump"/> (2¹²⁸ steps), augments, so turning augmentation on does not
/// change the order of the images. Each epoch the order is drawn by Fisher–Yates from the identity permutation.
/// Each augmented image draws, in this order, the crop row offset <c>NextInt(2p + 1)</c>, the crop column offset
/// <c>NextInt(2p + 1)</c> (when the padding p &gt; 0), then the flip <c>NextBoolean()</c> (when flips are on).</para>
/// <para>Use: <c>while (it.TryNext(x, y, out int n)) { … }</c> runs one epoch; the call that returns false moves
/// the iterator to the next epoch, so the same loop runs the next epoch.</para>
/// </remarks>
public sealed class MinibatchIterator
{
    private readonly ImageSet _images;
    private readonly float[] _table;
    private readonly MinibatchOptions _options;
    private readonly int[] _order;
    private readonly Rng _shuffle;
    private readonly Rng _augment;
    private RngState _shuffleAtEpochStart;

    /// <summary>Creates the iterator, positioned at the start of epoch 0.</summary>
    public MinibatchIterator(ImageSet images, ChannelNormalization normalization, MinibatchOptions options)
    {
        ArgumentNullException.ThrowIfNull(images);
        ArgumentNullException.ThrowIfNull(normalization);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        if (images.Count == 0)
        {
            throw new ArgumentException($"Image set '{images.Name}' holds no images to iterate over.", nameof(images));
        }

        _images = images;
        _table = normalization.Table.ToArray();
        _options = options;
        _order = new int[images.Count];
        _shuffle = new Rng(options.Seed);
        _augment = _shuffle.Clone();
        _augment.Jump();
        BatchesPerEpoch = options.DropLast ? images.Count / options.BatchSize : (images.Count + options.BatchSize - 1) / options.BatchSize;
        if (BatchesPerEpoch == 0)
        {
            throw new ArgumentException(
                $"Image set '{images.Name}' of {images.Count} images gives no full batch of {options.BatchSize} with DropLast; use a smaller batch or keep the last batch.",
                nameof(options));
        }

        BeginEpoch(0);
    }

    /// <summary>Images per full batch.</summary>
    public int BatchSize => _options.BatchSize;

    /// <summary>Batches in each epoch.</summary>
    public int BatchesPerEpoch { get; }

    /// <summary>The epoch in progress, from 0.</summary>
    public long Epoch { get; private set; }

    /// <summary>Batches of <see cref="Epoch"/> already produced.</summary>
    public int Batch { get; private set; }

    /// <summary>Floats a caller's image buffer needs: <see cref="BatchSize"/> × 3,072.</summary>
    public int ImageBufferLength => BatchSize * Cifar10Layout.ImageSize;

    /// <summary>The image indices of the current epoch, in visiting order.</summary>
    public ReadOnlySpan<int> Order => _order;

    /// <summary>
    /// Writes the next batch: <paramref name="images"/> gets a [count, 3072] row-major tensor of normalized CHW images
    /// and <paramref name="labels"/> their labels, where <paramref name="count"/> is <see cref="BatchSize"/> except
    /// possibly for the last batch. Returns false, writing nothing, when the epoch is over; the iterator has then moved
    /// to the next epoch.
    /// </summary>
    public bool TryNext(Span<float> images, Span<int> labels, out int count)
    {
        if (images.Length < ImageBufferLength || labels.Length < BatchSize)
        {
            throw new ArgumentException(
                $"A batch of {BatchSize} needs {ImageBufferLength} floats and {BatchSize} labels; the buffers hold {images.Length} and {labels.Length}.");
        }

        if (Batch == BatchesPerEpoch)
        {
            BeginEpoch(Epoch + 1);
            count = 0;
            return false;
        }

        int start = Batch * BatchSize;
        count = Math.Min(BatchSize, _order.Length - start);
        Augmentation augmentation = _options.Augmentation;
        int padding = augmentation.CropPadding;
        for (int i = 0; i < count; i++)
        {
            int index = _order[start + i];
            ReadOnlySpan<byte> source = _images.Image(index);
            Span<float> destination = images.Slice(i * Cifar10Layout.ImageSize, Cifar10Layout.ImageSize);
            labels[i] = _images.Label(index);
            if (!augmentation.IsEnabled)
            {
                ImageTransform.Normalize(source, _table, destination);
                continue;
            }

            int shiftY = padding > 0 ? _augment.NextInt((2 * padding) + 1) - padding : 0;
            int shiftX = padding > 0 ? _augment.NextInt((2 * padding) + 1) - padding : 0;
            bool flip = augmentation.HorizontalFlip && _augment.NextBoolean();
            ImageTransform.CropFlip(source, _table, destination, shiftY, shiftX, flip);
        }

        Batch++;
        return true;
    }

    /// <summary>The position and generator states, for a checkpoint.</summary>
    public MinibatchState GetState() => new(Epoch, Batch, _shuffleAtEpochStart, _augment.State);

    /// <summary>Returns to a position saved by <see cref="GetState"/> (on an iterator over the same images with the same options).</summary>
    public void Restore(MinibatchState state)
    {
        if (state.Epoch < 0 || state.Batch < 0 || state.Batch > BatchesPerEpoch)
        {
            throw new ArgumentOutOfRangeException(
                nameof(state),
                $"Minibatch state epoch {state.Epoch}, batch {state.Batch} is outside this iterator ({BatchesPerEpoch} batches per epoch).");
        }

        _shuffle.State = state.ShuffleAtEpochStart;
        _augment.State = state.Augment;
        BeginEpoch(state.Epoch);
        Batch = state.Batch;
    }

    private void BeginEpoch(long epoch)
    {
        Epoch = epoch;
        Batch = 0;
        _shuffleAtEpochStart = _shuffle.State;
        for (int i = 0; i < _order.Length; i++)
        {
            _order[i] = i;
        }

        if (_options.Shuffle)
        {
            _shuffle.Shuffle<int>(_order);
        }
    }
}

using System;
using System.Collections.Generic;
using System.Linq;
using FusedOpt.Models;
using FusedOpt.Models.Data;
using Xunit;

namespace FusedOpt.Tests.Data;

/// <summary>
/// Minibatches: order (sequential, seeded Fisher–Yates per epoch), batch sizes, crop-and-flip against a plain
/// pad-then-crop reference, checkpoint restore reproducing the batches bitwise, and no allocation per batch.
/// </summary>
public sealed class MinibatchIteratorTests
{
    private static readonly ChannelNormalization Norm = new([0.45, 0.5, 0.55], [0.2, 0.25, 0.3]);

    [Fact]
    public void Sequential_VisitsEveryImageOnceInOrder_LastBatchSmaller()
    {
        var images = Images(30);
        var it = new MinibatchIterator(images, Norm, MinibatchOptions.Sequential(8));
        var (x, y) = Buffers(it);
        var expected = images.ToTensor(Norm);

        var sizes = new List<int>();
        while (it.TryNext(x, y, out int n))
        {
            int start = sizes.Sum();
            sizes.Add(n);
            Assert.Equal(expected.AsSpan(start * 3072, n * 3072), x.AsSpan(0, n * 3072));
            Assert.Equal(images.LabelsAsInt32().AsSpan(start, n), y.AsSpan(0, n));
        }

        Assert.Equal([8, 8, 8, 6], sizes);
        Assert.Equal(4, it.BatchesPerEpoch);
        Assert.Equal(1, it.Epoch);
    }

    [Fact]
    public void DropLast_SkipsTheSmallerBatch()
    {
        var it = new MinibatchIterator(Images(30), Norm, MinibatchOptions.Sequential(8) with { DropLast = true });
        var (x, y) = Buffers(it);

        int batches = 0;
        while (it.TryNext(x, y, out int n))
        {
            Assert.Equal(8, n);
            batches++;
        }

        Assert.Equal(3, batches);
    }

    [Fact]
    public void Shuffle_IsSeededFisherYatesFromIdentity_EachEpoch()
    {
        var it = new MinibatchIterator(Images(50), Norm, new MinibatchOptions { BatchSize = 16, Seed = 123 });
        var reference = new Rng(123);
        var (x, y) = Buffers(it);

        for (int epoch = 0; epoch < 3; epoch++)
        {
            int[] expected = [.. Enumerable.Range(0, 50)];
            reference.Shuffle<int>(expected);
            Assert.Equal(expected, it.Order.ToArray());

            var labels = new List<int>();
            while (it.TryNext(x, y, out int n))
            {
                labels.AddRange(y.Take(n));
            }

            Assert.Equal(expected.Select(i => i % 10), labels);
        }
    }

    [Fact]
    public void Shuffle_SameSeedSameOrder_OtherSeedOtherOrder_EpochsDiffer()
    {
        var images = Images(40);
        var a = new MinibatchIterator(images, Norm, new MinibatchOptions { BatchSize = 10, Seed = 1 });
        var b = new MinibatchIterator(images, Norm, new MinibatchOptions { BatchSize = 10, Seed = 1 });
        var c = new MinibatchIterator(images, Norm, new MinibatchOptions { BatchSize = 10, Seed = 2 });

        Assert.Equal(a.Order.ToArray(), b.Order.ToArray());
        Assert.NotEqual(a.Order.ToArray(), c.Order.ToArray());
        int[] first = a.Order.ToArray();
        RunEpoch(a);
        Assert.NotEqual(first, a.Order.ToArray());
        Assert.Equal(Enumerable.Range(0, 40), a.Order.ToArray().Order());
    }

    [Fact]
    public void Augmentation_DoesNotChangeTheOrder()
    {
        var images = Images(40);
        var plain = new MinibatchIterator(images, Norm, new MinibatchOptions { BatchSize = 10, Seed = 5 });
        var augmented = new MinibatchIterator(images, Norm, new MinibatchOptions { BatchSize = 10, Seed = 5, Augmentation = Augmentation.CropAndFlip });

        RunEpoch(plain);
        RunEpoch(augmented);

        Assert.Equal(plain.Order.ToArray(), augmented.Order.ToArray());
    }

    [Fact]
    public void CropAndFlip_MatchesPadThenCropReference_WithDocumentedDraws()
    {
        var images = Images(12);
        const ulong seed = 77;
        var it = new MinibatchIterator(images, Norm, new MinibatchOptions { BatchSize = 12, Shuffle = false, Seed = seed, Augmentation = Augmentation.CropAndFlip });
        var (x, y) = Buffers(it);
        var draws = new Rng(seed);
        draws.Jump();

        Assert.True(it.TryNext(x, y, out _));

        int flips = 0;
        for (int i = 0; i < 12; i++)
        {
            int oy = draws.NextInt(9), ox = draws.NextInt(9);
            bool flip = draws.NextBoolean();
            flips += flip ? 1 : 0;
            float[] expected = PadCropFlip(images.Image(i), 4, oy, ox, flip);
            AssertSameBits(expected, x.AsSpan(i * 3072, 3072), $"image {i} (oy {oy}, ox {ox}, flip {flip})");
        }

        Assert.InRange(flips, 1, 11);
    }

    [Theory]
    [InlineData(4)]
    [InlineData(31)]
    public void CropFlipKernel_EveryShiftAndFlip_MatchesReference(int padding)
    {
        var image = Images(1).Image(0);
        var actual = new float[3072];
        foreach (int oy in (int[])[0, 1, padding - 1, padding, padding + 1, 2 * padding - 1, 2 * padding])
        {
            for (int ox = 0; ox <= 2 * padding; ox++)
            {
                foreach (bool flip in (bool[])[false, true])
                {
                    ImageTransform.CropFlip(image, Norm.Table, actual, oy - padding, ox - padding, flip);
                    AssertSameBits(PadCropFlip(image, padding, oy, ox, flip), actual, $"padding {padding}, oy {oy}, ox {ox}, flip {flip}");
                }
            }
        }
    }

    [Fact]
    public void Restore_MidEpoch_ReproducesTheNextBatchesBitwise()
    {
        var images = Images(23);
        var options = new MinibatchOptions { BatchSize = 5, Seed = 9, Augmentation = Augmentation.CropAndFlip };
        var original = new MinibatchIterator(images, Norm, options);
        RunEpoch(original);
        var (x, y) = Buffers(original);
        original.TryNext(x, y, out _);
        original.TryNext(x, y, out _);
        MinibatchState saved = original.GetState();
        var expected = Drain(original, 9);

        var resumed = new MinibatchIterator(images, Norm, options);
        resumed.Restore(saved);

        Assert.Equal(1, saved.Epoch);
        Assert.Equal(2, saved.Batch);
        Assert.Equal(expected, Drain(resumed, 9));
    }

    [Fact]
    public void Restore_AtTheEndOfAnEpoch_StartsTheSameNextEpoch()
    {
        var images = Images(20);
        var options = new MinibatchOptions { BatchSize = 10, Seed = 4, Augmentation = Augmentation.CropAndFlip };
        var original = new MinibatchIterator(images, Norm, options);
        var (x, y) = Buffers(original);
        original.TryNext(x, y, out _);
        original.TryNext(x, y, out _);
        MinibatchState saved = original.GetState();
        var expected = Drain(original, 4);

        var resumed = new MinibatchIterator(images, Norm, options);
        resumed.Restore(saved);

        Assert.Equal(expected, Drain(resumed, 4));
    }

    [Fact]
    public void TryNext_AllocatesNothing_AcrossEpochs()
    {
        var it = new MinibatchIterator(Images(40), Norm, new MinibatchOptions { BatchSize = 16, Seed = 3, Augmentation = Augmentation.CropAndFlip });
        var (x, y) = Buffers(it);
        RunEpoch(it, x, y);

        // Each window runs 20 batches: more than six epochs of three batches, each epoch starting with a reshuffle.
        long allocated = Allocations.OnThisThread(() =>
        {
            for (int i = 0; i < 20; i++)
            {
                it.TryNext(x, y, out _);
            }
        });

        Assert.Equal(0, allocated);
    }

    [Fact]
    public void TryNext_BufferTooSmall_SaysWhatItNeeds()
    {
        var it = new MinibatchIterator(Images(10), Norm, MinibatchOptions.Sequential(4));

        var e = Assert.Throws<ArgumentException>(() => it.TryNext(new float[100], new int[4], out _));

        Assert.Contains("needs 12288 floats and 4 labels; the buffers hold 100 and 4", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0, 0, "BatchSize must be positive, got 0")]
    [InlineData(4, 32, "CropPadding must be in [0, 31], got 32")]
    public void Options_OutOfRange_AreRejectedByName(int batch, int padding, string message)
    {
        var e = Assert.Throws<ArgumentException>(() =>
            new MinibatchIterator(Images(4), Norm, new MinibatchOptions { BatchSize = batch, Augmentation = new Augmentation(padding, false) }));

        Assert.Contains(message, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void DropLast_WithFewerImagesThanABatch_IsRejected()
    {
        var e = Assert.Throws<ArgumentException>(() =>
            new MinibatchIterator(Images(3), Norm, new MinibatchOptions { BatchSize = 4, DropLast = true }));

        Assert.Contains("gives no full batch of 4", e.Message, StringComparison.Ordinal);
    }

    /// <summary>Images with varied bytes; image i has label i % 10.</summary>
    private static ImageSet Images(int count)
    {
        var pixels = new byte[count * 3072];
        for (int i = 0; i < pixels.Length; i++)
        {
            pixels[i] = (byte)((i * 31) + (i / 3072 * 7) + (i % 97));
        }

        return new ImageSet("synthetic", pixels, [.. Enumerable.Range(0, count).Select(i => (byte)(i % 10))]);
    }

    private static (float[] X, int[] Y) Buffers(MinibatchIterator it) => (new float[it.ImageBufferLength], new int[it.BatchSize]);

    private static void RunEpoch(MinibatchIterator it)
    {
        var (x, y) = Buffers(it);
        RunEpoch(it, x, y);
    }

    private static void RunEpoch(MinibatchIterator it, float[] x, int[] y)
    {
        while (it.TryNext(x, y, out _))
        {
        }
    }

    /// <summary>The next <paramref name="batches"/> batches (skipping epoch ends) as strings of exact bits.</summary>
    private static List<string> Drain(MinibatchIterator it, int batches)
    {
        var (x, y) = Buffers(it);
        var result = new List<string>();
        while (result.Count < batches)
        {
            if (it.TryNext(x, y, out int n))
            {
                result.Add($"{it.Epoch}/{it.Batch}: {string.Join(',', y.Take(n))} | {Convert.ToHexString(System.Runtime.InteropServices.MemoryMarshal.AsBytes(x.AsSpan(0, n * 3072)))}");
            }
        }

        return result;
    }

    /// <summary>The plain definition: pad each plane with black bytes, crop at (oy, ox), flip left–right, then normalize.</summary>
    private static float[] PadCropFlip(ReadOnlySpan<byte> image, int padding, int oy, int ox, bool flip)
    {
        int side = 32 + (2 * padding);
        var result = new float[3072];
        for (int c = 0; c < 3; c++)
        {
            var padded = new byte[side, side];
            for (int r = 0; r < 32; r++)
            {
                for (int col = 0; col < 32; col++)
                {
                    padded[r + padding, col + padding] = image[(c * 1024) + (r * 32) + col];
                }
            }

            for (int r = 0; r < 32; r++)
            {
                for (int col = 0; col < 32; col++)
                {
                    int source = flip ? 31 - col : col;
                    result[(c * 1024) + (r * 32) + col] = Norm.Table[(c * 256) + padded[oy + r, ox + source]];
                }
            }
        }

        return result;
    }

    private static void AssertSameBits(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, string what)
    {
        for (int i = 0; i < expected.Length; i++)
        {
            if (BitConverter.SingleToInt32Bits(expected[i]) != BitConverter.SingleToInt32Bits(actual[i]))
            {
                Assert.Fail($"{what}: first mismatch at {i} (c {i / 1024}, y {i % 1024 / 32}, x {i % 32}): expected {expected[i]}, got {actual[i]}.");
            }
        }
    }
}

using System.IO;
using System.Linq;
using FusedOpt.Models.Data;
using Xunit;

namespace FusedOpt.Tests.Data;

/// <summary>
/// The loader on the real shared CIFAR-10 folder, official sizes enforced, reading only the first records (fast).
/// Skips with a message naming the folder when shared/ is absent.
/// </summary>
public sealed class Cifar10SharedDataTests
{
    [Fact]
    public void SharedFolder_FirstRecords_LoadWithOfficialSizes()
    {
        SharedData.RequireDirectory(SharedData.Cifar10, "CIFAR-10 (shared/data/cifar-10-batches-bin)");

        var data = Cifar10.Load(SharedData.Cifar10, new Cifar10Options { Subset = 40, TestSubset = 10 });

        Assert.Equal(40, data.Train.Count);
        Assert.Equal(10, data.Test.Count);
        Assert.All(data.Train.LabelsAsInt32(), label => Assert.InRange(label, 0, 9));
        Assert.True(data.Train.ClassCounts().Count(c => c > 0) >= 5, "40 shuffled images should span several classes");
        Assert.All(data.Normalization.Mean, m => Assert.InRange(m, 0.2, 0.8));
        Assert.All(data.Normalization.Std, s => Assert.InRange(s, 0.1, 0.45));
        Assert.Equal(Cifar10Layout.ClassNames, File.ReadAllLines(Path.Combine(data.Directory, "batches.meta.txt")).Where(l => l.Length > 0));

        var batches = data.TrainBatches(new MinibatchOptions { BatchSize = 16, Seed = 1, Augmentation = Augmentation.CropAndFlip });
        var x = new float[batches.ImageBufferLength];
        var y = new int[batches.BatchSize];
        Assert.True(batches.TryNext(x, y, out int n));
        Assert.Equal(16, n);
        Assert.All(x, v => Assert.True(float.IsFinite(v)));
    }
}

using System;
using System.IO;
using System.Linq;
using FusedOpt.Models.Data;
using Xunit;

namespace FusedOpt.Tests.Data;

/// <summary>
/// The CIFAR-10 loader on small synthetic folders in the official layout: reading order, subsets, balancing, and a
/// clear error naming the file (and the record) for every kind of broken file.
/// </summary>
public sealed class Cifar10LoaderTests
{
    [Fact]
    public void Load_SyntheticFolder_ReadsEveryRecordInFileOrder()
    {
        using var data = new SyntheticCifar10(recordsPerTrainFile: 6, testRecords: 4);

        var set = Cifar10.Load(data.Folder, SyntheticCifar10.Options);

        Assert.Equal(30, set.Train.Count);
        Assert.Equal(4, set.Test.Count);
        int n = 0;
        foreach (var (file, record) in SyntheticCifar10.TrainRecords(6))
        {
            Assert.Equal(data.Label(file, record), set.Train.Label(n));
            Assert.Equal(SyntheticCifar10.Pixel(file, record, 0), set.Train.Image(n)[0]);
            Assert.Equal(SyntheticCifar10.Pixel(file, record, 3071), set.Train.Image(n)[3071]);
            n++;
        }

        Assert.Equal(data.Label(SyntheticCifar10.TestFileIndex, 3), set.Test.Label(3));
        Assert.Equal(SyntheticCifar10.Pixel(SyntheticCifar10.TestFileIndex, 3, 2000), set.Test.Image(3)[2000]);
    }

    [Fact]
    public void Load_ParentOfBatchesFolder_FindsTheFolder()
    {
        using var data = new SyntheticCifar10();

        var set = Cifar10.Load(data.Root, SyntheticCifar10.Options);

        Assert.Equal(data.Folder, set.Directory);
    }

    [Fact]
    public void Load_DefaultOptions_RequireTenThousandRecordsPerFile()
    {
        using var data = new SyntheticCifar10(recordsPerTrainFile: 6);

        var e = Assert.Throws<Cifar10FormatException>(() => Cifar10.Load(data.Folder));

        Assert.EndsWith("data_batch_1.bin", e.Path, StringComparison.Ordinal);
        Assert.Contains("holds 6 records", e.Message, StringComparison.Ordinal);
        Assert.Contains("expected 10,000", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_TruncatedFile_NamesFileAndIncompleteRecord()
    {
        using var data = new SyntheticCifar10(recordsPerTrainFile: 6);
        string path = data.PathOf("data_batch_3.bin");
        File.WriteAllBytes(path, data.Batch(2, 6)[..((5 * Cifar10Layout.RecordSize) + 100)]);

        var e = Assert.Throws<Cifar10FormatException>(() => Cifar10.Load(data.Folder, SyntheticCifar10.Options));

        Assert.Equal(path, e.Path);
        Assert.Equal(5, e.Record);
        Assert.Contains("data_batch_3.bin", e.Message, StringComparison.Ordinal);
        Assert.Contains("record 5 is truncated (100 of 3,073 bytes)", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_LabelOutsideZeroToNine_NamesFileAndRecord()
    {
        using var data = new SyntheticCifar10(recordsPerTrainFile: 6);
        string path = data.PathOf("data_batch_2.bin");
        byte[] bytes = File.ReadAllBytes(path);
        bytes[4 * Cifar10Layout.RecordSize] = 10;
        File.WriteAllBytes(path, bytes);

        var e = Assert.Throws<Cifar10FormatException>(() => Cifar10.Load(data.Folder, SyntheticCifar10.Options));

        Assert.Equal(path, e.Path);
        Assert.Equal(4, e.Record);
        Assert.Contains("record 4", e.Message, StringComparison.Ordinal);
        Assert.Contains("label 10", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_BadLabelInTestFile_IsReported()
    {
        using var data = new SyntheticCifar10(recordsPerTrainFile: 2, testRecords: 3);
        string path = data.PathOf(Cifar10Layout.TestFile);
        byte[] bytes = File.ReadAllBytes(path);
        bytes[2 * Cifar10Layout.RecordSize] = 255;
        File.WriteAllBytes(path, bytes);

        var e = Assert.Throws<Cifar10FormatException>(() => Cifar10.Load(data.Folder, SyntheticCifar10.Options));

        Assert.Equal(2, e.Record);
        Assert.Contains("test_batch.bin", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_EmptyFile_IsRejected()
    {
        using var data = new SyntheticCifar10();
        File.WriteAllBytes(data.PathOf("data_batch_5.bin"), []);

        var e = Assert.Throws<Cifar10FormatException>(() => Cifar10.Load(data.Folder, SyntheticCifar10.Options));

        Assert.Contains("data_batch_5.bin: the file is empty", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_MissingFile_ListsWhatIsMissing()
    {
        using var data = new SyntheticCifar10();
        File.Delete(data.PathOf("data_batch_4.bin"));
        File.Delete(data.PathOf(Cifar10Layout.TestFile));

        var e = Assert.Throws<Cifar10FormatException>(() => Cifar10.Load(data.Folder, SyntheticCifar10.Options));

        Assert.Contains("missing data_batch_4.bin, test_batch.bin", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_MissingFolder_NamesIt()
    {
        string path = Path.Combine(Path.GetTempPath(), "fusedopt-no-such-folder-" + Guid.NewGuid().ToString("N"));

        var e = Assert.Throws<DirectoryNotFoundException>(() => Cifar10.Load(path));

        Assert.Contains(path, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_Subset_TakesTheFirstImagesAcrossFiles()
    {
        using var data = new SyntheticCifar10(recordsPerTrainFile: 6);

        var set = Cifar10.Load(data.Folder, SyntheticCifar10.Options with { Subset = 8, TestSubset = 2 });

        Assert.Equal(8, set.Train.Count);
        Assert.Equal(2, set.Test.Count);
        Assert.Equal(SyntheticCifar10.Pixel(1, 1, 5), set.Train.Image(7)[5]);
        Assert.Equal(data.Label(1, 1), set.Train.Label(7));
    }

    [Fact]
    public void Load_TestSubsetZero_LoadsNoTestImages()
    {
        using var data = new SyntheticCifar10();

        var set = Cifar10.Load(data.Folder, SyntheticCifar10.Options with { TestSubset = 0 });

        Assert.Equal(0, set.Test.Count);
    }

    [Fact]
    public void Load_SubsetLargerThanTheFiles_IsRejected()
    {
        using var data = new SyntheticCifar10(recordsPerTrainFile: 6);

        var e = Assert.Throws<ArgumentException>(() => Cifar10.Load(data.Folder, SyntheticCifar10.Options with { Subset = 31 }));

        Assert.Contains("subset of 31 images is larger than the 30", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_BalancedSubset_TakesTheFirstOfEachClassInFileOrder()
    {
        // Labels in file order: file f record r has label (r + 3f) % 10, 12 records per file.
        using var data = new SyntheticCifar10(recordsPerTrainFile: 12);

        var set = Cifar10.Load(data.Folder, SyntheticCifar10.Options with { Subset = 20, Balanced = true });

        Assert.All(set.Train.ClassCounts(), count => Assert.Equal(2, count));
        var expected = SyntheticCifar10.TrainRecords(12)
            .Select(fr => (fr.File, fr.Record, Label: data.Label(fr.File, fr.Record)))
            .GroupBy(x => x.Label)
            .SelectMany(g => g.Take(2))
            .OrderBy(x => (x.File * 12) + x.Record)
            .ToList();
        Assert.Equal(expected.Select(x => (int)x.Label), set.Train.LabelsAsInt32());
        for (int i = 0; i < expected.Count; i++)
        {
            Assert.Equal(SyntheticCifar10.Pixel(expected[i].File, expected[i].Record, 77), set.Train.Image(i)[77]);
        }
    }

    [Fact]
    public void Load_BalancedSubsetWithTooFewOfAClass_NamesTheClass()
    {
        using var data = new SyntheticCifar10(recordsPerTrainFile: 4, label: (f, r) => (byte)(r == 0 && f == 0 ? 3 : 1));

        var e = Assert.Throws<ArgumentException>(() => Cifar10.Load(data.Folder, SyntheticCifar10.Options with { Subset = 10, Balanced = true }));

        Assert.Contains("class 0 (airplane)", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(25, true, "multiple of 10")]
    [InlineData(0, false, "Subset must be positive")]
    [InlineData(null, true, "Balanced needs a Subset")]
    public void Options_Contradictions_AreRejectedByName(int? subset, bool balanced, string message)
    {
        var e = Assert.Throws<ArgumentException>(() => new Cifar10Options { Subset = subset, Balanced = balanced }.Validate());

        Assert.Contains(message, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_Default_NormalizesWithStatisticsOfTheTrainingImagesUsed()
    {
        using var data = new SyntheticCifar10(recordsPerTrainFile: 6);

        var set = Cifar10.Load(data.Folder, SyntheticCifar10.Options with { Subset = 9 });

        for (int c = 0; c < 3; c++)
        {
            var values = Enumerable.Range(0, 9)
                .SelectMany(i => set.Train.Image(i).Slice(c * 1024, 1024).ToArray())
                .Select(v => v / 255.0)
                .ToArray();
            double mean = values.Average();
            double std = Math.Sqrt(values.Select(v => (v - mean) * (v - mean)).Average());
            Assert.Equal(mean, set.Normalization.Mean[c], 12);
            Assert.Equal(std, set.Normalization.Std[c], 12);
        }
    }

    [Fact]
    public void Load_GivenNormalization_IsUsedAsIs()
    {
        using var data = new SyntheticCifar10();

        var set = Cifar10.Load(data.Folder, SyntheticCifar10.Options with { Normalization = ChannelNormalization.UnitRange });

        Assert.Same(ChannelNormalization.UnitRange, set.Normalization);
    }
}

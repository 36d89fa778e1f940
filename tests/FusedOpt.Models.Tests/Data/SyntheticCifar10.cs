using System;
using System.Collections.Generic;
using System.IO;
using FusedOpt.Models.Data;

namespace FusedOpt.Tests.Data;

/// <summary>
/// Writes small CIFAR-10 folders in the official binary layout into a temporary directory (deleted on dispose).
/// No real CIFAR data is involved: pixel bytes are a fixed function of (file, record, channel, pixel) and labels a
/// fixed function of (file, record) unless given.
/// </summary>
internal sealed class SyntheticCifar10 : IDisposable
{
    public SyntheticCifar10(int recordsPerTrainFile = 6, int testRecords = 4, Func<int, int, byte>? label = null)
    {
        Root = Path.Combine(Path.GetTempPath(), "fusedopt-data-tests-" + Guid.NewGuid().ToString("N"));
        Folder = Path.Combine(Root, Cifar10Layout.FolderName);
        Directory.CreateDirectory(Folder);
        Label = label ?? ((file, record) => (byte)((record + (3 * file)) % 10));
        for (int f = 0; f < Cifar10Layout.TrainFiles.Count; f++)
        {
            File.WriteAllBytes(Path.Combine(Folder, Cifar10Layout.TrainFiles[f]), Batch(f, recordsPerTrainFile));
        }

        File.WriteAllBytes(Path.Combine(Folder, Cifar10Layout.TestFile), Batch(TestFileIndex, testRecords));
        File.WriteAllLines(Path.Combine(Folder, "batches.meta.txt"), Cifar10Layout.ClassNames);
    }

    /// <summary>File index used for the test batch in <see cref="Pixel"/> and <see cref="Label"/>.</summary>
    public const int TestFileIndex = 5;

    /// <summary>The temporary directory (parent of <see cref="Folder"/>).</summary>
    public string Root { get; }

    /// <summary>The cifar-10-batches-bin folder.</summary>
    public string Folder { get; }

    /// <summary>Label of (file, record).</summary>
    public Func<int, int, byte> Label { get; }

    /// <summary>Pixel byte of (file, record, offset within the 3,072-byte image).</summary>
    public static byte Pixel(int file, int record, int offset) => (byte)((record * 7) + (offset * 13) + (file * 29) + (offset / 1024 * 51));

    public string PathOf(string file) => System.IO.Path.Combine(Folder, file);

    /// <summary>One batch file's bytes: <paramref name="records"/> records of file <paramref name="file"/>.</summary>
    public byte[] Batch(int file, int records)
    {
        var bytes = new byte[records * Cifar10Layout.RecordSize];
        for (int r = 0; r < records; r++)
        {
            Span<byte> record = bytes.AsSpan(r * Cifar10Layout.RecordSize, Cifar10Layout.RecordSize);
            record[0] = Label(file, r);
            for (int i = 0; i < Cifar10Layout.ImageSize; i++)
            {
                record[1 + i] = Pixel(file, r, i);
            }
        }

        return bytes;
    }

    /// <summary>(file, record) of every training record in file order.</summary>
    public static IEnumerable<(int File, int Record)> TrainRecords(int recordsPerFile)
    {
        for (int f = 0; f < Cifar10Layout.TrainFiles.Count; f++)
        {
            for (int r = 0; r < recordsPerFile; r++)
            {
                yield return (f, r);
            }
        }
    }

    public static Cifar10Options Options => new() { RecordsPerFile = null };

    public void Dispose()
    {
        if (Directory.Exists(Root))
        {
            Directory.Delete(Root, recursive: true);
        }
    }
}

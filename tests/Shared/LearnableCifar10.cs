using System;
using System.IO;

namespace FusedOpt.Tests;

/// <summary>
/// Writes a small CIFAR-10 folder in the official binary layout (five training files and the test file, a label byte
/// then 3,072 pixel bytes per record) whose pixels depend on the label, so that a model can learn it: pixel =
/// 20·label + noise in [0, 40). Seeded, so the same arguments give the same bytes.
/// </summary>
public static class LearnableCifar10
{
    private const int RecordSize = 3073;

    private static readonly string[] Files = ["data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin", "test_batch.bin"];

    /// <summary>Creates <paramref name="folder"/> and writes <paramref name="recordsPerFile"/> records into each of the six files.</summary>
    /// <returns><paramref name="folder"/>.</returns>
    public static string Write(string folder, int recordsPerFile, int seed)
    {
        Directory.CreateDirectory(folder);
        var rng = new System.Random(seed);
        foreach (var file in Files)
        {
            var bytes = new byte[recordsPerFile * RecordSize];
            for (int r = 0; r < recordsPerFile; r++)
            {
                int label = rng.Next(10);
                bytes[r * RecordSize] = (byte)label;
                for (int i = 1; i < RecordSize; i++)
                {
                    bytes[(r * RecordSize) + i] = (byte)((label * 20) + rng.Next(40));
                }
            }

            File.WriteAllBytes(Path.Combine(folder, file), bytes);
        }

        return folder;
    }
}

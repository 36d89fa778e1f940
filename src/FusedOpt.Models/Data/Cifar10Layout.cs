using System.Collections.Generic;

namespace FusedOpt.Models.Data;

/// <summary>
/// The official CIFAR-10 binary layout (Krizhevsky, 2009): each file holds records of 3,073 bytes, one label byte
/// (0–9) then 1,024 red, 1,024 green and 1,024 blue bytes of a 32×32 image, each plane row-major. An image is
/// therefore stored channel-major (CHW), which is also the layout of every float tensor this namespace produces.
/// </summary>
public static class Cifar10Layout
{
    /// <summary>Image height and width in pixels.</summary>
    public const int Side = 32;

    /// <summary>Colour channels (R, G, B).</summary>
    public const int Channels = 3;

    /// <summary>Pixels in one channel plane: 32 × 32 = 1,024.</summary>
    public const int PlaneSize = Side * Side;

    /// <summary>Values in one image: 3 × 32 × 32 = 3,072 (bytes on disk, floats in a tensor row).</summary>
    public const int ImageSize = Channels * PlaneSize;

    /// <summary>Bytes in one record: the label byte and the image.</summary>
    public const int RecordSize = 1 + ImageSize;

    /// <summary>Records in each official batch file.</summary>
    public const int RecordsPerFile = 10_000;

    /// <summary>Number of classes; labels are 0 to 9.</summary>
    public const int ClassCount = 10;

    /// <summary>The folder the official archive extracts to.</summary>
    public const string FolderName = "cifar-10-batches-bin";

    /// <summary>The test file name.</summary>
    public const string TestFile = "test_batch.bin";

    /// <summary>The five training files, in the order their records are read.</summary>
    public static IReadOnlyList<string> TrainFiles { get; } =
        ["data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"];

    /// <summary>Every file a complete folder holds: the five training files, then the test file.</summary>
    public static IReadOnlyList<string> AllFiles { get; } = [.. TrainFiles, TestFile];

    /// <summary>Class names in label order (as batches.meta.txt lists them).</summary>
    public static IReadOnlyList<string> ClassNames { get; } =
        ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"];

    /// <summary>Channel names in storage order, for messages.</summary>
    public static IReadOnlyList<string> ChannelNames { get; } = ["R", "G", "B"];
}

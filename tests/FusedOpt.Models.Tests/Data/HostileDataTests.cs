using System;
using System.Collections.Generic;
using System.Formats.Tar;
using System.IO;
using System.IO.Compression;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using FusedOpt.Models.Data;
using Xunit;

namespace FusedOpt.Tests.Data;

/// <summary>
/// Data folders and archives whose contents decide paths: symbolic links are followed to what they point at (or are a
/// clear error when dangling), a --data that is empty or a file is refused, and no archive entry — "..", an absolute
/// name, a link, a device, a duplicate — writes anywhere but inside the extraction folder.
/// </summary>
public sealed class HostileDataTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fusedopt-hostile-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Load_SymlinkedBatchFiles_AreFollowedToTheirTargets()
    {
        using var data = new SyntheticCifar10(recordsPerTrainFile: 3, testRecords: 2);
        string linked = Directory.CreateDirectory(Path.Combine(_dir, "linked")).FullName;
        foreach (string file in Cifar10Layout.AllFiles)
        {
            File.CreateSymbolicLink(Path.Combine(linked, file), data.PathOf(file));
        }

        var viaLinks = Cifar10.Load(linked, new Cifar10Options { RecordsPerFile = null });
        var direct = Cifar10.Load(data.Folder, new Cifar10Options { RecordsPerFile = null });

        Assert.Equal(15, viaLinks.Train.Count);
        Assert.Equal(direct.Train.Pixels.ToArray(), viaLinks.Train.Pixels.ToArray());
        Assert.Equal(direct.Test.Labels.ToArray(), viaLinks.Test.Labels.ToArray());
    }

    [Fact]
    public void Load_DanglingSymlink_IsAClearError_NamingTheLinkAndItsTarget()
    {
        using var data = new SyntheticCifar10(recordsPerTrainFile: 3, testRecords: 2);
        string batch = data.PathOf("data_batch_3.bin");
        string gone = Path.Combine(_dir, "gone.bin");
        File.Delete(batch);
        File.CreateSymbolicLink(batch, gone);

        var e = Assert.Throws<Cifar10FormatException>(() => Cifar10.Load(data.Folder, new Cifar10Options { RecordsPerFile = null }));

        Assert.Contains($"{batch}: is a symbolic link to {gone}, which does not exist", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Resolve_EmptyDataOption_IsAnError_NotADownload()
    {
        var handler = FakeHttpHandler.Failing();
        using var download = new Cifar10Download(Path.Combine(_dir, "cache"), handler);

        var e = await Assert.ThrowsAsync<ArgumentException>(() =>
            Cifar10.ResolveDirectoryAsync("", _ => null, download, null, TestContext.Current.CancellationToken));

        Assert.Contains("The CIFAR-10 folder '' is empty", e.Message, StringComparison.Ordinal);
        Assert.Equal(0, handler.Requests);
    }

    [Fact]
    public void Locate_AFile_SaysItIsAFileNotAFolder()
    {
        string file = Path.Combine(_dir, "data_batch_1.bin");
        File.WriteAllBytes(file, new byte[Cifar10Layout.RecordSize]);

        var e = Assert.Throws<ArgumentException>(() => Cifar10.LocateFolder(file));

        Assert.Contains($"CIFAR-10 folder {file} is a file, not a folder", e.Message, StringComparison.Ordinal);
    }

    public static TheoryData<string> EscapingNames() =>
    [
        "cifar-10-batches-bin/../../escaped.bin",
        "../escaped.bin",
        "/tmp/fusedopt-escaped-absolute.bin",
        "cifar-10-batches-bin//data_batch_1.bin",
        "cifar-10-batches-bin/\u0007bell.bin",
    ];

    [Theory]
    [MemberData(nameof(EscapingNames))]
    public void Extract_EntryNameLeavingTheFolder_IsRefused_AndNothingIsWritten(string name)
    {
        string archive = Write(Archive((name, TarEntryType.RegularFile, null)));
        string cache = Path.Combine(_dir, "cache");
        Directory.CreateDirectory(cache);

        var e = Assert.Throws<Cifar10DownloadException>(() => Extract(archive, cache));

        Assert.Contains("refusing to extract the archive", e.Message, StringComparison.Ordinal);
        Assert.Empty(Directory.GetFileSystemEntries(cache));
        Assert.False(File.Exists(Path.Combine(_dir, "escaped.bin")));
        Assert.False(File.Exists("/tmp/fusedopt-escaped-absolute.bin"));
    }

    [Theory]
    [InlineData(TarEntryType.SymbolicLink)]
    [InlineData(TarEntryType.HardLink)]
    [InlineData(TarEntryType.CharacterDevice)]
    [InlineData(TarEntryType.BlockDevice)]
    [InlineData(TarEntryType.Fifo)]
    public void Extract_LinksAndDevices_AreSkipped_NeverCreated(TarEntryType type)
    {
        using var data = new SyntheticCifar10(recordsPerTrainFile: 1, testRecords: 1);
        string target = Path.Combine(_dir, "victim.txt");
        File.WriteAllText(target, "unchanged");
        var entries = Cifar10Layout.AllFiles.Select(f => (Cifar10Layout.FolderName + "/" + f, TarEntryType.RegularFile, (string?)data.PathOf(f))).ToList();

        // A link named like a batch file that comes first, pointing outside, then the file itself: the file must be
        // written as a regular file inside the folder, and the outside file left alone.
        entries.Insert(0, (Cifar10Layout.FolderName + "/extra.bin", type, target));
        string archive = Write(Archive([.. entries]));
        string cache = Path.Combine(_dir, "cache");

        string folder = Extract(archive, cache);

        Assert.False(File.Exists(Path.Combine(folder, "extra.bin")));
        Assert.Equal("unchanged", File.ReadAllText(target));
        Assert.All(Directory.GetFiles(folder), static f => Assert.Null(new FileInfo(f).LinkTarget));
        Assert.Equal(Cifar10Layout.AllFiles.Order(StringComparer.Ordinal), Directory.GetFiles(folder).Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Extract_SameEntryTwice_IsRefused()
    {
        string name = Cifar10Layout.FolderName + "/data_batch_1.bin";
        string archive = Write(Archive((name, TarEntryType.RegularFile, null), (name, TarEntryType.RegularFile, null)));

        var e = Assert.Throws<Cifar10DownloadException>(() => Extract(archive, Path.Combine(_dir, "cache")));

        Assert.Contains($"entry '{name}' appears twice", e.Message, StringComparison.Ordinal);
    }

    private static string Extract(string archive, string cache) =>
        TarGzExtractor.ExtractFolder(archive, cache, Cifar10Layout.FolderName, Cifar10Layout.AllFiles, null, CancellationToken.None);

    private string Write(byte[] bytes)
    {
        string path = Path.Combine(_dir, "archive.tar.gz");
        File.WriteAllBytes(path, bytes);
        return path;
    }

    /// <summary>
    /// A .tar.gz of (name, type, source) entries: a regular file holds the bytes of source (3 bytes when null); a link
    /// points at source; a device is 1:3 (/dev/null).
    /// </summary>
    private static byte[] Archive(params (string Name, TarEntryType Type, string? Source)[] entries)
    {
        var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Fastest, leaveOpen: true))
        using (var tar = new TarWriter(gzip, TarEntryFormat.Pax))
        {
            foreach (var (name, type, source) in entries)
            {
                var entry = new PaxTarEntry(type, name);
                switch (type)
                {
                    case TarEntryType.RegularFile:
                        entry.DataStream = new MemoryStream(source is null ? [1, 2, 3] : File.ReadAllBytes(source));
                        break;
                    case TarEntryType.SymbolicLink or TarEntryType.HardLink:
                        entry.LinkName = source!;
                        break;
                    case TarEntryType.CharacterDevice or TarEntryType.BlockDevice:
                        entry.DeviceMajor = 1;
                        entry.DeviceMinor = 3;
                        break;
                }

                tar.WriteEntry(entry);
            }
        }

        return output.ToArray();
    }
}

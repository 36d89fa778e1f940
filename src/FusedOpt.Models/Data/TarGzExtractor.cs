using System;
using System.Collections.Generic;
using System.Formats.Tar;
using System.IO;
using System.IO.Compression;
using System.Linq;
using System.Threading;

namespace FusedOpt.Models.Data;

/// <summary>
/// Extracts one folder of a .tar.gz archive with the BCL alone (<see cref="GZipStream"/> + <see cref="TarReader"/>),
/// into a staging folder first and then moved into place, so an interrupted extraction never leaves a half-filled
/// folder under the real name.
/// </summary>
internal static class TarGzExtractor
{
    /// <summary>The largest entry extracted (the CIFAR-10 batches are 30 MB each): a bigger one is refused, not written.</summary>
    public const long MaxEntryBytes = 1L << 28;

    /// <summary>
    /// Extracts the regular files under <paramref name="folderName"/>/ in <paramref name="archivePath"/> to
    /// <paramref name="destinationParent"/>/<paramref name="folderName"/>, replacing that folder, and checks that each of
    /// <paramref name="requiredFiles"/> is there. Other entries, links and devices are skipped. Returns the folder.
    /// </summary>
    public static string ExtractFolder(
        string archivePath,
        string destinationParent,
        string folderName,
        IReadOnlyList<string> requiredFiles,
        IProgress<DownloadProgress>? progress,
        CancellationToken cancellationToken)
    {
        string parent = Path.GetFullPath(destinationParent);
        string staging = Path.Combine(parent, $".extract-{Environment.ProcessId}-{Guid.NewGuid():N}");
        string destination = Path.Combine(parent, folderName);
        Directory.CreateDirectory(staging);
        try
        {
            using (var file = new FileStream(archivePath, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16))
            using (var gzip = new GZipStream(file, CompressionMode.Decompress))
            using (var tar = new TarReader(gzip))
            {
                long total = file.Length;
                var seen = new HashSet<string>(StringComparer.Ordinal);
                while (ReadEntry(tar, archivePath) is TarEntry entry)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    string? relative = RelativePath(entry.Name, archivePath);
                    if (relative is null || !IsRegularFile(entry.EntryType) || !relative.StartsWith(folderName + "/", StringComparison.Ordinal))
                    {
                        continue;
                    }

                    if (!seen.Add(relative))
                    {
                        throw new Cifar10DownloadException($"{archivePath}: entry '{entry.Name}' appears twice; refusing to extract the archive.");
                    }

                    if (entry.Length > MaxEntryBytes)
                    {
                        throw new Cifar10DownloadException($"{archivePath}: entry '{entry.Name}' is {entry.Length:N0} bytes, more than the {MaxEntryBytes:N0} a CIFAR-10 file can be; refusing to extract the archive.");
                    }

                    progress?.Report(new DownloadProgress(DownloadStage.Extracting, file.Position, total, relative));
                    string target = Path.GetFullPath(Path.Combine(staging, relative));
                    if (!target.StartsWith(staging + Path.DirectorySeparatorChar, StringComparison.Ordinal))
                    {
                        throw new Cifar10DownloadException($"{archivePath}: entry '{entry.Name}' points outside the folder it would be extracted to; refusing to extract the archive.");
                    }

                    Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                    using var output = new FileStream(target, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16);
                    entry.DataStream?.CopyTo(output);
                }

                progress?.Report(new DownloadProgress(DownloadStage.Extracting, total, total, archivePath));
            }

            string staged = Path.Combine(staging, folderName);
            string[] missing = [.. requiredFiles.Where(f => !File.Exists(Path.Combine(staged, f)))];
            if (missing.Length > 0)
            {
                throw new Cifar10DownloadException(
                    $"{archivePath}: the archive has no {string.Join(", ", missing.Select(f => folderName + "/" + f))}; it is not the CIFAR-10 binary archive.");
            }

            if (Directory.Exists(destination))
            {
                Directory.Delete(destination, recursive: true);
            }

            Directory.Move(staged, destination);
            return destination;
        }
        finally
        {
            if (Directory.Exists(staging))
            {
                Directory.Delete(staging, recursive: true);
            }
        }
    }

    private static TarEntry? ReadEntry(TarReader tar, string archivePath)
    {
        try
        {
            return tar.GetNextEntry(copyData: false);
        }
        catch (Exception e) when (e is InvalidDataException or EndOfStreamException or FormatException)
        {
            throw new Cifar10DownloadException($"{archivePath}: not a readable .tar.gz archive ({e.Message}).", e);
        }
    }

    private static bool IsRegularFile(TarEntryType type) =>
        type is TarEntryType.RegularFile or TarEntryType.V7RegularFile or TarEntryType.ContiguousFile;

    /// <summary>The entry name with forward slashes and no leading "./"; null for names that could leave the folder.</summary>
    private static string? RelativePath(string name, string archivePath)
    {
        string path = name.Replace('\\', '/');
        while (path.StartsWith("./", StringComparison.Ordinal))
        {
            path = path[2..];
        }

        if (path.Length == 0 || path.EndsWith('/'))
        {
            return null;
        }

        if (path.StartsWith('/') || Path.IsPathRooted(path) || path.Split('/').Any(static s => s is ".." or "") || path.Any(char.IsControl))
        {
            throw new Cifar10DownloadException($"{archivePath}: entry '{name}' points outside the folder it would be extracted to; refusing to extract the archive.");
        }

        return path;
    }
}

using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;

namespace FusedOpt.Models.Data;

/// <summary>
/// Loads CIFAR-10 from a folder in the official binary layout (see <see cref="Cifar10Layout"/>), finding the folder
/// from <c>--data</c>, then <c>FUSEDOPT_DATA</c>, then a one-time download into the user's cache.
/// </summary>
/// <example>
/// <code>
/// string dir = await Cifar10.ResolveDirectoryAsync(dataOption, progress: progress);
/// var data = Cifar10.Load(dir, new Cifar10Options { Subset = 4000, Balanced = true });
/// var batches = data.TrainBatches(new MinibatchOptions { BatchSize = 100, Seed = 1 });
/// </code>
/// </example>
public static class Cifar10
{
    /// <summary>The environment variable naming the data folder when no <c>--data</c> is given.</summary>
    public const string DataEnvironmentVariable = "FUSEDOPT_DATA";

    /// <summary>
    /// The folder holding the CIFAR-10 files under <paramref name="path"/>: <paramref name="path"/> itself when it
    /// holds data_batch_1.bin, else its cifar-10-batches-bin subfolder (where the archive extracts to). Throws,
    /// naming the folder and every missing file, when neither holds all six files.
    /// </summary>
    public static string LocateFolder(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (string.IsNullOrWhiteSpace(path))
        {
            throw new ArgumentException($"The CIFAR-10 folder '{path}' is empty: name a folder (--data DIR), or give no --data to use FUSEDOPT_DATA or the download cache.");
        }

        string full = Path.GetFullPath(path);
        if (File.Exists(full))
        {
            throw new ArgumentException($"CIFAR-10 folder {full} is a file, not a folder; name the folder holding the batches (the cifar-10-batches-bin folder or its parent).");
        }

        if (!Directory.Exists(full))
        {
            throw new DirectoryNotFoundException($"CIFAR-10 folder {full} does not exist.");
        }

        string folder = File.Exists(Path.Combine(full, Cifar10Layout.TrainFiles[0])) || !Directory.Exists(Path.Combine(full, Cifar10Layout.FolderName))
            ? full
            : Path.Combine(full, Cifar10Layout.FolderName);
        string[] missing = [.. Cifar10Layout.AllFiles.Where(f => !File.Exists(Path.Combine(folder, f)))];
        if (missing.Length > 0)
        {
            throw new Cifar10FormatException(
                folder,
                null,
                $"{folder}: not a CIFAR-10 binary folder; missing {string.Join(", ", missing)}. Expected {string.Join(", ", Cifar10Layout.AllFiles)} (the contents of {Cifar10Layout.FolderName}/ in cifar-10-binary.tar.gz).");
        }

        return folder;
    }

    /// <summary>
    /// Finds the data folder: <paramref name="dataOption"/> (the CLI's <c>--data</c>) when given, else the
    /// <c>FUSEDOPT_DATA</c> environment variable, else the user cache, downloading and extracting the official
    /// archive there once (through <paramref name="download"/>, or a default <see cref="Cifar10Download"/>).
    /// A folder named explicitly (even an empty <paramref name="dataOption"/>) must be complete; it never falls back to a download.
    /// </summary>
    public static Task<string> ResolveDirectoryAsync(
        string? dataOption,
        Cifar10Download? download = null,
        IProgress<DownloadProgress>? progress = null,
        CancellationToken cancellationToken = default) =>
        ResolveDirectoryAsync(dataOption, Environment.GetEnvironmentVariable, download, progress, cancellationToken);

    /// <summary>Loads the folder at <paramref name="directory"/> (see <see cref="LocateFolder"/>) with <paramref name="options"/>.</summary>
    public static Cifar10Dataset Load(string directory, Cifar10Options? options = null)
    {
        options ??= Cifar10Options.Default;
        options.Validate();
        string folder = LocateFolder(directory);

        // Check every file's size before reading any, so a broken folder fails at once and names the file.
        int[] trainCounts = [.. Cifar10Layout.TrainFiles.Select(f => Cifar10RecordReader.CountRecords(Path.Combine(folder, f), options.RecordsPerFile))];
        int testCount = Cifar10RecordReader.CountRecords(Path.Combine(folder, Cifar10Layout.TestFile), options.RecordsPerFile);

        ImageSet train = options.Balanced
            ? ReadBalanced(folder, options.Subset!.Value, options.RecordsPerFile)
            : ReadFirst("train", [.. Cifar10Layout.TrainFiles.Select(f => Path.Combine(folder, f))], trainCounts.Sum(), options.Subset, options.RecordsPerFile);
        ImageSet test = ReadFirst("test", [Path.Combine(folder, Cifar10Layout.TestFile)], testCount, options.TestSubset, options.RecordsPerFile);
        ChannelNormalization normalization = options.Normalization ?? ChannelNormalization.FromImages(train);
        return new Cifar10Dataset(folder, train, test, normalization);
    }

    internal static async Task<string> ResolveDirectoryAsync(
        string? dataOption,
        Func<string, string?> environment,
        Cifar10Download? download,
        IProgress<DownloadProgress>? progress,
        CancellationToken cancellationToken)
    {
        // A --data given, even empty, names a folder: it never falls back to the environment or a download.
        if (dataOption is not null)
        {
            return LocateFolder(dataOption);
        }

        if (environment(DataEnvironmentVariable) is { Length: > 0 } fromEnvironment)
        {
            return LocateFolder(fromEnvironment);
        }

        if (download is not null)
        {
            return await download.EnsureAsync(progress, cancellationToken).ConfigureAwait(false);
        }

        using var fresh = new Cifar10Download(DataCache.DefaultDirectory(environment));
        return await fresh.EnsureAsync(progress, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The first <paramref name="limit"/> records (all when null) of <paramref name="files"/> in order.</summary>
    private static ImageSet ReadFirst(string name, IReadOnlyList<string> files, int available, int? limit, int? recordsPerFile)
    {
        int count = limit ?? available;
        if (count > available)
        {
            throw new ArgumentException($"CIFAR-10 {name} subset of {count:N0} images is larger than the {available:N0} the files hold ({string.Join(", ", files)}).");
        }

        var pixels = new byte[(long)count * Cifar10Layout.ImageSize];
        var labels = new byte[count];
        int taken = 0;
        foreach (string file in files)
        {
            if (taken == count)
            {
                break;
            }

            using var reader = Cifar10RecordReader.Open(file, recordsPerFile);
            while (taken < count && reader.MoveNext())
            {
                labels[taken] = reader.Label;
                reader.Image.CopyTo(pixels.AsSpan(taken * Cifar10Layout.ImageSize));
                taken++;
            }
        }

        return new ImageSet(name, pixels, labels);
    }

    /// <summary>The first <paramref name="count"/> / 10 training records of each class, kept in file order.</summary>
    private static ImageSet ReadBalanced(string folder, int count, int? recordsPerFile)
    {
        int perClass = count / Cifar10Layout.ClassCount;
        var pixels = new byte[(long)count * Cifar10Layout.ImageSize];
        var labels = new byte[count];
        var taken = new int[Cifar10Layout.ClassCount];
        int total = 0;
        foreach (string file in Cifar10Layout.TrainFiles)
        {
            using var reader = Cifar10RecordReader.Open(Path.Combine(folder, file), recordsPerFile);
            while (total < count && reader.MoveNext())
            {
                byte label = reader.Label;
                if (taken[label] < perClass)
                {
                    taken[label]++;
                    labels[total] = label;
                    reader.Image.CopyTo(pixels.AsSpan(total * Cifar10Layout.ImageSize));
                    total++;
                }
            }
        }

        if (total < count)
        {
            int lacking = Array.FindIndex(taken, t => t < perClass);
            throw new ArgumentException(
                $"CIFAR-10 balanced subset of {count:N0} needs {perClass:N0} training images of class {lacking} ({Cifar10Layout.ClassNames[lacking]}); {folder} holds only {taken[lacking]:N0}.");
        }

        return new ImageSet("train", pixels, labels);
    }
}

using System;
using System.Globalization;
using System.IO;

namespace FusedOpt.Models.Data;

/// <summary>
/// Reads the records of one CIFAR-10 batch file in order, a chunk at a time, checking each label. Open it with
/// <see cref="Open"/>, which checks the file size first; then call <see cref="MoveNext"/> and read
/// <see cref="Label"/> and <see cref="Image"/>, which are valid until the next call.
/// </summary>
internal sealed class Cifar10RecordReader : IDisposable
{
    private const int ChunkRecords = 512;

    private readonly FileStream _stream;
    private readonly byte[] _chunk;
    private int _inChunk;
    private int _positionInChunk = -1;

    private Cifar10RecordReader(string path, int recordCount)
    {
        Path = path;
        RecordCount = recordCount;
        _stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1, FileOptions.SequentialScan);
        _chunk = new byte[Math.Min(ChunkRecords, Math.Max(recordCount, 1)) * Cifar10Layout.RecordSize];
    }

    /// <summary>The file being read.</summary>
    public string Path { get; }

    /// <summary>Records the file holds.</summary>
    public int RecordCount { get; }

    /// <summary>The 0-based index of the current record.</summary>
    public int Index { get; private set; } = -1;

    /// <summary>The current record's label, 0–9.</summary>
    public byte Label => _chunk[_positionInChunk * Cifar10Layout.RecordSize];

    /// <summary>The current record's 3,072 pixel bytes, CHW.</summary>
    public ReadOnlySpan<byte> Image => _chunk.AsSpan((_positionInChunk * Cifar10Layout.RecordSize) + 1, Cifar10Layout.ImageSize);

    /// <summary>
    /// Checks that <paramref name="path"/> holds a whole number of records, exactly <paramref name="recordsPerFile"/>
    /// of them when that is given, and returns how many.
    /// </summary>
    public static int CountRecords(string path, int? recordsPerFile)
    {
        var info = new FileInfo(path);
        if (!info.Exists)
        {
            throw new Cifar10FormatException(path, null, $"{path}: CIFAR-10 file not found.");
        }

        // A symbolic link's own FileInfo reports the link's size, not the batch's: measure the file it points to.
        if (info.LinkTarget is { } link)
        {
            FileSystemInfo? target;
            try
            {
                target = info.ResolveLinkTarget(returnFinalTarget: true);
            }
            catch (IOException e)
            {
                throw new Cifar10FormatException(path, null, $"{path}: is a symbolic link to {link} that cannot be followed ({e.Message}).");
            }

            if (target is not FileInfo { Exists: true } file)
            {
                throw new Cifar10FormatException(path, null, $"{path}: is a symbolic link to {target?.FullName ?? link}, which does not exist (a dangling link).");
            }

            info = file;
        }

        long length = info.Length;
        long whole = length / Cifar10Layout.RecordSize;
        long rest = length % Cifar10Layout.RecordSize;
        if (rest != 0)
        {
            throw new Cifar10FormatException(
                path,
                whole,
                Invariant($"{path}: {length:N0} bytes is not a whole number of {Cifar10Layout.RecordSize:N0}-byte records; record {whole:N0} is truncated ({rest:N0} of {Cifar10Layout.RecordSize:N0} bytes). The file is incomplete or not a CIFAR-10 binary batch."));
        }

        if (recordsPerFile is int expected && whole != expected)
        {
            throw new Cifar10FormatException(
                path,
                null,
                Invariant($"{path}: holds {whole:N0} records ({length:N0} bytes), expected {expected:N0} ({(long)expected * Cifar10Layout.RecordSize:N0} bytes) as in the official layout."));
        }

        if (whole == 0)
        {
            throw new Cifar10FormatException(path, null, $"{path}: the file is empty; expected {Cifar10Layout.RecordSize}-byte records.");
        }

        if (whole > int.MaxValue / Cifar10Layout.RecordSize)
        {
            throw new Cifar10FormatException(path, null, Invariant($"{path}: {whole:N0} records is more than one file may hold here."));
        }

        return (int)whole;
    }

    /// <summary>Checks the size of <paramref name="path"/> (see <see cref="CountRecords"/>) and opens it.</summary>
    public static Cifar10RecordReader Open(string path, int? recordsPerFile) => new(path, CountRecords(path, recordsPerFile));

    /// <summary>Advances to the next record; false after the last. Throws when the label is outside 0–9 or the file shrank.</summary>
    public bool MoveNext()
    {
        if (Index + 1 >= RecordCount)
        {
            return false;
        }

        Index++;
        _positionInChunk++;
        if (_positionInChunk >= _inChunk)
        {
            FillChunk();
        }

        if (Label >= Cifar10Layout.ClassCount)
        {
            throw new Cifar10FormatException(
                Path,
                Index,
                Invariant($"{Path}: record {Index:N0} (byte offset {(long)Index * Cifar10Layout.RecordSize:N0}) has label {Label}; labels must be 0–9."));
        }

        return true;
    }

    /// <inheritdoc/>
    public void Dispose() => _stream.Dispose();

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);

    private void FillChunk()
    {
        int records = Math.Min(_chunk.Length / Cifar10Layout.RecordSize, RecordCount - Index);
        int bytes = records * Cifar10Layout.RecordSize;
        int read = _stream.ReadAtLeast(_chunk.AsSpan(0, bytes), bytes, throwOnEndOfStream: false);
        if (read < bytes)
        {
            long record = Index + (read / Cifar10Layout.RecordSize);
            throw new Cifar10FormatException(
                Path,
                record,
                Invariant($"{Path}: the file ended inside record {record:N0} while reading; it was changed or truncated after it was opened."));
        }

        _inChunk = records;
        _positionInChunk = 0;
    }
}

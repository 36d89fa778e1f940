using System;
using System.IO;
using FusedOpt.IO;

namespace FusedOpt.Models.Training.Metrics;

/// <summary>Operations on a whole metrics file that a resumed run needs.</summary>
public static class MetricsFile
{
    /// <summary>
    /// Cuts <paramref name="path"/> back to its first <paramref name="length"/> bytes, which must end a line: what a
    /// run killed after its last checkpoint wrote past that point (iterations to be repeated, an unfinished line) is
    /// dropped. Atomic: the kept bytes go to <c>{path}.tmp-{process id}</c>, flushed to disk, which then replaces the
    /// file, so a crash during the cut leaves either the old file or the new one. Returns the bytes removed.
    /// </summary>
    /// <exception cref="InvalidDataException">The file is shorter than <paramref name="length"/>, or the byte before it does not end a line.</exception>
    public static long CutBack(string path, long length)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        string full = Path.GetFullPath(path);
        long size = new FileInfo(full).Length;
        if (size < length)
        {
            throw new InvalidDataException($"{full}: the checkpoint says the metrics reached byte {length}, but the file holds only {size}; it was changed or replaced after the checkpoint.");
        }

        if (size == length)
        {
            return 0;
        }

        AtomicFile.Write(
            full,
            target =>
            {
                using var source = new FileStream(full, FileMode.Open, FileAccess.Read, FileShare.Read);
                if (length > 0)
                {
                    source.Position = length - 1;
                    if (source.ReadByte() != '\n')
                    {
                        throw new InvalidDataException($"{full}: byte {length} recorded by the checkpoint does not end a line; the file was changed after the checkpoint.");
                    }

                    source.Position = 0;
                }

                var buffer = new byte[1 << 16];
                long left = length;
                while (left > 0)
                {
                    int read = source.Read(buffer, 0, (int)Math.Min(buffer.Length, left));
                    if (read == 0)
                    {
                        throw new EndOfStreamException($"{full}: ended while copying its first {length} bytes.");
                    }

                    target.Write(buffer, 0, read);
                    left -= read;
                }
            },
            1 << 16);

        return size - length;
    }

    /// <summary>
    /// The length of <paramref name="path"/> up to and including the end-of-epoch record of <paramref name="epoch"/>
    /// (and the run record before it when <paramref name="epoch"/> is 0): where a version-1 checkpoint, which does
    /// not record the length, cuts the file back to.
    /// </summary>
    public static long LengthThroughEpoch(string path, int epoch)
    {
        byte[] bytes = File.ReadAllBytes(path);
        long end = 0;
        int lineStart = 0;
        for (int i = 0; i < bytes.Length; i++)
        {
            if (bytes[i] != '\n')
            {
                continue;
            }

            string line = System.Text.Encoding.UTF8.GetString(bytes, lineStart, i - lineStart);
            lineStart = i + 1;
            MetricsRecord? record;
            try
            {
                record = System.Text.Json.JsonSerializer.Deserialize(line, MetricsJsonContext.Default.MetricsRecord);
            }
            catch (System.Text.Json.JsonException)
            {
                continue;
            }

            if (record is RunMetadata && epoch == 0)
            {
                end = i + 1;
            }
            else if (record is EpochMetrics e && e.Epoch == epoch)
            {
                return i + 1;
            }
        }

        return epoch == 0 ? end : throw new InvalidDataException($"{path}: no end-of-epoch record for epoch {epoch}, which the checkpoint has completed.");
    }
}

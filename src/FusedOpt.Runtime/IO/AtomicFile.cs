using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;

namespace FusedOpt.IO;

/// <summary>
/// Atomic file replacement: the new contents go to a temporary file beside the target
/// (<c>{name}.tmp-{process id}</c>), are flushed to disk, and the temporary is then renamed over the target. A crash
/// leaves either the old file or the new one under the real name, never half of one; on any failure the temporary is
/// deleted and the target is untouched.
/// </summary>
public static class AtomicFile
{
    /// <summary>What separates the target's name from the process id in a temporary's name.</summary>
    public const string TemporaryMarker = ".tmp-";

    // File.WriteAllText's encoding: UTF-8 without a byte-order mark, throwing on invalid text.
    private static readonly UTF8Encoding Utf8NoBom = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>The temporary file <see cref="Write"/> uses for <paramref name="path"/>: <c>{path}.tmp-{process id}</c>.</summary>
    public static string TemporaryPath(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        return path + TemporaryMarker + Environment.ProcessId.ToString(CultureInfo.InvariantCulture);
    }

    /// <summary>
    /// Replaces <paramref name="path"/> with what <paramref name="write"/> writes to the stream it is given: written to
    /// <see cref="TemporaryPath"/>, flushed to disk, then renamed over <paramref name="path"/>. The folder must exist.
    /// If <paramref name="write"/> or the rename throws, the temporary is deleted, <paramref name="path"/> is left as
    /// it was, and the exception propagates.
    /// </summary>
    /// <param name="path">The file to create or replace.</param>
    /// <param name="write">Writes the new contents.</param>
    /// <param name="bufferSize">The temporary file stream's buffer size.</param>
    public static void Write(string path, Action<Stream> write, int bufferSize = 4096)
    {
        ArgumentNullException.ThrowIfNull(write);
        string temp = TemporaryPath(path);
        try
        {
            using (var file = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None, bufferSize))
            {
                write(file);
                file.Flush(flushToDisk: true);
            }

            File.Move(temp, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp))
            {
                File.Delete(temp);
            }
        }
    }

    /// <summary>
    /// Replaces <paramref name="path"/> with <paramref name="contents"/> as UTF-8 without a byte-order mark (the bytes
    /// <see cref="File.WriteAllText(string, string)"/> writes), atomically as <see cref="Write"/> does.
    /// </summary>
    /// <param name="path">The file to create or replace.</param>
    /// <param name="contents">The new text.</param>
    public static void WriteAllText(string path, string contents)
    {
        ArgumentNullException.ThrowIfNull(contents);
        Write(path, stream => stream.Write(Utf8NoBom.GetBytes(contents)));
    }

    /// <summary>
    /// Deletes the temporaries a killed <see cref="Write"/> left beside <paramref name="path"/>
    /// (<c>{name}.tmp-{digits}</c>, nothing else) and returns their names.
    /// </summary>
    /// <param name="path">The target whose temporaries are removed.</param>
    public static IReadOnlyList<string> RemoveStaleTemporaries(string path)
    {
        string full = Path.GetFullPath(path);
        string folder = Path.GetDirectoryName(full)!;
        string prefix = Path.GetFileName(full) + TemporaryMarker;
        var removed = new List<string>();
        if (!Directory.Exists(folder))
        {
            return removed;
        }

        foreach (string file in Directory.EnumerateFiles(folder, prefix + "*"))
        {
            string suffix = Path.GetFileName(file)[prefix.Length..];
            if (suffix.Length > 0 && suffix.All(char.IsAsciiDigit))
            {
                File.Delete(file);
                removed.Add(Path.GetFileName(file));
            }
        }

        return removed;
    }
}

using System;
using System.Globalization;
using System.IO;

namespace FusedOpt.Memory;

/// <summary>
/// Checks, before a large allocation, that the memory it needs is there. Native buffers are committed lazily on Linux,
/// so an allocation far beyond the machine's memory "succeeds" and the kernel's out-of-memory killer ends the process
/// (or a neighbour) when the pages are first touched; this turns that into a clear error before anything is allocated.
/// </summary>
public static class MemoryBudget
{
    /// <summary>Share of the available memory one request may take, leaving room for the runtime and the rest of the machine.</summary>
    public const double UsableFraction = 0.9;

    /// <summary>
    /// Bytes this process can still allocate: the least of the kernel's <c>MemAvailable</c> (<c>/proc/meminfo</c>), the
    /// room left under a cgroup v2 memory limit, and the runtime's own limit (<see cref="GCMemoryInfo.TotalAvailableMemoryBytes"/>,
    /// which honours container limits and <c>DOTNET_GCHeapHardLimit</c>) less what is in use.
    /// </summary>
    public static long AvailableBytes
    {
        get
        {
            var info = GC.GetGCMemoryInfo();
            long available = Math.Max(0, info.TotalAvailableMemoryBytes - Environment.WorkingSet);
            if (ReadMemInfo("MemAvailable:") is { } memAvailable)
            {
                available = Math.Min(available, memAvailable);
            }

            if (ReadNumber("/sys/fs/cgroup/memory.max") is { } max && ReadNumber("/sys/fs/cgroup/memory.current") is { } current)
            {
                available = Math.Min(available, Math.Max(0, max - current));
            }

            return available;
        }
    }

    /// <summary>
    /// Throws <see cref="InsufficientMemoryException"/> naming <paramref name="what"/>, the bytes it needs and the bytes
    /// available, when <paramref name="bytes"/> exceeds <see cref="UsableFraction"/> of <see cref="AvailableBytes"/>.
    /// </summary>
    /// <param name="bytes">Bytes needed (computed with checked arithmetic; see <see cref="Bytes"/>).</param>
    /// <param name="what">What needs them, e.g. <c>bench step adam --size 1G (fused, naive and scalar states, probes)</c>.</param>
    /// <param name="available">Bytes available; null measures <see cref="AvailableBytes"/> (tests pass a value).</param>
    public static void Require(long bytes, string what, long? available = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        long have = available ?? AvailableBytes;
        if (bytes > have * UsableFraction)
        {
            throw new InsufficientMemoryException(
                $"{what} needs {Format(bytes)} of memory, but only {Format(have)} is available; ask for a smaller size.");
        }
    }

    /// <summary>
    /// <paramref name="count"/> elements of <paramref name="elementBytes"/> bytes, as bytes; an
    /// <see cref="InsufficientMemoryException"/> (no machine has that much) instead of overflowing.
    /// </summary>
    public static long Bytes(long count, long elementBytes, string what)
    {
        try
        {
            return checked(count * elementBytes);
        }
        catch (OverflowException)
        {
            throw new InsufficientMemoryException($"{what} needs {count.ToString("N0", CultureInfo.InvariantCulture)} × {elementBytes} bytes, more than any machine has; ask for a smaller size.");
        }
    }

    /// <summary>Bytes in binary units, e.g. <c>28.0 GiB</c>.</summary>
    public static string Format(long bytes)
    {
        string[] units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
        double value = bytes;
        int unit = 0;
        while (value >= 1024 && unit < units.Length - 1)
        {
            value /= 1024;
            unit++;
        }

        return unit == 0 ? $"{bytes} B" : value.ToString("0.0", CultureInfo.InvariantCulture) + " " + units[unit];
    }

    private static long? ReadMemInfo(string key)
    {
        try
        {
            if (!File.Exists("/proc/meminfo"))
            {
                return null;
            }

            foreach (var line in File.ReadLines("/proc/meminfo"))
            {
                if (line.StartsWith(key, StringComparison.Ordinal))
                {
                    var parts = line[key.Length..].Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries);
                    return long.TryParse(parts[0], NumberStyles.Integer, CultureInfo.InvariantCulture, out long kib) ? kib * 1024 : null;
                }
            }
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }

        return null;
    }

    private static long? ReadNumber(string path)
    {
        try
        {
            return File.Exists(path) && long.TryParse(File.ReadAllText(path).Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out long v) ? v : null;
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }
}

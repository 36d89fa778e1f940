using System;
using System.IO;

namespace FusedOpt.Models.Data;

/// <summary>
/// A CIFAR-10 file that does not follow the binary layout: missing, truncated, of the wrong size, or holding a
/// label outside 0–9. The message names the file, and the record when one is at fault.
/// </summary>
public sealed class Cifar10FormatException : IOException
{
    /// <summary>Creates the exception for <paramref name="path"/>; <paramref name="record"/> is the 0-based record index, if any.</summary>
    public Cifar10FormatException(string path, long? record, string message)
        : base(message)
    {
        Path = path;
        Record = record;
    }

    /// <summary>Creates the exception with a message only.</summary>
    public Cifar10FormatException(string message)
        : this(string.Empty, null, message)
    {
    }

    /// <summary>Creates the exception with a message and an inner exception.</summary>
    public Cifar10FormatException(string message, Exception innerException)
        : base(message, innerException)
    {
        Path = string.Empty;
    }

    /// <summary>Creates the exception with no message (required by the exception pattern).</summary>
    public Cifar10FormatException()
        : this("The CIFAR-10 data is not in the official binary layout.")
    {
    }

    /// <summary>The file at fault; empty when the error is not about one file.</summary>
    public string Path { get; }

    /// <summary>The 0-based index of the record at fault within <see cref="Path"/>, when the error is about one record.</summary>
    public long? Record { get; }
}

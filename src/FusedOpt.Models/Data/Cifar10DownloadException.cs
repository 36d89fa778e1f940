using System;
using System.IO;

namespace FusedOpt.Models.Data;

/// <summary>The CIFAR-10 archive could not be downloaded, verified or extracted. The message says what to do instead.</summary>
public sealed class Cifar10DownloadException : IOException
{
    /// <summary>Creates the exception.</summary>
    public Cifar10DownloadException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with its cause.</summary>
    public Cifar10DownloadException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception with no message (required by the exception pattern).</summary>
    public Cifar10DownloadException()
        : base("The CIFAR-10 archive could not be obtained.")
    {
    }
}

namespace FusedOpt.Models.Data;

/// <summary>The phase a data download is in.</summary>
public enum DownloadStage
{
    /// <summary>Receiving the archive; bytes are archive bytes.</summary>
    Downloading,

    /// <summary>Checking the archive's MD5 (a cached archive is read again); bytes are archive bytes.</summary>
    Verifying,

    /// <summary>Unpacking; bytes are the compressed bytes read so far, <see cref="DownloadProgress.Item"/> the entry.</summary>
    Extracting,

    /// <summary>The folder is ready.</summary>
    Done,
}

/// <summary>
/// One progress report of <see cref="Cifar10Download"/>; the CLI renders these as a progress bar.
/// </summary>
/// <param name="Stage">The phase.</param>
/// <param name="Bytes">Bytes processed so far in this phase.</param>
/// <param name="TotalBytes">Bytes the phase will process, when known (the server may not send a length).</param>
/// <param name="Item">What is being processed: the URL, the archive path or the entry being extracted.</param>
public readonly record struct DownloadProgress(DownloadStage Stage, long Bytes, long? TotalBytes, string Item)
{
    /// <summary>The fraction done in [0, 1], when the total is known.</summary>
    public double? Fraction => TotalBytes is > 0 and long total ? System.Math.Clamp((double)Bytes / total, 0, 1) : null;
}

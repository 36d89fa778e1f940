using System;
using System.Buffers;
using System.IO;
using System.Linq;
using System.Net.Http;
using System.Security.Cryptography;
using System.Threading;
using System.Threading.Tasks;

namespace FusedOpt.Models.Data;

/// <summary>
/// Downloads the official CIFAR-10 binary archive once into a cache folder, checks its MD5, and extracts it there
/// with the BCL (no external tools). The HTTP handler is injected, so tests run it without a network.
/// </summary>
/// <remarks>
/// Steps, each safe to interrupt: the archive is received as <c>cifar-10-binary.tar.gz.part</c> with its MD5
/// computed on the fly, renamed only when the MD5 matches (a mismatch deletes it and throws), then extracted to
/// <c>cifar-10-batches-bin/</c> through a staging folder. The archive is deleted once extracted (it is 163 MB and
/// the folder holds the same data); a complete folder is never downloaded again.
/// </remarks>
public sealed class Cifar10Download : IDisposable
{
    /// <summary>The official archive.</summary>
    public static readonly Uri OfficialUri = new("https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz");

    /// <summary>The MD5 the official archive's page publishes.</summary>
    public const string OfficialMd5 = "c32a1d4ab5d03f1284b67883e8d87530";

    /// <summary>The archive's file name in the cache folder.</summary>
    public const string ArchiveFileName = "cifar-10-binary.tar.gz";

    private const int ReportEveryBytes = 1 << 20;

    private readonly HttpClient _http;

    /// <summary>
    /// Creates a download into <paramref name="cacheDirectory"/>. <paramref name="handler"/> (not disposed here) sends the
    /// request; null uses a default socket handler. <paramref name="source"/> and <paramref name="expectedMd5"/> default
    /// to the official archive.
    /// </summary>
    public Cifar10Download(string cacheDirectory, HttpMessageHandler? handler = null, Uri? source = null, string? expectedMd5 = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(cacheDirectory);
        expectedMd5 ??= OfficialMd5;
        if (expectedMd5.Length != 32 || !expectedMd5.All(Uri.IsHexDigit))
        {
            throw new ArgumentException($"CIFAR-10 download: expected MD5 must be 32 hex digits, got '{expectedMd5}'.", nameof(expectedMd5));
        }

        CacheDirectory = Path.GetFullPath(cacheDirectory);
        Source = source ?? OfficialUri;
        ExpectedMd5 = expectedMd5.ToLowerInvariant();
        _http = handler is null ? new HttpClient() : new HttpClient(handler, disposeHandler: false);
    }

    /// <summary>The cache folder the archive and the extracted folder go to.</summary>
    public string CacheDirectory { get; }

    /// <summary>Where the archive is fetched from.</summary>
    public Uri Source { get; }

    /// <summary>The archive's expected MD5, lower-case hex.</summary>
    public string ExpectedMd5 { get; }

    /// <summary>The archive's path in the cache while it is downloaded and extracted.</summary>
    public string ArchivePath => Path.Combine(CacheDirectory, ArchiveFileName);

    /// <summary>The extracted folder.</summary>
    public string DataDirectory => Path.Combine(CacheDirectory, Cifar10Layout.FolderName);

    /// <summary>True when <see cref="DataDirectory"/> holds all six files.</summary>
    public bool IsComplete => Cifar10Layout.AllFiles.All(f => File.Exists(Path.Combine(DataDirectory, f)));

    /// <summary>
    /// Returns <see cref="DataDirectory"/>, first downloading, verifying and extracting the archive unless the folder
    /// is already complete. A cached archive with the right MD5 (from an interrupted earlier run) is reused.
    /// </summary>
    public async Task<string> EnsureAsync(IProgress<DownloadProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        if (IsComplete)
        {
            progress?.Report(new DownloadProgress(DownloadStage.Done, 0, 0, DataDirectory));
            return DataDirectory;
        }

        Directory.CreateDirectory(CacheDirectory);
        if (!File.Exists(ArchivePath) || !await HasExpectedMd5Async(ArchivePath, progress, cancellationToken).ConfigureAwait(false))
        {
            await DownloadArchiveAsync(progress, cancellationToken).ConfigureAwait(false);
        }

        string folder = TarGzExtractor.ExtractFolder(ArchivePath, CacheDirectory, Cifar10Layout.FolderName, Cifar10Layout.AllFiles, progress, cancellationToken);
        File.Delete(ArchivePath);
        progress?.Report(new DownloadProgress(DownloadStage.Done, 0, 0, folder));
        return folder;
    }

    /// <summary>
    /// Downloads <see cref="Source"/> to <see cref="ArchivePath"/>, checking its MD5. On any failure, a mismatch
    /// included, the partial file is deleted and a <see cref="Cifar10DownloadException"/> says what happened.
    /// </summary>
    public async Task DownloadArchiveAsync(IProgress<DownloadProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        Directory.CreateDirectory(CacheDirectory);
        string partial = ArchivePath + ".part";
        byte[] buffer = ArrayPool<byte>.Shared.Rent(1 << 16);
        try
        {
            string actual;
            using (var response = await Send(cancellationToken).ConfigureAwait(false))
            {
                long? total = response.Content.Headers.ContentLength;
                long received = 0, reported = 0;
                using var md5 = IncrementalHash.CreateHash(HashAlgorithmName.MD5);
                var body = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
                await using (body.ConfigureAwait(false))
                {
                    var file = new FileStream(partial, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true);
                    await using (file.ConfigureAwait(false))
                    {
                        progress?.Report(new DownloadProgress(DownloadStage.Downloading, 0, total, Source.ToString()));
                        int read;
                        while ((read = await ReadBody(body, buffer, cancellationToken).ConfigureAwait(false)) > 0)
                        {
                            md5.AppendData(buffer, 0, read);
                            await file.WriteAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
                            received += read;
                            if (received - reported >= ReportEveryBytes)
                            {
                                reported = received;
                                progress?.Report(new DownloadProgress(DownloadStage.Downloading, received, total, Source.ToString()));
                            }
                        }

                        progress?.Report(new DownloadProgress(DownloadStage.Downloading, received, total, Source.ToString()));
                    }
                }

                if (total is long length && received != length)
                {
                    throw new Cifar10DownloadException(
                        $"Downloading {Source}: the connection closed after {received:N0} of {length:N0} bytes; the partial file was removed. Run again, or {ManualHint}");
                }

                actual = Convert.ToHexStringLower(md5.GetHashAndReset());
            }

            if (actual != ExpectedMd5)
            {
                throw new Cifar10DownloadException(
                    $"Downloading {Source}: MD5 of the archive is {actual}, expected {ExpectedMd5}; the file was removed. The download was corrupted or the server sent something else. Run again, or {ManualHint}");
            }

            File.Move(partial, ArchivePath, overwrite: true);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
            if (File.Exists(partial))
            {
                File.Delete(partial);
            }
        }
    }

    /// <inheritdoc/>
    public void Dispose() => _http.Dispose();

    private static string ManualHint =>
        $"download {OfficialUri} by hand, extract it, and pass --data DIR or set {Cifar10.DataEnvironmentVariable}=DIR.";

    private async Task<HttpResponseMessage> Send(CancellationToken cancellationToken)
    {
        HttpResponseMessage response;
        try
        {
            response = await _http.GetAsync(Source, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
        }
        catch (HttpRequestException e)
        {
            throw new Cifar10DownloadException($"Downloading {Source} failed: {e.Message} To work offline, {ManualHint}", e);
        }

        if (!response.IsSuccessStatusCode)
        {
            int code = (int)response.StatusCode;
            string reason = response.ReasonPhrase ?? response.StatusCode.ToString();
            response.Dispose();
            throw new Cifar10DownloadException($"Downloading {Source} failed: HTTP {code} {reason}. To work offline, {ManualHint}");
        }

        return response;
    }

    private async ValueTask<int> ReadBody(Stream body, byte[] buffer, CancellationToken cancellationToken)
    {
        try
        {
            return await body.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is HttpRequestException or IOException)
        {
            throw new Cifar10DownloadException($"Downloading {Source}: the connection failed ({e.Message}); the partial file was removed. Run again, or {ManualHint}", e);
        }
    }

    /// <summary>Reads the cached archive again and compares its MD5; a mismatch deletes it (it will be downloaded again).</summary>
    private async Task<bool> HasExpectedMd5Async(string path, IProgress<DownloadProgress>? progress, CancellationToken cancellationToken)
    {
        var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, useAsync: true);
        string actual;
        await using (file.ConfigureAwait(false))
        {
            progress?.Report(new DownloadProgress(DownloadStage.Verifying, 0, file.Length, path));
            actual = Convert.ToHexStringLower(await MD5.HashDataAsync(file, cancellationToken).ConfigureAwait(false));
            progress?.Report(new DownloadProgress(DownloadStage.Verifying, file.Length, file.Length, path));
        }

        if (actual == ExpectedMd5)
        {
            return true;
        }

        File.Delete(path);
        return false;
    }
}

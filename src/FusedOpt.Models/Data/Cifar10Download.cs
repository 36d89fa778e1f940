using System;
using System.Buffers;
using System.IO;
using System.Linq;
using System.Net.Http;
using System.Net.Http.Headers;
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
/// computed on the fly (a timed-out, stalled or dropped connection is retried from where it stopped, with an HTTP
/// Range request), renamed only when the MD5 matches (a mismatch deletes it and throws), then extracted to
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
        // No whole-request timeout (HttpClient's 100 s default ended a slow but steady download without a word): the
        // connect and stall timeouts bound each attempt instead.
        _http = handler is null
            ? new HttpClient(new SocketsHttpHandler { ConnectTimeout = TimeSpan.FromSeconds(30) }) { Timeout = Timeout.InfiniteTimeSpan }
            : new HttpClient(handler, disposeHandler: false) { Timeout = Timeout.InfiniteTimeSpan };
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
    /// Downloads <see cref="Source"/> to <see cref="ArchivePath"/>, checking its MD5. The bytes go to
    /// <c>ArchivePath.part</c>; a connection that fails, closes early, gives no response within
    /// <see cref="ConnectTimeout"/> or no data for <see cref="StallTimeout"/> is tried again (up to
    /// <see cref="Attempts"/> in all), continuing the partial file with an HTTP <c>Range</c> request (from the start
    /// when the server ignores it). A partial file left by an earlier run is continued the same way. When every attempt
    /// fails, a <see cref="Cifar10DownloadException"/> names the URL and what happened, and the partial file is kept for
    /// the next run; an MD5 mismatch deletes it.
    /// </summary>
    public async Task DownloadArchiveAsync(IProgress<DownloadProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        Directory.CreateDirectory(CacheDirectory);
        string partial = ArchivePath + ".part";
        var state = new Transfer(partial);
        try
        {
            if (File.Exists(partial))
            {
                // Continue an earlier run's bytes: they count towards the MD5 like freshly received ones.
                var existing = new FileStream(partial, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, useAsync: true);
                await using (existing.ConfigureAwait(false))
                {
                    progress?.Report(new DownloadProgress(DownloadStage.Verifying, 0, existing.Length, partial));
                    byte[] chunk = new byte[1 << 16];
                    int n;
                    while ((n = await existing.ReadAsync(chunk, cancellationToken).ConfigureAwait(false)) > 0)
                    {
                        state.Md5.AppendData(chunk, 0, n);
                        state.Received += n;
                    }
                }
            }

            for (int attempt = 1; ; attempt++)
            {
                try
                {
                    await TransferOnceAsync(state, progress, cancellationToken).ConfigureAwait(false);
                    break;
                }
                catch (AttemptFailedException e) when (attempt < Attempts)
                {
                    progress?.Report(new DownloadProgress(DownloadStage.Downloading, state.Received, state.Total, $"{Source} ({e.Message}; attempt {attempt + 1} of {Attempts})"));
                    await Task.Delay(RetryDelay * attempt, cancellationToken).ConfigureAwait(false);
                }
                catch (AttemptFailedException e)
                {
                    bool kept = File.Exists(partial) && state.Received > 0;
                    throw new Cifar10DownloadException(
                        $"Downloading {Source}: {e.Message}; gave up after {Attempts} attempt{(Attempts == 1 ? "" : "s")}."
                        + (kept ? $" The {state.Received:N0} bytes received are kept in {partial}, and the next run continues from there." : "")
                        + $" Run again, or {ManualHint}",
                        e.InnerException ?? e);
                }
            }

            string actual = Convert.ToHexStringLower(state.Md5.GetHashAndReset());
            if (actual != ExpectedMd5)
            {
                File.Delete(partial);
                throw new Cifar10DownloadException(
                    $"Downloading {Source}: MD5 of the archive is {actual}, expected {ExpectedMd5}; the file was removed. The download was corrupted or the server sent something else. Run again, or {ManualHint}");
            }

            File.Move(partial, ArchivePath, overwrite: true);
        }
        finally
        {
            state.Md5.Dispose();
        }
    }

    /// <summary>How long to wait for the server's response (connecting included) before an attempt is abandoned.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How long the body may send nothing before the attempt is abandoned as stalled.</summary>
    public TimeSpan StallTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Attempts in all (the first included) before the download gives up.</summary>
    public int Attempts
    {
        get => _attempts;
        init => _attempts = value >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(Attempts), value, $"CIFAR-10 download: attempts must be ≥ 1, got {value}.");
    }

    /// <summary>The wait before the second attempt; the n-th retry waits n times as long.</summary>
    public TimeSpan RetryDelay { get; init; } = TimeSpan.FromSeconds(2);

    private int _attempts = 4;

    /// <inheritdoc/>
    public void Dispose() => _http.Dispose();

    private static string ManualHint =>
        $"download {OfficialUri} by hand, extract it, and pass --data DIR or set {Cifar10.DataEnvironmentVariable}=DIR.";

    /// <summary>One request: from <see cref="Transfer.Received"/> on (a Range request) to the end, appended to the partial file.</summary>
    private async Task TransferOnceAsync(Transfer state, IProgress<DownloadProgress>? progress, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, Source);
        if (state.Received > 0)
        {
            request.Headers.Range = new RangeHeaderValue(state.Received, null);
        }

        HttpResponseMessage response;
        using (var connect = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
        {
            connect.CancelAfter(ConnectTimeout);
            try
            {
                response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, connect.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException e) when (!cancellationToken.IsCancellationRequested)
            {
                throw new AttemptFailedException($"no response within {Seconds(ConnectTimeout)} (connect timeout)", e);
            }
            catch (HttpRequestException e)
            {
                throw new AttemptFailedException($"the request failed ({e.Message})", e);
            }
        }

        using (response)
        {
            int code = (int)response.StatusCode;
            if (code == 416 && state.Received > 0)
            {
                // The partial file is not a prefix the server recognises: start over.
                long had = state.Received;
                state.Restart();
                throw new AttemptFailedException($"the server refused to continue from byte {had:N0} (HTTP 416)", null);
            }

            if (!response.IsSuccessStatusCode)
            {
                string reason = response.ReasonPhrase ?? response.StatusCode.ToString();
                string message = $"HTTP {code} {reason}";
                if (code >= 500 || code == 408 || code == 429)
                {
                    throw new AttemptFailedException(message, null);
                }

                throw new Cifar10DownloadException($"Downloading {Source} failed: {message}. To work offline, {ManualHint}");
            }

            bool continues = code == 206 && response.Content.Headers.ContentRange is { From: long from } && from == state.Received;
            if (!continues && state.Received > 0)
            {
                // The server ignored the Range request (200) or answered another range: take the whole body afresh.
                state.Restart();
            }

            long? length = response.Content.Headers.ContentLength;
            state.Total = length is long l ? state.Received + l : null;
            var body = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
            await using (body.ConfigureAwait(false))
            {
                var file = new FileStream(state.Path, state.Received == 0 ? FileMode.Create : FileMode.Append, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true);
                await using (file.ConfigureAwait(false))
                {
                    await CopyBodyAsync(body, file, state, progress, cancellationToken).ConfigureAwait(false);
                }
            }

            if (state.Total is long total && state.Received != total)
            {
                throw new AttemptFailedException($"the connection closed after {state.Received:N0} of {total:N0} bytes", null);
            }
        }
    }

    private async Task CopyBodyAsync(Stream body, FileStream file, Transfer state, IProgress<DownloadProgress>? progress, CancellationToken cancellationToken)
    {
        byte[] buffer = ArrayPool<byte>.Shared.Rent(1 << 16);
        using var stall = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        try
        {
            progress?.Report(new DownloadProgress(DownloadStage.Downloading, state.Received, state.Total, Source.ToString()));
            long reported = state.Received;
            while (true)
            {
                int read;
                stall.CancelAfter(StallTimeout);
                try
                {
                    read = await body.ReadAsync(buffer, stall.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException e) when (!cancellationToken.IsCancellationRequested)
                {
                    throw new AttemptFailedException($"no data for {Seconds(StallTimeout)} after {state.Received:N0} bytes (the connection stalled)", e);
                }
                catch (Exception e) when (e is HttpRequestException or IOException)
                {
                    throw new AttemptFailedException($"the connection failed after {state.Received:N0} bytes ({e.Message})", e);
                }

                if (read == 0)
                {
                    break;
                }

                state.Md5.AppendData(buffer, 0, read);
                await file.WriteAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
                state.Received += read;
                if (state.Received - reported >= ReportEveryBytes)
                {
                    reported = state.Received;
                    progress?.Report(new DownloadProgress(DownloadStage.Downloading, state.Received, state.Total, Source.ToString()));
                }
            }

            progress?.Report(new DownloadProgress(DownloadStage.Downloading, state.Received, state.Total, Source.ToString()));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static string Seconds(TimeSpan span) =>
        span.TotalSeconds.ToString(span.TotalSeconds < 10 ? "0.###" : "0", System.Globalization.CultureInfo.InvariantCulture) + " s";

    /// <summary>The partial file, the bytes it holds and their running MD5.</summary>
    private sealed class Transfer(string path)
    {
        public string Path { get; } = path;

        public IncrementalHash Md5 { get; private set; } = IncrementalHash.CreateHash(HashAlgorithmName.MD5);

        public long Received { get; set; }

        public long? Total { get; set; }

        /// <summary>Forgets the partial file's bytes: the next write starts the file over.</summary>
        public void Restart()
        {
            Md5.Dispose();
            Md5 = IncrementalHash.CreateHash(HashAlgorithmName.MD5);
            Received = 0;
            Total = null;
        }
    }

    /// <summary>One attempt failed in a way another attempt may not: a timeout, a stall, a dropped connection, a 5xx.</summary>
    private sealed class AttemptFailedException(string message, Exception? inner) : Exception(message, inner);

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

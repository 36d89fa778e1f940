using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Net;
using System.Net.Http;
using System.Threading;
using System.Threading.Tasks;
using FusedOpt.Models.Data;
using Xunit;

namespace FusedOpt.Tests.Data;

/// <summary>
/// The download path without a network: an injected HTTP handler serves tiny synthetic archives. Covers the MD5
/// check (a mismatch removes the file and says so), extraction with the BCL, reuse of the cache, and HTTP failures.
/// </summary>
public sealed class Cifar10DownloadTests : IDisposable
{
    private readonly string _cache = Path.Combine(Path.GetTempPath(), "fusedopt-cache-tests-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_cache))
        {
            Directory.Delete(_cache, recursive: true);
        }
    }

    [Fact]
    public async Task Ensure_DownloadsVerifiesAndExtracts_ThenTheFolderLoads()
    {
        using var data = new SyntheticCifar10(recordsPerTrainFile: 3, testRecords: 2);
        byte[] archive = SyntheticArchive.FromFolder(data);
        var handler = FakeHttpHandler.Serving(archive);
        var progress = new List<DownloadProgress>();
        using var download = new Cifar10Download(_cache, handler, expectedMd5: SyntheticArchive.Md5(archive));

        string folder = await download.EnsureAsync(new SynchronousProgress(progress), TestContext.Current.CancellationToken);

        Assert.Equal(Path.Combine(_cache, Cifar10Layout.FolderName), folder);
        Assert.Equal(1, handler.Requests);
        Assert.False(File.Exists(download.ArchivePath), "the archive is deleted once extracted");
        var set = Cifar10.Load(folder, SyntheticCifar10.Options);
        Assert.Equal(15, set.Train.Count);
        Assert.Equal(File.ReadAllBytes(data.PathOf("data_batch_4.bin")), File.ReadAllBytes(Path.Combine(folder, "data_batch_4.bin")));
        Assert.Equal(
            [DownloadStage.Downloading, DownloadStage.Extracting, DownloadStage.Done],
            progress.Select(p => p.Stage).Distinct());
        var lastDownload = progress.Last(p => p.Stage == DownloadStage.Downloading);
        Assert.Equal(archive.Length, lastDownload.Bytes);
        Assert.Equal(1.0, lastDownload.Fraction);
        Assert.DoesNotContain(Directory.GetDirectories(_cache), d => Path.GetFileName(d).StartsWith(".extract", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Ensure_CompleteFolder_IsNotDownloadedAgain()
    {
        using var data = new SyntheticCifar10(recordsPerTrainFile: 2, testRecords: 1);
        byte[] archive = SyntheticArchive.FromFolder(data);
        using (var first = new Cifar10Download(_cache, FakeHttpHandler.Serving(archive), expectedMd5: SyntheticArchive.Md5(archive)))
        {
            await first.EnsureAsync(cancellationToken: TestContext.Current.CancellationToken);
        }

        var handler = FakeHttpHandler.Failing();
        using var second = new Cifar10Download(_cache, handler, expectedMd5: SyntheticArchive.Md5(archive));

        await second.EnsureAsync(cancellationToken: TestContext.Current.CancellationToken);

        Assert.Equal(0, handler.Requests);
    }

    [Fact]
    public async Task Download_Md5Mismatch_ThrowsAndRemovesTheFile()
    {
        byte[] body = "not the CIFAR-10 archive"u8.ToArray();
        using var download = new Cifar10Download(_cache, FakeHttpHandler.Serving(body));

        var e = await Assert.ThrowsAsync<Cifar10DownloadException>(() => download.EnsureAsync(cancellationToken: TestContext.Current.CancellationToken));

        Assert.Contains($"MD5 of the archive is {SyntheticArchive.Md5(body)}, expected {Cifar10Download.OfficialMd5}", e.Message, StringComparison.Ordinal);
        Assert.Contains("the file was removed", e.Message, StringComparison.Ordinal);
        Assert.Empty(Directory.GetFileSystemEntries(_cache));
    }

    [Fact]
    public async Task Ensure_CachedArchiveWithTheRightMd5_IsExtractedWithoutNetwork()
    {
        using var data = new SyntheticCifar10(recordsPerTrainFile: 2, testRecords: 1);
        byte[] archive = SyntheticArchive.FromFolder(data);
        Directory.CreateDirectory(_cache);
        File.WriteAllBytes(Path.Combine(_cache, Cifar10Download.ArchiveFileName), archive);
        var handler = FakeHttpHandler.Failing();
        var progress = new List<DownloadProgress>();
        using var download = new Cifar10Download(_cache, handler, expectedMd5: SyntheticArchive.Md5(archive));

        await download.EnsureAsync(new SynchronousProgress(progress), TestContext.Current.CancellationToken);

        Assert.Equal(0, handler.Requests);
        Assert.True(download.IsComplete);
        Assert.Contains(progress, p => p.Stage == DownloadStage.Verifying);
    }

    [Fact]
    public async Task Ensure_CachedArchiveWithTheWrongMd5_IsDownloadedAgain()
    {
        using var data = new SyntheticCifar10(recordsPerTrainFile: 2, testRecords: 1);
        byte[] archive = SyntheticArchive.FromFolder(data);
        Directory.CreateDirectory(_cache);
        File.WriteAllBytes(Path.Combine(_cache, Cifar10Download.ArchiveFileName), [1, 2, 3]);
        var handler = FakeHttpHandler.Serving(archive);
        using var download = new Cifar10Download(_cache, handler, expectedMd5: SyntheticArchive.Md5(archive));

        await download.EnsureAsync(cancellationToken: TestContext.Current.CancellationToken);

        Assert.Equal(1, handler.Requests);
        Assert.True(download.IsComplete);
    }

    [Fact]
    public async Task Download_HttpError_NamesStatusAndSaysHowToWorkOffline()
    {
        var handler = new FakeHttpHandler(_ => new HttpResponseMessage(HttpStatusCode.NotFound));
        using var download = new Cifar10Download(_cache, handler);

        var e = await Assert.ThrowsAsync<Cifar10DownloadException>(() => download.DownloadArchiveAsync(cancellationToken: TestContext.Current.CancellationToken));

        Assert.Contains("HTTP 404 Not Found", e.Message, StringComparison.Ordinal);
        Assert.Contains("--data DIR", e.Message, StringComparison.Ordinal);
        Assert.Contains(Cifar10.DataEnvironmentVariable, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Download_NoNetwork_IsWrappedWithTheOfflineHint()
    {
        var handler = new FakeHttpHandler(_ => throw new HttpRequestException("Name or service not known"));
        using var download = new Cifar10Download(_cache, handler) { Attempts = 2, RetryDelay = TimeSpan.Zero };

        var e = await Assert.ThrowsAsync<Cifar10DownloadException>(() => download.DownloadArchiveAsync(cancellationToken: TestContext.Current.CancellationToken));

        Assert.Contains("Name or service not known", e.Message, StringComparison.Ordinal);
        Assert.Contains("--data DIR", e.Message, StringComparison.Ordinal);
        Assert.IsType<HttpRequestException>(e.InnerException);
        Assert.Equal(2, handler.Requests);
    }

    [Fact]
    public async Task Download_ConnectionClosedEarly_KeepsThePartialFile_AndSaysSo()
    {
        var handler = new FakeHttpHandler(_ =>
        {
            var content = new ByteArrayContent(new byte[100]);
            content.Headers.ContentLength = 1000;
            return new HttpResponseMessage(HttpStatusCode.OK) { Content = content };
        });
        using var download = new Cifar10Download(_cache, handler) { Attempts = 1 };

        var e = await Assert.ThrowsAsync<Cifar10DownloadException>(() => download.DownloadArchiveAsync(cancellationToken: TestContext.Current.CancellationToken));

        Assert.Contains("the connection closed after 100 of 1,000 bytes; gave up after 1 attempt.", e.Message, StringComparison.Ordinal);
        Assert.Contains($"The 100 bytes received are kept in {download.ArchivePath}.part", e.Message, StringComparison.Ordinal);
        Assert.Equal(100, new FileInfo(download.ArchivePath + ".part").Length);
    }

    [Fact]
    public void Extract_EntryLeavingTheFolder_IsRefused()
    {
        byte[] archive = SyntheticArchive.Build([new("cifar-10-batches-bin/../../escaped.bin", [1, 2, 3])]);
        string path = WriteArchive(archive);

        var e = Assert.Throws<Cifar10DownloadException>(() =>
            TarGzExtractor.ExtractFolder(path, _cache, Cifar10Layout.FolderName, Cifar10Layout.AllFiles, null, CancellationToken.None));

        Assert.Contains("points outside the folder", e.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(Path.GetDirectoryName(_cache)!, "escaped.bin")));
        Assert.Equal([Path.Combine(_cache, "archive.tar.gz")], Directory.GetFileSystemEntries(_cache));
    }

    [Fact]
    public void Extract_ArchiveWithoutEveryFile_NamesWhatIsMissing()
    {
        byte[] archive = SyntheticArchive.Build([new("cifar-10-batches-bin/data_batch_1.bin", new byte[3073])]);
        string path = WriteArchive(archive);

        var e = Assert.Throws<Cifar10DownloadException>(() =>
            TarGzExtractor.ExtractFolder(path, _cache, Cifar10Layout.FolderName, Cifar10Layout.AllFiles, null, CancellationToken.None));

        Assert.Contains("has no cifar-10-batches-bin/data_batch_2.bin", e.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(_cache, Cifar10Layout.FolderName)));
    }

    [Fact]
    public void Extract_NotAGzipFile_SaysSo()
    {
        string path = WriteArchive("plain text, not gzip"u8.ToArray());

        var e = Assert.Throws<Cifar10DownloadException>(() =>
            TarGzExtractor.ExtractFolder(path, _cache, Cifar10Layout.FolderName, Cifar10Layout.AllFiles, null, CancellationToken.None));

        Assert.Contains("not a readable .tar.gz archive", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Constructor_MalformedMd5_IsRejected()
    {
        var e = Assert.Throws<ArgumentException>(() => new Cifar10Download(_cache, expectedMd5: "xyz"));

        Assert.Contains("32 hex digits, got 'xyz'", e.Message, StringComparison.Ordinal);
    }

    private string WriteArchive(byte[] bytes)
    {
        Directory.CreateDirectory(_cache);
        string path = Path.Combine(_cache, "archive.tar.gz");
        File.WriteAllBytes(path, bytes);
        return path;
    }

    /// <summary>Collects reports on the calling thread (Progress&lt;T&gt; posts to the thread pool, too late for asserts).</summary>
    private sealed class SynchronousProgress(List<DownloadProgress> reports) : IProgress<DownloadProgress>
    {
        public void Report(DownloadProgress value) => reports.Add(value);
    }
}

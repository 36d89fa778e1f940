using System;
using System.Collections.Generic;
using System.IO;
using System.Net;
using System.Net.Http;
using System.Net.Http.Headers;
using System.Threading;
using System.Threading.Tasks;
using FusedOpt.Models.Data;
using Xunit;

namespace FusedOpt.Tests.Data;

/// <summary>
/// A download over a bad connection: a server that never answers or stops sending is abandoned after the connect or
/// stall timeout with a message naming the URL and what happened; the next attempt continues the partial file with a
/// Range request (or starts over when the server ignores it); the MD5 of the whole is still checked.
/// </summary>
public sealed class DownloadResumeTests : IDisposable
{
    private readonly string _cache = Path.Combine(Path.GetTempPath(), "fusedopt-resume-tests-" + Guid.NewGuid().ToString("N"));
    private readonly SyntheticCifar10 _data = new(recordsPerTrainFile: 2, testRecords: 1);
    private readonly byte[] _archive;

    public DownloadResumeTests() => _archive = SyntheticArchive.FromFolder(_data);

    public void Dispose()
    {
        _data.Dispose();
        if (Directory.Exists(_cache))
        {
            Directory.Delete(_cache, recursive: true);
        }
    }

    private Cifar10Download Download(HttpMessageHandler handler, int attempts = 3) =>
        new(_cache, handler, expectedMd5: SyntheticArchive.Md5(_archive))
        {
            Attempts = attempts,
            RetryDelay = TimeSpan.Zero,
            ConnectTimeout = TimeSpan.FromMilliseconds(300),
            StallTimeout = TimeSpan.FromMilliseconds(300),
        };

    [Fact]
    public async Task ServerThatNeverAnswers_TimesOut_WithAMessageNamingTheUrl()
    {
        var handler = new ScriptedHandler(static async (_, _, token) =>
        {
            await Task.Delay(Timeout.Infinite, token);
            throw new InvalidOperationException("unreachable");
        });
        using var download = Download(handler, attempts: 2);

        var e = await Assert.ThrowsAsync<Cifar10DownloadException>(() => download.DownloadArchiveAsync(cancellationToken: TestContext.Current.CancellationToken));

        Assert.Contains($"Downloading {download.Source}: no response within 0.3 s (connect timeout); gave up after 2 attempts.", e.Message, StringComparison.Ordinal);
        Assert.Equal(2, handler.Requests.Count);
    }

    [Fact]
    public async Task StalledBody_TimesOut_AndKeepsWhatArrived()
    {
        var handler = new ScriptedHandler((_, _, _) => Task.FromResult(Respond(HttpStatusCode.OK, new StallingStream(_archive.AsMemory(0, 1000)), _archive.Length)));
        using var download = Download(handler, attempts: 1);

        var e = await Assert.ThrowsAsync<Cifar10DownloadException>(() => download.DownloadArchiveAsync(cancellationToken: TestContext.Current.CancellationToken));

        Assert.Contains($"Downloading {download.Source}: no data for 0.3 s after 1,000 bytes (the connection stalled)", e.Message, StringComparison.Ordinal);
        Assert.Equal(_archive.AsSpan(0, 1000).ToArray(), File.ReadAllBytes(download.ArchivePath + ".part"));
    }

    [Fact]
    public async Task StallThenRetry_ContinuesWithARangeRequest_AndTheMd5Matches()
    {
        int cut = _archive.Length / 3;
        var handler = new ScriptedHandler((request, index, _) => Task.FromResult(index == 0
            ? Respond(HttpStatusCode.OK, new StallingStream(_archive.AsMemory(0, cut)), _archive.Length)
            : Partial(request)));
        using var download = Download(handler);

        string folder = await download.EnsureAsync(cancellationToken: TestContext.Current.CancellationToken);

        Assert.Equal(2, handler.Requests.Count);
        Assert.Null(handler.Requests[0]);
        Assert.Equal(cut, handler.Requests[1]);
        Assert.Equal(File.ReadAllBytes(_data.PathOf("data_batch_4.bin")), File.ReadAllBytes(Path.Combine(folder, "data_batch_4.bin")));
    }

    [Fact]
    public async Task ServerIgnoringRange_IsTakenFromTheStart()
    {
        int cut = _archive.Length / 2;
        var handler = new ScriptedHandler((_, index, _) => Task.FromResult(index == 0
            ? Respond(HttpStatusCode.OK, new MemoryStream(_archive, 0, cut), _archive.Length)
            : Respond(HttpStatusCode.OK, new MemoryStream(_archive), _archive.Length)));
        using var download = Download(handler);

        await download.DownloadArchiveAsync(cancellationToken: TestContext.Current.CancellationToken);

        Assert.Equal([null, cut], handler.Requests);
        Assert.Equal(_archive, File.ReadAllBytes(download.ArchivePath));
    }

    [Fact]
    public async Task PartialFileOfAnEarlierRun_IsContinued_NotDownloadedAgain()
    {
        int cut = (_archive.Length * 2) / 3;
        Directory.CreateDirectory(_cache);
        using (var first = Download(new ScriptedHandler((_, _, _) => Task.FromResult(Respond(HttpStatusCode.OK, new MemoryStream(_archive, 0, cut), _archive.Length))), attempts: 1))
        {
            await Assert.ThrowsAsync<Cifar10DownloadException>(() => first.DownloadArchiveAsync(cancellationToken: TestContext.Current.CancellationToken));
        }

        var handler = new ScriptedHandler((request, _, _) => Task.FromResult(Partial(request)));
        using var download = Download(handler);
        await download.DownloadArchiveAsync(cancellationToken: TestContext.Current.CancellationToken);

        Assert.Equal([cut], handler.Requests);
        Assert.Equal(_archive, File.ReadAllBytes(download.ArchivePath));
    }

    [Fact]
    public async Task ResumedBytesThatDoNotMatch_FailTheMd5_AndAreRemoved()
    {
        int cut = _archive.Length / 2;
        Directory.CreateDirectory(_cache);
        byte[] corrupt = _archive.AsSpan(0, cut).ToArray();
        corrupt[10] ^= 0xFF;
        File.WriteAllBytes(Path.Combine(_cache, Cifar10Download.ArchiveFileName + ".part"), corrupt);
        var handler = new ScriptedHandler((request, _, _) => Task.FromResult(Partial(request)));
        using var download = Download(handler);

        var e = await Assert.ThrowsAsync<Cifar10DownloadException>(() => download.DownloadArchiveAsync(cancellationToken: TestContext.Current.CancellationToken));

        Assert.Contains($"expected {SyntheticArchive.Md5(_archive)}; the file was removed", e.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(download.ArchivePath + ".part"));
        Assert.False(File.Exists(download.ArchivePath));
    }

    /// <summary>206 with the archive from the request's Range start (the whole archive with 200 when there is none).</summary>
    private HttpResponseMessage Partial(HttpRequestMessage request)
    {
        long from = request.Headers.Range is { } range ? First(range.Ranges) : 0;
        if (from == 0)
        {
            return Respond(HttpStatusCode.OK, new MemoryStream(_archive), _archive.Length);
        }

        var response = Respond(HttpStatusCode.PartialContent, new MemoryStream(_archive, (int)from, _archive.Length - (int)from), _archive.Length - from);
        response.Content.Headers.ContentRange = new ContentRangeHeaderValue(from, _archive.Length - 1, _archive.Length);
        return response;
    }

    private static long First(ICollection<RangeItemHeaderValue> ranges)
    {
        foreach (var r in ranges)
        {
            return r.From ?? 0;
        }

        return 0;
    }

    private static HttpResponseMessage Respond(HttpStatusCode status, Stream body, long length)
    {
        var content = new StreamContent(body);
        content.Headers.ContentLength = length;
        return new HttpResponseMessage(status) { Content = content };
    }

    /// <summary>Answers request n (from 0) with a function, and records each request's Range start (null for none).</summary>
    private sealed class ScriptedHandler(Func<HttpRequestMessage, int, CancellationToken, Task<HttpResponseMessage>> respond) : HttpMessageHandler
    {
        public List<long?> Requests { get; } = [];

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            long? from = null;
            if (request.Headers.Range is { } range)
            {
                from = First(range.Ranges);
            }

            Requests.Add(from);
            return respond(request, Requests.Count - 1, cancellationToken);
        }
    }

    /// <summary>Sends its bytes, then nothing: every further read waits until it is cancelled.</summary>
    private sealed class StallingStream(ReadOnlyMemory<byte> prefix) : Stream
    {
        private int _position;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => _position; set => throw new NotSupportedException(); }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (_position < prefix.Length)
            {
                int n = Math.Min(buffer.Length, prefix.Length - _position);
                prefix.Slice(_position, n).CopyTo(buffer);
                _position += n;
                return n;
            }

            await Task.Delay(Timeout.Infinite, cancellationToken);
            return 0;
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer, offset, count, CancellationToken.None).GetAwaiter().GetResult();

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}

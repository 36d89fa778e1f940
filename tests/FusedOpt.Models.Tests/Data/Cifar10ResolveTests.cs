using System;
using System.Collections.Generic;
using System.IO;
using System.Threading.Tasks;
using FusedOpt.Models.Data;
using Xunit;

namespace FusedOpt.Tests.Data;

/// <summary>Where the data comes from: --data, then FUSEDOPT_DATA, then the download cache.</summary>
public sealed class Cifar10ResolveTests
{
    [Fact]
    public async Task Resolve_DataOption_WinsOverTheEnvironment()
    {
        using var fromOption = new SyntheticCifar10(recordsPerTrainFile: 1, testRecords: 1);
        using var fromEnvironment = new SyntheticCifar10(recordsPerTrainFile: 1, testRecords: 1);

        string folder = await Resolve(fromOption.Root, new() { [Cifar10.DataEnvironmentVariable] = fromEnvironment.Folder });

        Assert.Equal(fromOption.Folder, folder);
    }

    [Fact]
    public async Task Resolve_NoOption_UsesTheEnvironmentVariable()
    {
        using var data = new SyntheticCifar10(recordsPerTrainFile: 1, testRecords: 1);

        string folder = await Resolve(null, new() { [Cifar10.DataEnvironmentVariable] = data.Folder });

        Assert.Equal(data.Folder, folder);
    }

    [Fact]
    public async Task Resolve_NeitherOptionNorVariable_Downloads()
    {
        using var data = new SyntheticCifar10(recordsPerTrainFile: 1, testRecords: 1);
        byte[] archive = SyntheticArchive.FromFolder(data);
        string cache = Path.Combine(data.Root, "cache");
        var handler = FakeHttpHandler.Serving(archive);
        using var download = new Cifar10Download(cache, handler, expectedMd5: SyntheticArchive.Md5(archive));

        string folder = await Cifar10.ResolveDirectoryAsync(null, _ => null, download, null, TestContext.Current.CancellationToken);

        Assert.Equal(Path.Combine(cache, Cifar10Layout.FolderName), folder);
        Assert.Equal(1, handler.Requests);
    }

    [Fact]
    public async Task Resolve_NamedFolderIncomplete_FailsInsteadOfDownloading()
    {
        using var data = new SyntheticCifar10(recordsPerTrainFile: 1, testRecords: 1);
        File.Delete(data.PathOf("data_batch_2.bin"));
        var handler = FakeHttpHandler.Failing();
        using var download = new Cifar10Download(Path.Combine(data.Root, "cache"), handler);

        var e = await Assert.ThrowsAsync<Cifar10FormatException>(() =>
            Cifar10.ResolveDirectoryAsync(data.Folder, _ => null, download, null, TestContext.Current.CancellationToken));

        Assert.Contains("missing data_batch_2.bin", e.Message, StringComparison.Ordinal);
        Assert.Equal(0, handler.Requests);
    }

    [Fact]
    public void Cache_XdgCacheHome_IsUsedWhenAbsolute()
    {
        Assert.Equal("/xdg/fusedopt", DataCache.DefaultDirectory(v => v switch { "XDG_CACHE_HOME" => "/xdg", "HOME" => "/home/u", _ => null }));
        Assert.Equal("/home/u/.cache/fusedopt", DataCache.DefaultDirectory(v => v switch { "XDG_CACHE_HOME" => "relative", "HOME" => "/home/u", _ => null }));
        Assert.Equal("/home/u/.cache/fusedopt", DataCache.DefaultDirectory(v => v == "HOME" ? "/home/u" : null));
    }

    private static Task<string> Resolve(string? option, Dictionary<string, string> environment) =>
        Cifar10.ResolveDirectoryAsync(option, v => environment.GetValueOrDefault(v), download: null, progress: null, TestContext.Current.CancellationToken);
}

using System;
using System.IO;
using System.Linq;
using FusedOpt.IO;
using Xunit;

namespace FusedOpt.Tests;

/// <summary>AtomicFile: the target is replaced whole or not at all, and no temporary is left behind.</summary>
public sealed class AtomicFileTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fusedopt-atomic-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Write_CreatesAndReplacesTheTarget_LeavingOnlyIt()
    {
        string path = Path.Combine(_dir, "f.bin");
        AtomicFile.Write(path, s => s.Write([1, 2, 3]));
        Assert.Equal(new byte[] { 1, 2, 3 }, File.ReadAllBytes(path));

        AtomicFile.Write(path, s => s.Write([9]), bufferSize: 1 << 20);
        Assert.Equal(new byte[] { 9 }, File.ReadAllBytes(path));
        Assert.Equal(["f.bin"], Directory.EnumerateFileSystemEntries(_dir).Select(Path.GetFileName));
    }

    [Fact]
    public void Write_WritesToATemporaryBesideTheTarget_NamedWithTheProcessId()
    {
        string path = Path.Combine(_dir, "f.bin");
        string expected = path + ".tmp-" + Environment.ProcessId;
        Assert.Equal(expected, AtomicFile.TemporaryPath(path));
        AtomicFile.Write(path, s =>
        {
            Assert.Equal(expected, Assert.IsType<FileStream>(s).Name);
            Assert.False(File.Exists(path));
        });
        Assert.Empty(File.ReadAllBytes(path));
    }

    [Fact]
    public void Write_ThatThrows_LeavesTheOldFileAndNoTemporary()
    {
        string path = Path.Combine(_dir, "f.bin");
        File.WriteAllBytes(path, [7, 7]);
        var e = Assert.Throws<InvalidDataException>(() => AtomicFile.Write(path, s =>
        {
            s.Write([1, 2, 3]);
            throw new InvalidDataException("writer failed");
        }));
        Assert.Equal("writer failed", e.Message);
        Assert.Equal(new byte[] { 7, 7 }, File.ReadAllBytes(path));
        Assert.Equal(["f.bin"], Directory.EnumerateFileSystemEntries(_dir).Select(Path.GetFileName));
    }

    [Fact]
    public void WriteAllText_WritesTheBytesOfFileWriteAllText()
    {
        string text = "{\"é\":\"∑\",\"n\":1}\n";
        string path = Path.Combine(_dir, "a.json");
        string reference = Path.Combine(_dir, "b.json");
        AtomicFile.WriteAllText(path, text);
        File.WriteAllText(reference, text);
        Assert.Equal(File.ReadAllBytes(reference), File.ReadAllBytes(path));
    }

    [Fact]
    public void RemoveStaleTemporaries_RemovesOnlyNameDotTmpDashDigits()
    {
        string path = Path.Combine(_dir, "c.fopt");
        foreach (string name in new[] { "c.fopt", "c.fopt.tmp-123", "c.fopt.tmp-", "c.fopt.tmp-12x", "d.fopt.tmp-5" })
        {
            File.WriteAllText(Path.Combine(_dir, name), "x");
        }

        Assert.Equal(["c.fopt.tmp-123"], AtomicFile.RemoveStaleTemporaries(path));
        Assert.Equal(
            ["c.fopt", "c.fopt.tmp-", "c.fopt.tmp-12x", "d.fopt.tmp-5"],
            Directory.EnumerateFiles(_dir).Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }
}

using System.Collections.Generic;
using System.Formats.Tar;
using System.IO;
using System.IO.Compression;
using System.Security.Cryptography;
using FusedOpt.Models.Data;

namespace FusedOpt.Tests.Data;

/// <summary>Builds tiny .tar.gz archives in memory, shaped like cifar-10-binary.tar.gz.</summary>
internal static class SyntheticArchive
{
    /// <summary>A .tar.gz of <paramref name="entries"/> (name → bytes; null bytes make a directory entry).</summary>
    public static byte[] Build(IEnumerable<KeyValuePair<string, byte[]?>> entries)
    {
        var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Fastest, leaveOpen: true))
        using (var tar = new TarWriter(gzip, TarEntryFormat.Ustar))
        {
            foreach (var (name, bytes) in entries)
            {
                if (bytes is null)
                {
                    tar.WriteEntry(new UstarTarEntry(TarEntryType.Directory, name));
                    continue;
                }

                tar.WriteEntry(new UstarTarEntry(TarEntryType.RegularFile, name) { DataStream = new MemoryStream(bytes) });
            }
        }

        return output.ToArray();
    }

    /// <summary>An archive holding the synthetic folder's six files (and the meta file and a readme), as the official one does.</summary>
    public static byte[] FromFolder(SyntheticCifar10 data)
    {
        var entries = new List<KeyValuePair<string, byte[]?>> { new(Cifar10Layout.FolderName + "/", null) };
        foreach (string file in (string[])[.. Cifar10Layout.AllFiles, "batches.meta.txt"])
        {
            entries.Add(new(Cifar10Layout.FolderName + "/" + file, File.ReadAllBytes(data.PathOf(file))));
        }

        entries.Add(new(Cifar10Layout.FolderName + "/readme.html", "<html></html>"u8.ToArray()));
        return Build(entries);
    }

    public static string Md5(byte[] bytes) => System.Convert.ToHexStringLower(MD5.HashData(bytes));
}

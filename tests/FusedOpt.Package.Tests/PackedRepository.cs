using System;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using Xunit;

namespace FusedOpt.Tests;

/// <summary>
/// The repository packed once for the test class, with <c>dotnet pack FusedOpt.sln --no-build</c> into a feed folder
/// of its own (the projects are already built in this test's configuration), and a NuGet.config under the same
/// temporary folder that takes FusedOpt* only from that feed and everything else from the global packages folder —
/// so a consumer restores the packages just made, never a cached FusedOpt of the same version, and needs no network.
/// </summary>
public sealed partial class PackedRepository : IDisposable
{
    private static readonly TimeSpan PackTimeout = TimeSpan.FromMinutes(5);

    public PackedRepository()
    {
        Root = Path.Combine(Path.GetTempPath(), "fusedopt-package-tests-" + Guid.NewGuid().ToString("N"));
        Feed = Path.Combine(Root, "feed");
        Directory.CreateDirectory(Feed);

        Pack = Dotnet.Run(SharedData.RepositoryRoot, PackTimeout,
            "pack", "FusedOpt.sln", "-c", Configuration, "--no-build", "--no-restore", "-o", Feed, "-nodeReuse:false");
        Packages = [.. Directory.GetFiles(Feed).Select(static f => Path.GetFileName(f)).Order(StringComparer.Ordinal)];
        Version = Packages.Select(static p => LibraryPackageName().Match(p)).FirstOrDefault(static m => m.Success)?.Groups[1].Value ?? "";

        var locals = Dotnet.Run(Root, TimeSpan.FromMinutes(1), "nuget", "locals", "global-packages", "--list");
        GlobalPackages = locals.Output.Split('\n').Select(static l => l.Trim())
            .Where(static l => l.StartsWith("global-packages:", StringComparison.Ordinal))
            .Select(static l => l["global-packages:".Length..].Trim()).FirstOrDefault() ?? "";

        NuGetConfig = Path.Combine(Root, "NuGet.config");
        new XDocument(new XElement("configuration",
            new XElement("packageSources",
                new XElement("clear"),
                new XElement("add", new XAttribute("key", "feed"), new XAttribute("value", Feed)),
                new XElement("add", new XAttribute("key", "global-packages"), new XAttribute("value", GlobalPackages))),
            new XElement("packageSourceMapping",
                new XElement("packageSource", new XAttribute("key", "feed"),
                    new XElement("package", new XAttribute("pattern", "FusedOpt")),
                    new XElement("package", new XAttribute("pattern", "FusedOpt.*"))),
                new XElement("packageSource", new XAttribute("key", "global-packages"),
                    new XElement("package", new XAttribute("pattern", "*")))))).Save(NuGetConfig);
    }

    /// <summary>The build configuration of this test assembly, which is the one the packed projects were built in.</summary>
    public static string Configuration { get; } =
        typeof(PackedRepository).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(static a => a.Key == "Configuration").Value!;

    /// <summary>The temporary folder holding everything this class makes.</summary>
    public string Root { get; }

    /// <summary>The folder the packages were packed into.</summary>
    public string Feed { get; }

    /// <summary>The pack command's result.</summary>
    public Dotnet.Result Pack { get; }

    /// <summary>The file names in <see cref="Feed"/>, sorted.</summary>
    public string[] Packages { get; }

    /// <summary>The version of the FusedOpt package (from its file name).</summary>
    public string Version { get; }

    /// <summary>The global packages folder, used as a source for every dependency.</summary>
    public string GlobalPackages { get; }

    /// <summary>A NuGet.config: FusedOpt* from <see cref="Feed"/>, all else from <see cref="GlobalPackages"/>.</summary>
    public string NuGetConfig { get; }

    /// <summary>Fails the calling test, with the pack output, unless the pack succeeded.</summary>
    public void RequirePacked()
    {
        Assert.True(Pack.ExitCode == 0, $"dotnet pack failed, {Pack}");
        Assert.True(Version.Length > 0, $"no FusedOpt.<version>.nupkg in {Feed}: {string.Join(", ", Packages)}");
        Assert.True(Directory.Exists(GlobalPackages), $"global packages folder '{GlobalPackages}' not found");
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
            // A leftover temporary folder is not a test failure.
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    [GeneratedRegex(@"^FusedOpt\.(\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?)\.nupkg$")]
    private static partial Regex LibraryPackageName();
}

using System;
using System.IO;
using System.IO.Compression;
using System.Linq;
using System.Xml.Linq;
using Xunit;

namespace FusedOpt.Tests;

/// <summary>
/// The two packages as a user meets them: what <c>dotnet pack</c> makes, the sample restored from the local feed,
/// built and run, and the tool installed from it and run.
/// </summary>
public sealed class PackageTests(PackedRepository packed) : IClassFixture<PackedRepository>
{
    private static readonly TimeSpan StepTimeout = TimeSpan.FromMinutes(5);

    [Fact]
    public void Pack_MakesExactlyTheLibraryAndTheToolPackages()
    {
        packed.RequirePacked();

        Assert.Equal([$"FusedOpt.{packed.Version}.nupkg", $"FusedOpt.Tool.{packed.Version}.nupkg"], packed.Packages);
    }

    [Fact]
    public void LibraryPackage_HoldsTheRuntimeWithDocs_TheGeneratorAsAnAnalyzer_AndTheRuntimesDependencies()
    {
        packed.RequirePacked();
        using var zip = ZipFile.OpenRead(Path.Combine(packed.Feed, $"FusedOpt.{packed.Version}.nupkg"));
        var entries = zip.Entries.Select(static e => e.FullName).ToHashSet(StringComparer.Ordinal);

        Assert.Contains("lib/net10.0/FusedOpt.Runtime.dll", entries);
        Assert.Contains("lib/net10.0/FusedOpt.Runtime.xml", entries);
        Assert.Contains("analyzers/dotnet/cs/FusedOpt.Generator.dll", entries);
        Assert.Contains("README.md", entries);
        // The generator is loaded by the compiler only: never something a consumer references or ships.
        Assert.DoesNotContain(entries, static e => e.StartsWith("lib/", StringComparison.Ordinal) && e.EndsWith("FusedOpt.Generator.dll", StringComparison.Ordinal));

        var nuspec = Nuspec(zip, "FusedOpt.nuspec");
        XNamespace ns = nuspec.Root!.Name.Namespace;
        var metadata = nuspec.Root.Element(ns + "metadata")!;
        Assert.Equal("FusedOpt", metadata.Element(ns + "id")?.Value);
        Assert.Equal("README.md", metadata.Element(ns + "readme")?.Value);
        Assert.False(string.IsNullOrWhiteSpace(metadata.Element(ns + "description")?.Value));

        // The package depends on exactly the packages the runtime project references, and on no FusedOpt project.
        var dependencies = metadata.Descendants(ns + "dependency").Select(static d => (string)d.Attribute("id")!).Order(StringComparer.Ordinal);
        var runtimeProject = XDocument.Load(Path.Combine(SharedData.RepositoryRoot, "src", "FusedOpt.Runtime", "FusedOpt.Runtime.csproj"));
        var referenced = runtimeProject.Descendants("PackageReference")
            .Where(static r => !string.Equals(((string?)r.Attribute("PrivateAssets") ?? (string?)r.Element("PrivateAssets"))?.Trim(), "all", StringComparison.OrdinalIgnoreCase))
            .Select(static r => (string)r.Attribute("Include")!).Order(StringComparer.Ordinal);
        Assert.Equal(referenced, dependencies);
    }

    [Fact]
    public void ToolPackage_IsTheFusedoptCommand_WithLinuxNativePlottingAssets()
    {
        packed.RequirePacked();
        using var zip = ZipFile.OpenRead(Path.Combine(packed.Feed, $"FusedOpt.Tool.{packed.Version}.nupkg"));
        var entries = zip.Entries.Select(static e => e.FullName).ToHashSet(StringComparer.Ordinal);

        var nuspec = Nuspec(zip, "FusedOpt.Tool.nuspec");
        XNamespace ns = nuspec.Root!.Name.Namespace;
        Assert.Equal("DotnetTool", (string?)nuspec.Descendants(ns + "packageType").Single().Attribute("name"));

        var settings = XDocument.Load(zip.GetEntry("tools/net10.0/any/DotnetToolSettings.xml")!.Open());
        var command = settings.Descendants("Command").Single();
        Assert.Equal("fusedopt", (string?)command.Attribute("Name"));
        Assert.Contains($"tools/net10.0/any/{(string?)command.Attribute("EntryPoint")}", entries);

        Assert.Contains("tools/net10.0/any/runtimes/linux-x64/native/libSkiaSharp.so", entries);
        Assert.Contains("tools/net10.0/any/runtimes/linux-x64/native/libHarfBuzzSharp.so", entries);
        Assert.DoesNotContain(entries, static e => e.Contains("/runtimes/", StringComparison.Ordinal) && e.EndsWith(".pdb", StringComparison.Ordinal));
    }

    [Fact]
    public void Sample_RestoredFromTheFeed_DeclaresItsOwnOptimizer_AndMatchesTheFormula()
    {
        packed.RequirePacked();
        string sample = Path.Combine(packed.Root, "sample");
        CopyDirectory(Path.Combine(SharedData.RepositoryRoot, "samples", "CustomOptimizer"), sample);
        string packages = Path.Combine(packed.Root, "packages");
        string version = $"-p:FusedOptVersion={packed.Version}";

        var restore = Dotnet.Run(sample, StepTimeout, "restore", "CustomOptimizer.csproj", "--configfile", packed.NuGetConfig,
            $"-p:RestorePackagesPath={packages}", version, "-nodeReuse:false");
        Assert.True(restore.ExitCode == 0, $"restore: {restore}");
        // The FusedOpt restored is the one just packed (byte for byte), in a packages folder of this test's own.
        string restored = Path.Combine(packages, "fusedopt", packed.Version.ToLowerInvariant(), $"fusedopt.{packed.Version.ToLowerInvariant()}.nupkg");
        Assert.True(File.Exists(restored), $"{restored} not found after restore");
        Assert.Equal(File.ReadAllBytes(Path.Combine(packed.Feed, $"FusedOpt.{packed.Version}.nupkg")), File.ReadAllBytes(restored));

        var build = Dotnet.Run(sample, StepTimeout, "build", "CustomOptimizer.csproj", "-c", "Release", "--no-restore",
            $"-p:RestorePackagesPath={packages}", version, "-p:UseSharedCompilation=false", "-nodeReuse:false");
        Assert.True(build.ExitCode == 0, $"build: {build}");
        string output = Path.Combine(sample, "bin", "Release", "net10.0");
        Assert.False(File.Exists(Path.Combine(output, "FusedOpt.Generator.dll")), "the generator was copied to the sample's output");

        // The sample prints its check against Signum's formula and exits 1 when the fused steps differ from it.
        var run = Dotnet.Run(sample, StepTimeout, Path.Combine(output, "CustomOptimizer.dll"));
        Assert.True(run.ExitCode == 0, $"sample: {run}");
        Assert.Contains("signum: 5 steps over 1000 parameters", run.Output, StringComparison.Ordinal);
        Assert.Contains("OK: the fused steps match the formula.", run.Output, StringComparison.Ordinal);
    }

    [Fact]
    public void Tool_InstalledFromTheFeed_ListsTheOptimizers_AndPlots()
    {
        packed.RequirePacked();
        string tools = Path.Combine(packed.Root, "tools");

        var install = Dotnet.Run(packed.Root, StepTimeout, "tool", "install", "FusedOpt.Tool", "--version", packed.Version,
            "--tool-path", tools, "--configfile", packed.NuGetConfig);
        Assert.True(install.ExitCode == 0, $"tool install: {install}");
        string fusedopt = Path.Combine(tools, OperatingSystem.IsWindows() ? "fusedopt.exe" : "fusedopt");

        var list = Dotnet.Start(fusedopt, packed.Root, StepTimeout, "list");
        Assert.True(list.ExitCode == 0, $"fusedopt list: {list}");
        foreach (string name in new[] { "sgd", "adam", "adamw", "adabelief" })
        {
            Assert.Contains(name, list.Output, StringComparison.Ordinal);
        }

        // A plot needs SkiaSharp's and HarfBuzz's native libraries, which must have come with the tool.
        string png = Path.Combine(packed.Root, "sgd.png");
        var sweep = Dotnet.Start(fusedopt, packed.Root, StepTimeout,
            "bench", "sweep", "--optimizer", "sgd", "--sizes", "4K", "--threads", "1", "--rounds", "1", "--plot", png);
        Assert.True(sweep.ExitCode == 0, $"fusedopt bench sweep --plot: {sweep}");
        byte[] bytes = File.ReadAllBytes(png);
        Assert.True(bytes.Length > 1000, $"{png} has only {bytes.Length} bytes");
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, bytes[..4]);
    }

    private static XDocument Nuspec(ZipArchive zip, string name)
    {
        using var stream = zip.GetEntry(name)!.Open();
        return XDocument.Load(stream);
    }

    private static void CopyDirectory(string from, string to)
    {
        foreach (string file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
        {
            string relative = Path.GetRelativePath(from, file);
            string first = relative.Split(Path.DirectorySeparatorChar)[0];
            if (first is "bin" or "obj")
            {
                continue;
            }

            string target = Path.Combine(to, relative);
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }
    }
}

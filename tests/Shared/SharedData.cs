using System;
using System.IO;

namespace FusedOpt.Tests;

/// <summary>
/// Finds the read-only shared/ folder beside the repository (reference trajectories, CIFAR-10). Tests that need it
/// skip with a message naming the folder they looked for when it is absent.
/// </summary>
public static class SharedData
{
    /// <summary>Overrides the location of shared/.</summary>
    public const string EnvironmentVariable = "FUSEDOPT_SHARED";

    /// <summary>The repository root (the folder holding FusedOpt.sln), found by walking up from the test binaries.</summary>
    public static string RepositoryRoot { get; } = FindRoot();

    /// <summary>shared/: $FUSEDOPT_SHARED, else ../shared from the repository root.</summary>
    public static string SharedRoot =>
        Environment.GetEnvironmentVariable(EnvironmentVariable) is { Length: > 0 } env ? env : Path.GetFullPath(Path.Combine(RepositoryRoot, "..", "shared"));

    /// <summary>The folder of reference optimizer trajectories.</summary>
    public static string ReferenceOptimizers => Path.Combine(SharedRoot, "reference", "optimizers");

    /// <summary>The CIFAR-10 binary batches.</summary>
    public static string Cifar10 => Path.Combine(SharedRoot, "data", "cifar-10-batches-bin");

    /// <summary>Skips the calling test unless <paramref name="path"/> exists.</summary>
    public static void RequireDirectory(string path, string what)
    {
        if (!Directory.Exists(path))
        {
            Xunit.Assert.Skip($"{what} not found at {path}; set {EnvironmentVariable} or place shared/ beside the repository to run this test.");
        }
    }

    private static string FindRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "FusedOpt.sln")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? Directory.GetCurrentDirectory();
    }
}

using System;
using System.IO;

namespace FusedOpt.Tests;

/// <summary>
/// Finds the read-only shared/ folder beside the repository (reference trajectories, CIFAR-10). Tests that need it
/// skip with a message naming the folder they looked for when it is absent — except under <c>CI=true</c>, where a
/// missing shared/ is a failure: CI must run every check, not report a green run that skipped them.
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

    /// <summary>The variable CI services set to <c>true</c>.</summary>
    public const string CiVariable = "CI";

    /// <summary>
    /// Skips the calling test unless <paramref name="path"/> exists; under <c>CI=true</c> (or <c>1</c>) fails it instead.
    /// </summary>
    public static void RequireDirectory(string path, string what) => RequireDirectory(path, what, Environment.GetEnvironmentVariable);

    /// <summary><see cref="RequireDirectory(string, string)"/> reading variables through <paramref name="environment"/>.</summary>
    public static void RequireDirectory(string path, string what, Func<string, string?> environment)
    {
        switch (Check(path, what, environment))
        {
            case (Outcome.Fail, var message):
                Xunit.Assert.Fail(message);
                break;
            case (Outcome.Skip, var message):
                Xunit.Assert.Skip(message);
                break;
        }
    }

    /// <summary>What <see cref="RequireDirectory(string, string, Func{string, string?})"/> does.</summary>
    public enum Outcome
    {
        /// <summary>The folder exists: the test runs.</summary>
        Run,

        /// <summary>Missing, locally: the test is skipped.</summary>
        Skip,

        /// <summary>Missing under CI: the test fails.</summary>
        Fail,
    }

    /// <summary>The decision of <see cref="RequireDirectory(string, string, Func{string, string?})"/> and its message.</summary>
    public static (Outcome Outcome, string Message) Check(string path, string what, Func<string, string?> environment)
    {
        ArgumentNullException.ThrowIfNull(environment);
        if (Directory.Exists(path))
        {
            return (Outcome.Run, "");
        }

        string message = $"{what} not found at {path}; set {EnvironmentVariable} or place shared/ beside the repository to run this test.";
        return environment(CiVariable) is { } ci && (ci.Equals("true", StringComparison.OrdinalIgnoreCase) || ci == "1")
            ? (Outcome.Fail, $"{message} Under {CiVariable}={ci} a missing shared/ fails the test instead of skipping it.")
            : (Outcome.Skip, message);
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

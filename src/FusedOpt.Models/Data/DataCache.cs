using System;
using System.IO;

namespace FusedOpt.Models.Data;

/// <summary>Where downloaded data sets are kept between runs.</summary>
public static class DataCache
{
    /// <summary>
    /// The cache folder: <c>$XDG_CACHE_HOME/fusedopt</c> when that variable holds an absolute path (the XDG base
    /// directory rule), else <c>~/.cache/fusedopt</c>, else the platform's local application data folder + fusedopt.
    /// </summary>
    public static string DefaultDirectory() => DefaultDirectory(Environment.GetEnvironmentVariable);

    /// <summary><see cref="DefaultDirectory()"/> reading variables through <paramref name="environment"/> (for tests).</summary>
    public static string DefaultDirectory(Func<string, string?> environment)
    {
        ArgumentNullException.ThrowIfNull(environment);
        if (environment("XDG_CACHE_HOME") is { Length: > 0 } xdg && Path.IsPathRooted(xdg))
        {
            return Path.Combine(xdg, "fusedopt");
        }

        string home = environment("HOME") is { Length: > 0 } h ? h : Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        if (home.Length > 0)
        {
            return Path.Combine(home, ".cache", "fusedopt");
        }

        return Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData, Environment.SpecialFolderOption.Create), "fusedopt");
    }
}

using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Security.Cryptography;
using System.Text;
using System.Threading.Tasks;

namespace FusedOpt.Vulkan;

/// <summary>Where a shader's SPIR-V came from.</summary>
public enum SpirvOrigin
{
    /// <summary>A file produced at build time, found in one of <see cref="ShaderCompiler.PrebuiltDirectories"/>.</summary>
    Prebuilt,

    /// <summary>The user's cache, filled by an earlier compile.</summary>
    Cache,

    /// <summary>Compiled now by glslang (and written to the cache).</summary>
    Compiled,
}

/// <summary>SPIR-V for one HLSL text.</summary>
/// <param name="Spirv">The module's bytes.</param>
/// <param name="Key">The lowercase hex SHA-256 of the HLSL text (UTF-8): the file name <c>KEY.spv</c> it is stored under.</param>
/// <param name="Origin">Where it came from.</param>
/// <param name="Warnings">glslang's warnings, one a line, when compiled now; empty otherwise.</param>
public sealed record CompiledShader(ImmutableArray<byte> Spirv, string Key, SpirvOrigin Origin, ImmutableArray<string> Warnings);

/// <summary>
/// An HLSL text could not be turned into SPIR-V: glslang rejected it (<see cref="CompilerOutput"/> holds its errors), or
/// no SPIR-V was built or cached for it and glslang is not installed.
/// </summary>
public sealed class ShaderCompilationException : Exception
{
    /// <summary>Creates the exception.</summary>
    public ShaderCompilationException(string message, string compilerOutput = "", Exception? inner = null)
        : base(message, inner)
    {
        CompilerOutput = compilerOutput;
    }

    /// <summary>What glslang printed, when it ran.</summary>
    public string CompilerOutput { get; }
}

/// <summary>
/// HLSL → SPIR-V with glslang's HLSL front end, so that a user's machine needs no compiler at run time:
/// <list type="number">
/// <item>a prebuilt <c>KEY.spv</c> (KEY: the SHA-256 of the HLSL text) in <see cref="PrebuiltDirectories"/> — by default
/// <c>spirv/</c> beside the FusedOpt assembly, where a build step puts them (docs/gpu-vulkan.md);</item>
/// <item>the user's cache, <see cref="CacheDirectory"/> (<c>$XDG_CACHE_HOME/fusedopt/spirv/hlsl-v1</c>);</item>
/// <item><c>glslangValidator</c> (Debian <c>glslang-tools</c>; <c>$FUSEDOPT_GLSLANG</c> or <c>PATH</c>), whose output is
/// then cached;</item>
/// <item>else a <see cref="ShaderCompilationException"/> naming all three.</item>
/// </list>
/// </summary>
/// <remarks>
/// The command is <c>glslangValidator -D -V -S comp -e main --hlsl-iomap --shift-uav-binding comp 1 -o OUT IN</c>:
/// HLSL, Vulkan SPIR-V, a compute stage with entry point <c>main</c>, and the binding map the host expects —
/// <c>register(b0)</c> at binding 0 and <c>register(uK)</c> at binding K + 1, all in set 0. Vulkan has one binding
/// space per set where Direct3D has one per register class, so without the shift b0 and u0 would both be binding 0.
/// The cache folder is named after these flags (<see cref="FlagsTag"/>); changing them means a new tag.
/// </remarks>
public sealed class ShaderCompiler
{
    /// <summary>Names the compile flags; part of the cache path, so SPIR-V made with other flags is never reused.</summary>
    public const string FlagsTag = "hlsl-v1";

    /// <summary>The variable that names the glslangValidator executable, overriding <c>PATH</c>.</summary>
    public const string GlslangVariable = "FUSEDOPT_GLSLANG";

    /// <summary>The arguments before <c>-o OUT IN</c>.</summary>
    public static ImmutableArray<string> Flags { get; } = ["-D", "-V", "-S", "comp", "-e", "main", "--hlsl-iomap", "--shift-uav-binding", "comp", "1"];

    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(2);

    /// <summary>
    /// Creates a compiler. Null arguments take the defaults: <see cref="DefaultCacheDirectory"/>, <c>spirv/</c> beside
    /// the FusedOpt assembly, and <see cref="FindGlslang"/>. Pass <paramref name="glslang"/> as an empty string to forbid
    /// compiling (only prebuilt or cached SPIR-V is then used).
    /// </summary>
    public ShaderCompiler(string? cacheDirectory = null, IReadOnlyList<string>? prebuiltDirectories = null, string? glslang = null)
    {
        CacheDirectory = cacheDirectory ?? DefaultCacheDirectory;
        PrebuiltDirectories = prebuiltDirectories ?? [Path.Combine(AppContext.BaseDirectory, "spirv")];
        Glslang = glslang is null ? FindGlslang() : glslang.Length == 0 ? null : glslang;
    }

    /// <summary>Where compiled SPIR-V is cached.</summary>
    public string CacheDirectory { get; }

    /// <summary>Folders searched first for build-time SPIR-V, <c>KEY.spv</c>.</summary>
    public IReadOnlyList<string> PrebuiltDirectories { get; }

    /// <summary>The glslangValidator executable, or null when there is none.</summary>
    public string? Glslang { get; }

    /// <summary>
    /// <c>$XDG_CACHE_HOME/fusedopt/spirv/hlsl-v1</c>, else <c>~/.cache/…</c> (on Windows, under the local application
    /// data folder).
    /// </summary>
    public static string DefaultCacheDirectory
    {
        get
        {
            string? root = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
            if (string.IsNullOrEmpty(root) || !Path.IsPathRooted(root))
            {
                root = OperatingSystem.IsWindows()
                    ? Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData)
                    : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache");
            }

            return Path.Combine(root, "fusedopt", "spirv", FlagsTag);
        }
    }

    /// <summary>The glslangValidator executable: <c>$FUSEDOPT_GLSLANG</c> when set, else the first on <c>PATH</c>; null when none.</summary>
    public static string? FindGlslang()
    {
        if (Environment.GetEnvironmentVariable(GlslangVariable) is { Length: > 0 } named)
        {
            return named;
        }

        string exe = OperatingSystem.IsWindows() ? "glslangValidator.exe" : "glslangValidator";
        foreach (string dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            string candidate = Path.Combine(dir, exe);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }

    /// <summary>The lowercase hex SHA-256 of <paramref name="hlsl"/> in UTF-8: what <c>sha256sum FILE.hlsl</c> prints.</summary>
    public static string Key(string hlsl)
    {
        ArgumentNullException.ThrowIfNull(hlsl);
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(hlsl)));
    }

    /// <summary>
    /// SPIR-V for <paramref name="hlsl"/>: prebuilt, cached, or compiled now (see the class). <paramref name="name"/>
    /// names the shader in messages. Throws <see cref="ShaderCompilationException"/> when glslang rejects the text (the
    /// message quotes its errors) or when there is neither stored SPIR-V nor glslang.
    /// </summary>
    public CompiledShader Compile(string hlsl, string name = "shader")
    {
        ArgumentNullException.ThrowIfNull(hlsl);
        string key = Key(hlsl);
        foreach (string dir in PrebuiltDirectories)
        {
            if (TryRead(Path.Combine(dir, key + ".spv")) is { } prebuilt)
            {
                return new CompiledShader(prebuilt, key, SpirvOrigin.Prebuilt, []);
            }
        }

        string cached = Path.Combine(CacheDirectory, key + ".spv");
        if (TryRead(cached) is { } hit)
        {
            return new CompiledShader(hit, key, SpirvOrigin.Cache, []);
        }

        if (Glslang is null)
        {
            throw new ShaderCompilationException(
                $"no SPIR-V for {name} (key {key}): none was built ({string.Join(", ", PrebuiltDirectories.Select(static d => Path.Combine(d, "KEY.spv")))}), none is cached " +
                $"({cached}), and glslangValidator is not installed to compile it (Debian: glslang-tools; or set {GlslangVariable}).");
        }

        var (spirv, warnings) = Run(hlsl, name);
        Store(cached, spirv);
        return new CompiledShader(spirv, key, SpirvOrigin.Compiled, warnings);
    }

    private (ImmutableArray<byte> Spirv, ImmutableArray<string> Warnings) Run(string hlsl, string name)
    {
        string work = Directory.CreateTempSubdirectory("fusedopt-hlsl-").FullName;
        try
        {
            string source = Path.Combine(work, Sanitize(name) + ".hlsl"), output = Path.Combine(work, "out.spv");
            File.WriteAllText(source, hlsl, new UTF8Encoding(encoderShouldEmitUTF8Identifier: false));
            var start = new ProcessStartInfo(Glslang!)
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
                WorkingDirectory = work,
            };
            foreach (string flag in Flags)
            {
                start.ArgumentList.Add(flag);
            }

            start.ArgumentList.Add("-o");
            start.ArgumentList.Add(output);
            start.ArgumentList.Add(source);

            Process process;
            try
            {
                process = Process.Start(start) ?? throw new ShaderCompilationException($"{Glslang} did not start.");
            }
            catch (System.ComponentModel.Win32Exception e)
            {
                throw new ShaderCompilationException($"glslangValidator ({Glslang}) could not be started: {e.Message}. Install glslang-tools or set {GlslangVariable}.", inner: e);
            }

            using (process)
            {
                Task<string> stdout = process.StandardOutput.ReadToEndAsync(), stderr = process.StandardError.ReadToEndAsync();
                if (!process.WaitForExit(Timeout))
                {
                    process.Kill(entireProcessTree: true);
                    throw new ShaderCompilationException($"glslangValidator did not finish compiling {name} within {Timeout.TotalSeconds:0} s.");
                }

                // glslang prints the input file's name on a line of its own first: not a diagnostic.
                string text = string.Join('\n', (stdout.Result + stderr.Result).Split('\n')
                    .Select(static l => l.TrimEnd('\r'))
                    .Where(l => l.Length > 0 && l != source && l != Path.GetFileName(source))
                    .Select(l => l.Replace(source, Path.GetFileName(source), StringComparison.Ordinal)));
                var warnings = text.Split('\n').Where(static l => l.StartsWith("WARNING:", StringComparison.Ordinal)).ToImmutableArray();
                if (process.ExitCode != 0 || !File.Exists(output))
                {
                    throw new ShaderCompilationException($"glslangValidator rejected {name} (exit {process.ExitCode}):\n{text}", text);
                }

                var spirv = File.ReadAllBytes(output);
                SpirvModule.Read(spirv); // a module glslang wrote that is not SPIR-V would be a bug worth stopping at
                return ([.. spirv], warnings);
            }
        }
        finally
        {
            try
            {
                Directory.Delete(work, recursive: true);
            }
            catch (IOException)
            {
                // A leftover temporary folder is harmless.
            }
        }
    }

    /// <summary>Reads a stored module; null when absent or not SPIR-V (a truncated write), so that it is compiled again.</summary>
    private static ImmutableArray<byte>? TryRead(string path)
    {
        if (!File.Exists(path))
        {
            return null;
        }

        try
        {
            var bytes = File.ReadAllBytes(path);
            SpirvModule.Read(bytes);
            return [.. bytes];
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
        {
            return null;
        }
    }

    /// <summary>Writes the cache entry through a temporary file and a rename; a cache that cannot be written is skipped.</summary>
    private static void Store(string path, ImmutableArray<byte> spirv)
    {
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            string temporary = $"{path}.{Environment.ProcessId}.tmp";
            File.WriteAllBytes(temporary, [.. spirv]);
            File.Move(temporary, path, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // The cache only saves the next compile; the SPIR-V in hand is returned either way.
        }
    }

    private static string Sanitize(string name)
    {
        var chars = name.Select(static c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '_').ToArray();
        return chars.Length == 0 ? "shader" : new string(chars);
    }
}

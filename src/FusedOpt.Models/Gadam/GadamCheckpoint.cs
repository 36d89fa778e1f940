using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json;
using System.Text.Json.Serialization;
using FusedOpt.IO;

namespace FusedOpt.Models.Gadam;

/// <summary>The manifest of a Gadam checkpoint (<c>gadam.json</c>): where the run stands and which member files hold it.</summary>
/// <param name="Version">Format version.</param>
/// <param name="Options">The run's options.</param>
/// <param name="Generation">Generations completed.</param>
/// <param name="Converged">Eq. 50 held.</param>
/// <param name="SurvivorSums">Σ of survivors' selection losses per generation.</param>
/// <param name="Members">Optimizer state file of each member, in population order (relative to the folder).</param>
/// <param name="Mean">Per-channel normalisation mean of the training data.</param>
/// <param name="Std">Per-channel normalisation std.</param>
/// <param name="TrainImages">Training images.</param>
public sealed record GadamManifest(int Version, GadamOptions Options, int Generation, bool Converged, double[] SurvivorSums, string[] Members, double[] Mean, double[] Std, int TrainImages);

/// <summary>
/// Checkpoints of a <see cref="GadamRun"/>: a folder of member files (optimizer state files, each with parameters, Adam
/// moments, step count and its own checksum, written atomically) and a manifest written last, atomically, by rank 0
/// after every rank has written its members. A crash at any point leaves the previous checkpoint readable.
/// </summary>
public static class GadamCheckpoint
{
    /// <summary>The manifest's file name.</summary>
    public const string ManifestName = "gadam.json";

    /// <summary>Current version.</summary>
    public const int Version = 1;

    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true, Converters = { new JsonStringEnumConverter() } };

    /// <summary>Reads and checks the manifest in <paramref name="directory"/>.</summary>
    public static GadamManifest Read(string directory)
    {
        string path = Path.Combine(directory, ManifestName);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"gadam: no checkpoint in {Path.GetFullPath(directory)} ({ManifestName} is missing).", path);
        }

        GadamManifest? manifest;
        try
        {
            manifest = JsonSerializer.Deserialize<GadamManifest>(File.ReadAllText(path), Json);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"gadam: {path} is not a Gadam checkpoint manifest: {e.Message}", e);
        }

        if (manifest is null || manifest.Version != Version || manifest.Members.Length != manifest.Options.Population)
        {
            throw new InvalidDataException($"gadam: {path} is not a version-{Version} Gadam checkpoint manifest with one file per member.");
        }

        manifest.Options.Validate();
        return manifest;
    }

    /// <summary>The full path of member <paramref name="index"/>'s file.</summary>
    public static string MemberPath(string directory, GadamManifest manifest, int index)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        return Path.Combine(directory, manifest.Members[index]);
    }

    internal static void Save(string directory, GadamRun run, Action<int, string> saveMember, IGadamComm comm)
    {
        Directory.CreateDirectory(directory);
        string[] names = [.. Enumerable.Range(0, run.Options.Population).Select(i => $"g{run.Generation:D4}-m{i}.fopt")];
        for (int i = 0; i < names.Length; i++)
        {
            saveMember(i, Path.Combine(directory, names[i]));
        }

        comm.Barrier();
        if (comm.Rank == 0)
        {
            var (mean, std, images) = run.DataIdentity;
            var manifest = new GadamManifest(Version, run.Options, run.Generation, run.Converged, [.. run.SurvivorSums], names, mean, std, images);
            string path = Path.Combine(directory, ManifestName);
            AtomicFile.WriteAllText(path, JsonSerializer.Serialize(manifest, Json));
            var keep = new HashSet<string>(names, StringComparer.Ordinal);
            foreach (string old in Directory.EnumerateFiles(directory, "g*-m*.fopt"))
            {
                if (!keep.Contains(Path.GetFileName(old)))
                {
                    File.Delete(old);
                }
            }
        }

        comm.Barrier();
    }
}

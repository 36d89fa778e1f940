using System;
using System.IO;
using System.Linq;
using Xunit;

namespace FusedOpt.Tests;

/// <summary>
/// Whole generated files, compared with snapshots under Snapshots/, so that any change to the emitted code shows up in
/// review. Set FUSEDOPT_UPDATE_SNAPSHOTS=1 to rewrite them after an intended change, then read the diff.
/// </summary>
public sealed class SnapshotTests
{
    [Theory]
    [InlineData("Momentum", """
        using FusedOpt;

        namespace User;

        /// <summary>Heavy-ball momentum with an optional decoupled decay.</summary>
        [Optimizer("momentum")]
        public partial record Momentum([NonNegative] float Lr = 0.01f, [Unit] float Mu = 0.9f, [NonNegative] float Decay = 0f)
        {
            void Update(ref float p, float g, ref float v)
            {
                if (Decay > 0) p *= 1 - Lr * Decay;
                v = Mu * v + g;
                p -= Lr * v;
            }
        }
        """)]
    [InlineData("Adam", EmittedCodeTests.Adam)]
    public void GeneratedFile_MatchesSnapshot(string name, string source)
    {
        var run = GeneratorHarness.Generate(source);
        Assert.Empty(run.AllProblems);
        string actual = run.Sources.Values.Single();
        string path = Path.Combine(SharedData.RepositoryRoot, "tests", "FusedOpt.Generator.Tests", "Snapshots", name + ".g.cs.txt");

        if (Environment.GetEnvironmentVariable("FUSEDOPT_UPDATE_SNAPSHOTS") == "1")
        {
            File.WriteAllText(path, actual);
        }

        Assert.True(File.Exists(path), $"No snapshot at {path}; run with FUSEDOPT_UPDATE_SNAPSHOTS=1 to create it, then review it.");

        string expected = File.ReadAllText(path).ReplaceLineEndings("\n");
        Assert.Equal(expected, actual.ReplaceLineEndings("\n"));
    }
}

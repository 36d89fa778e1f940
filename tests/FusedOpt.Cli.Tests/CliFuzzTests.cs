using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using Xunit;

namespace FusedOpt.Tests;

/// <summary>
/// The exit-code convention under malformed arguments, for every command: a fixed corpus, then a seeded random slice
/// of mutations of each command's valid arguments. Every case must exit with 2, print exactly one line on stderr that
/// starts with "error: ", and show no stack trace and none of the framework's "(Parameter 'x')" / "Actual value was"
/// noise. Every mutation is invalid by construction (an unknown flag, a missing value, a count below its minimum, a
/// name no command knows), and the valid bases are cheap and offline (training names a missing data folder), so a
/// mutation that were accepted would still end fast, and the test would fail on its exit code.
/// </summary>
public sealed class CliFuzzTests : IClassFixture<CliFuzzTests.Files>
{
    // The cases are enumerated when the tests run (DisableDiscoveryEnumeration), in the process that owns this folder.
    private static readonly string Dir = Path.Combine(Path.GetTempPath(), $"fusedopt-cli-fuzz-{Environment.ProcessId}");
    private static readonly string NoData = Path.Combine(Dir, "no-such-data-folder");
    private static readonly string Case = Path.Combine(Dir, "case.json");
    private static readonly string ZeroSteps = Path.Combine(Dir, "zero-steps.json");
    private static readonly string FolderOfCases = Path.Combine(Dir, "cases");

    /// <summary>The files the corpus names, written once for the class and removed after it.</summary>
    public sealed class Files : IDisposable
    {
        public Files()
        {
            Directory.CreateDirectory(FolderOfCases);
            File.WriteAllText(Case, """{"name": "tiny", "torch_optimizer": "SGD", "hyperparameters": {"lr": 0.5}, "initial": [1.0], "gradients": [[0.5]], "expected": [[0.75]]}""");
            File.WriteAllText(ZeroSteps, """{"name": "none", "torch_optimizer": "SGD", "initial": [1.0], "gradients": [], "expected": []}""");
            File.Copy(Case, Path.Combine(FolderOfCases, "a.json"), overwrite: true);
        }

        public void Dispose() => Directory.Delete(Dir, recursive: true);
    }

    /// <summary>What an option takes, which decides the invalid values a mutation may give it.</summary>
    private enum Kind
    {
        /// <summary>A whole number of at least 1.</summary>
        Count,

        /// <summary>A name from a fixed set (optimizer, ISA, device, model, …).</summary>
        Name,

        /// <summary>A non-negative whole number (a seed): only non-numbers are invalid.</summary>
        Seed,

        /// <summary>A real number: only non-numbers are invalid.</summary>
        Real,
    }

    private sealed record Spec(string[] Command, string[] Base, (string Option, Kind Kind)[] Options);

    private static readonly Spec[] Commands =
    [
        new(["list"], [], []),
        new(["devices"], [], []),
        new(["shaders"], ["--optimizer", "sgd", "--out", Path.Combine(Dir, "shaders")], [("--optimizer", Kind.Name)]),
        new(["replay"], [Case], [("--threads", Kind.Count), ("--isa", Kind.Name), ("--device", Kind.Name)]),
        new(["bench", "step"], ["--size", "1K", "--rounds", "1"],
            [("--optimizer", Kind.Name), ("--threads", Kind.Count), ("--isa", Kind.Name), ("--tensors", Kind.Count), ("--rounds", Kind.Count), ("--device", Kind.Name)]),
        new(["bench", "sweep"], ["--sizes", "1K", "--rounds", "1"], [("--optimizer", Kind.Name), ("--threads", Kind.Count), ("--rounds", Kind.Count)]),
        new(["bench", "gemm"], ["--m", "8", "--n", "8", "--k", "8"],
            [("--m", Kind.Count), ("--n", Kind.Count), ("--k", Kind.Count), ("--threads", Kind.Count), ("--trans-a", Kind.Name), ("--trans-b", Kind.Name), ("--isa", Kind.Name)]),
        new(["bench", "train"], ["--batch", "2", "--iterations", "1"],
            [("--model", Kind.Name), ("--optimizer", Kind.Name), ("--batch", Kind.Count), ("--iterations", Kind.Count), ("--threads", Kind.Count)]),
        new(["train"], ["--data", NoData, "--epochs", "1"],
            [("--optimizer", Kind.Name), ("--model", Kind.Name), ("--epochs", Kind.Count), ("--batch", Kind.Count), ("--threads", Kind.Count), ("--isa", Kind.Name),
             ("--decay", Kind.Name), ("--seed", Kind.Seed), ("--lr", Kind.Real), ("--weight-decay", Kind.Real), ("--dropout", Kind.Real)]),
        new(["compare"], ["--data", NoData, "--epochs", "1", "--optimizers", "sgd"],
            [("--optimizers", Kind.Name), ("--model", Kind.Name), ("--epochs", Kind.Count), ("--batch", Kind.Count), ("--threads", Kind.Count), ("--isa", Kind.Name),
             ("--decay", Kind.Name), ("--seed", Kind.Seed), ("--weight-decay", Kind.Real), ("--dropout", Kind.Real)]),
        new(["gradcheck"], ["--models", "linear", "--losses", "mse"], [("--models", Kind.Name), ("--losses", Kind.Name), ("--seed", Kind.Seed), ("--tolerance", Kind.Real)]),
        new(["gadam"], ["--data", NoData, "--out", Path.Combine(Dir, "gadam")],
            [("--population", Kind.Count), ("--generations", Kind.Count), ("--epochs-per-generation", Kind.Count), ("--batch", Kind.Count), ("--workers", Kind.Count),
             ("--validation-batch", Kind.Count), ("--mutation", Kind.Name), ("--mode", Kind.Name), ("--model", Kind.Name), ("--isa", Kind.Name), ("--seed", Kind.Seed),
             ("--lr", Kind.Real), ("--mutation-rate", Kind.Real), ("--lambda", Kind.Real)]),
    ];

    /// <summary>Hand-picked malformations: the defects the issue named, and one of each kind per command.</summary>
    public static TheoryData<string[]> Corpus()
    {
        List<string[]> corpus =
        [
            [], ["bogus"], ["bench"], ["bench", "bogus"], ["--bogus"],
            ["list", "--bogus"], ["list", "extra"], ["list", "--json", "maybe"],
            ["devices", "--bogus"], ["devices", "extra"],
            ["replay"], ["replay", Path.Combine(Dir, "nowhere")], ["replay", Case, "--bogus"], ["replay", Case, "--threads", "0"],
            ["replay", Case, "--threads", "-1"], ["replay", Case, "--threads", "abc"], ["replay", Case, "--threads"], ["replay", Case, "--threads", "99999999999"],
            ["replay", Case, "--isa", "sse9"], ["replay", Case, "--device", "tpu"], ["replay", Case, "--out", ""], ["replay", Case, "--out", Case],
            ["replay", ZeroSteps, "--out", Path.Combine(Dir, "zero-out.json")], ["replay", ZeroSteps],
            ["bench", "step", "--bogus"], ["bench", "step", "--size", "0"], ["bench", "step", "--size", "-1"], ["bench", "step", "--size", "1Q"],
            ["bench", "step", "--size", "NaN"], ["bench", "step", "--size", ""], ["bench", "step", "--size", "3G"], ["bench", "step", "--size"],
            ["bench", "step", "--size", "1K", "--rounds", "0"], ["bench", "step", "--size", "1K", "--rounds", "-3"], ["bench", "step", "--size", "1K", "--tensors", "0"],
            ["bench", "step", "--size", "1K", "--tensors", "2000"], ["bench", "step", "--size", "1K", "--threads", "0"], ["bench", "step", "--size", "1K", "--threads", "1025"],
            ["bench", "step", "--size", "1K", "--set", "lr"], ["bench", "step", "--size", "1K", "--set", "lr=abc"], ["bench", "step", "--size", "1K", "--set", "bogus=1"],
            ["bench", "step", "--size", "1K", "--set", "lr=-1"], ["bench", "step", "--size", "1K", "--optimizer", "nope"], ["bench", "step", "--size", "1K", "--json", "extra"],
            ["bench", "sweep", "--sizes", ""], ["bench", "sweep", "--sizes", ","], ["bench", "sweep", "--sizes", "1Q"], ["bench", "sweep", "--sizes", "1K", "--rounds", "0"],
            ["bench", "sweep", "--sizes", "1K", "--plot", ""], ["bench", "sweep", "--sizes", "1K", "--plot", Dir], ["bench", "sweep", "--sizes", "1K", "--optimizer", "nope"],
            ["bench", "gemm", "--m", "0"], ["bench", "gemm", "--n", "-1"], ["bench", "gemm", "--k", "abc"], ["bench", "gemm", "--trans-a", "x"], ["bench", "gemm", "--isa", "x"],
            ["bench", "gemm", "--threads", "0"], ["bench", "gemm", "--m", "100000", "--n", "100000", "--k", "1"], ["bench", "gemm", "--m", "2147483647", "--n", "2", "--k", "1"],
            ["bench", "train", "--batch", "0"], ["bench", "train", "--iterations", "-1"], ["bench", "train", "--model", "nope"], ["bench", "train", "--optimizer", "nope"],
            ["bench", "train", "--threads", "0"], ["bench", "train", "--bogus"], ["bench", "train", "--batch", "2147483647", "--iterations", "2147483647"],
            ["train", "--bogus"], ["train", "--epochs", "abc"], ["train", "--epochs", "-1"], ["train", "--batch", "0"], ["train", "--threads", "0"], ["train", "--lr", "abc"],
            ["train", "--epochs"], ["train", "--seed", "-1"], ["train", "--optimizer", "nope"], ["train", "--data", ""], ["train", "--data", Case], ["train", "--data", NoData],
            ["compare", "--bogus"], ["compare", "--epochs", "abc"], ["compare", "--batch", "-5"], ["compare", "--threads", "0"], ["compare", "--optimizers", "nope"],
            ["compare", "--lr", "zz"], ["compare", "--batch"], ["compare", "--data", Case],
            ["gradcheck", "--bogus"], ["gradcheck", "--models", "nope"], ["gradcheck", "--losses", "nope"], ["gradcheck", "--tolerance", "x"], ["gradcheck", "--seed", "-1"],
            ["gradcheck", "--tolerance", "1,5"], ["gradcheck", "--tolerance", "NaN"], ["gradcheck", "--tolerance", "Infinity"], ["train", "--lr", "1,5"],
            ["train", "--weight-decay", "NaN"], ["train", "--dropout", "-Infinity"], ["compare", "--dropout", "1,000"],
            ["gadam", "--bogus"], ["gadam", "--population", "0"], ["gadam", "--population", "1"], ["gadam", "--generations", "-1"], ["gadam", "--mutation", "nope"],
            ["gadam", "--mutation-rate", "-0.1"], ["gadam", "--mutation-rate", "2"], ["gadam", "--lambda", "-1"], ["gadam", "--mode", "nope"], ["gadam", "--model", "nope"],
            ["gadam", "--validation-batch", "0"], ["gadam", "--lr", "abc"], ["gadam", "--data", ""], ["gadam", "--data", Case],
            ["plot"], ["plot", Dir], ["plot", Case], ["plot", "x="], ["plot", Dir, "--out", ""], ["plot", Dir, "--bogus"],
        ];

        // A folder of cases written to itself would overwrite the inputs.
        corpus.Add(["replay", FolderOfCases, "--out", FolderOfCases]);

        // Training commands never reach the data: each case names a missing folder unless it tests --data itself.
        var data = new TheoryData<string[]>();
        foreach (var args in corpus)
        {
            bool training = args.Length > 0 && args[0] is "train" or "compare" or "gadam";
            data.Add(training && !args.Contains("--data") ? [.. args, "--data", NoData] : args);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Corpus), DisableDiscoveryEnumeration = true)]
    public void Corpus_EveryMalformedCommandLine_ExitsWithTwo_AndOneClearLine(string[] args) => AssertBadInput(args);

    /// <summary>Mutations per command in the slice CI runs; <c>FUSEDOPT_CLI_FUZZ_MUTATIONS</c> asks for more locally.</summary>
    private const int DefaultMutations = 12;

    /// <summary>The seed of the slice; <c>FUSEDOPT_CLI_FUZZ_SEED</c> explores another.</summary>
    private const int DefaultSeed = 20261129;

    /// <summary>
    /// The seeded slice: 12 mutations per command (about 120 command lines, a second or two), each of them invalid by
    /// construction. <c>FUSEDOPT_CLI_FUZZ_MUTATIONS=1000 FUSEDOPT_CLI_FUZZ_SEED=7</c> runs a longer, different slice; a
    /// failure names the command line, so it can be added to the corpus.
    /// </summary>
    public static TheoryData<string[]> Mutations()
    {
        int perCommand = int.TryParse(Environment.GetEnvironmentVariable("FUSEDOPT_CLI_FUZZ_MUTATIONS"), out int n) && n > 0 ? n : DefaultMutations;
        var rng = new Random(int.TryParse(Environment.GetEnvironmentVariable("FUSEDOPT_CLI_FUZZ_SEED"), out int seed) ? seed : DefaultSeed);
        var data = new TheoryData<string[]>();
        string[] notCounts = ["0", "-1", "-2147483649", "99999999999999", "1.5", "abc", "", "NaN", "1e3", "0x10", "½", "--"];
        string[] notNumbers = ["abc", "", "1,5", "0x10", "--", "one", "1e", "++1", "NaN", "Infinity", "-∞", "1e999"];
        foreach (var spec in Commands)
        {
            for (int i = 0; i < perCommand; i++)
            {
                var args = new List<string>(spec.Base);
                int choice = spec.Options.Length == 0 ? rng.Next(2) : rng.Next(4);
                switch (choice)
                {
                    case 0:
                        // An unknown flag somewhere among the arguments.
                        args.Insert(rng.Next(args.Count + 1), "--x-" + Junk(rng, lettersOnly: true));
                        break;
                    case 1:
                        // A stray word.
                        args.Insert(rng.Next(args.Count + 1), "zz" + Junk(rng, lettersOnly: true));
                        break;
                    case 2:
                    {
                        // An option given last, without its value.
                        var (option, _) = spec.Options[rng.Next(spec.Options.Length)];
                        Remove(args, option);
                        args.Add(option);
                        break;
                    }

                    default:
                    {
                        // An option with a value it cannot take.
                        var (option, kind) = spec.Options[rng.Next(spec.Options.Length)];
                        Remove(args, option);
                        string value = kind switch
                        {
                            Kind.Count => notCounts[rng.Next(notCounts.Length)],
                            Kind.Name => "zz" + Junk(rng, lettersOnly: false),
                            _ => notNumbers[rng.Next(notNumbers.Length)],
                        };
                        args.Add(option);
                        args.Add(value);
                        break;
                    }
                }

                data.Add([.. spec.Command, .. args]);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Mutations), DisableDiscoveryEnumeration = true)]
    public void Mutations_EveryCommandsArguments_ExitWithTwo_AndOneClearLine(string[] args) => AssertBadInput(args);

    private static void AssertBadInput(string[] args)
    {
        var result = CliHarness.Run(args);

        string shown = string.Join(' ', args.Select(static a => a.Length == 0 ? "''" : a));
        string[] lines = result.Error.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(result.ExitCode == 2, $"fusedopt {shown}: exit {result.ExitCode}, expected 2; stderr: {result.Error}");
        Assert.True(lines.Length == 1, $"fusedopt {shown}: {lines.Length} lines on stderr, expected 1: {result.Error}");
        Assert.StartsWith("error: ", lines[0], StringComparison.Ordinal);
        foreach (var noise in new[] { "   at ", "Exception", "(Parameter '", "Actual value was", "System.Int32", "System.Double", "internal error", "Index was out of range" })
        {
            Assert.False(lines[0].Contains(noise, StringComparison.Ordinal), $"fusedopt {shown}: stderr shows '{noise}': {lines[0]}");
        }

        Assert.True(lines[0].Length > "error: ".Length + 10, $"fusedopt {shown}: the message says too little: {lines[0]}");
    }

    private static void Remove(List<string> args, string option)
    {
        int at = args.IndexOf(option);
        if (at >= 0)
        {
            args.RemoveRange(at, Math.Min(2, args.Count - at));
        }
    }

    private static string Junk(Random rng, bool lettersOnly)
    {
        const string letters = "abcdefghijklmnopqrstuvwxyz";
        const string others = "0123456789-_.:/ %$#@!é中";
        int length = 1 + rng.Next(8);
        var chars = new char[length];
        for (int i = 0; i < length; i++)
        {
            chars[i] = lettersOnly || rng.Next(2) == 0 ? letters[rng.Next(letters.Length)] : others[rng.Next(others.Length)];
        }

        return new string(chars);
    }
}

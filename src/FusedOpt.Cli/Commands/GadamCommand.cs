using System;
using System.Collections.Generic;
using System.CommandLine;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text.Json;
using FusedOpt.Kernels;
using FusedOpt.Models.Data;
using FusedOpt.Models.Gadam;
using Spectre.Console;

namespace FusedOpt.Cli.Commands;

/// <summary>
/// <c>fusedopt gadam</c>: a population of FCNs trained with the fused Adam and evolved by seed 004's genetic algorithm
/// (§6.1) — standalone, parallel, or across processes under <c>mpirun</c>. Writes per-generation metrics
/// (<c>metrics.jsonl</c>), a checkpoint per generation (<c>checkpoint/</c>), <c>loss.png</c>, <c>accuracy.png</c> and
/// <c>result.json</c>; <c>--resume</c> continues bit for bit.
/// </summary>
internal static class GadamCommand
{
    private static readonly Option<string> Model = new("--model") { Description = "Unit model: fcn (VGG11 once the convolutional runtime lands).", DefaultValueFactory = static _ => "fcn" };
    private static readonly Option<string> Hidden = new("--hidden") { Description = "Hidden layer widths of the FCN.", DefaultValueFactory = static _ => "500,500,500" };
    private static readonly Option<int> Population = new("--population") { Description = "Population size g.", DefaultValueFactory = static _ => 4 };
    private static readonly Option<int> Generations = new("--generations") { Description = "Maximum generations K.", DefaultValueFactory = static _ => 5 };
    private static readonly Option<int> Epochs = new("--epochs-per-generation") { Description = "Adam epochs E per member (parents, then children) per generation.", DefaultValueFactory = static _ => 1 };
    private static readonly Option<int> Batch = new("--batch") { Description = "Minibatch size.", DefaultValueFactory = static _ => 100 };
    private static readonly Option<double> Lr = new("--lr") { Description = "Adam's learning rate.", DefaultValueFactory = static _ => 1e-3 };
    private static readonly Option<double> MutationRate = new("--mutation-rate") { Description = "Base mutation rate p (eq. 49).", DefaultValueFactory = static _ => 0.01 };
    private static readonly Option<string> Mutation = new("--mutation") { Description = "What a mutated element becomes: init (a redraw from its layer's initializer; default) or uniform (the seed's rand(0, 1)).", DefaultValueFactory = static _ => "init" };
    private static readonly Option<double> Lambda = new("--lambda") { Description = "Stop when the summed validation losses of consecutive generations differ by ≤ λ (eq. 50); negative: never.", DefaultValueFactory = static _ => -1 };
    private static readonly Option<int> Validation = new("--validation-batch") { Description = "Images per validation batch (sampled from the training set).", DefaultValueFactory = static _ => 500 };
    private static readonly Option<ulong> Seed = new("--seed") { Description = "Seed of everything random.", DefaultValueFactory = static _ => 1UL };
    private static readonly Option<string> Mode = new("--mode") { Description = "standalone (members one after another) or parallel (--workers members at once).", DefaultValueFactory = static _ => "standalone" };
    private static readonly Option<int> Workers = new("--workers") { Description = "Members trained at once in parallel mode.", DefaultValueFactory = static _ => Math.Max(1, Environment.ProcessorCount) };
    private static readonly Option<int> MemberThreads = new("--member-threads") { Description = "Threads per member (fixed: results do not depend on the mode).", DefaultValueFactory = static _ => 1 };
    private static readonly Option<string?> Data = new("--data") { Description = "CIFAR-10 folder (binary layout); default FUSEDOPT_DATA, else downloaded once to the cache." };
    private static readonly Option<int?> Subset = new("--subset") { Description = "Train on the first N images (default: all 50,000)." };
    private static readonly Option<int?> TestSubset = new("--test-subset") { Description = "Evaluate on the first N test images (default: all 10,000)." };
    private static readonly Option<bool> NoTest = new("--no-test") { Description = "Skip the test-set evaluation of the best member after each generation." };
    private static readonly Option<string> RecordsPerFile = new("--records-per-file") { Description = "Records per data file: 10000 or any.", DefaultValueFactory = static _ => "10000", Hidden = true };
    private static readonly Option<string?> Isa = new("--isa") { Description = "avx512, avx2, scalar or auto." };
    private static readonly Option<string?> Output = new("--out") { Description = "Output folder (default runs/gadam)." };
    private static readonly Option<string?> Resume = new("--resume") { Description = "Continue the run in this folder; --generations may extend it." };
    private static readonly Option<bool> JsonOutput = new("--json") { Description = "Print the result as JSON." };

    public static Command Create(CliContext context)
    {
        var command = new Command("gadam", "Gadam (seed 004 §6.1): a population trained with Adam and evolved by a genetic algorithm; standalone, parallel or under mpirun.");
        foreach (var option in new Option[] { Model, Hidden, Population, Generations, Epochs, Batch, Lr, MutationRate, Mutation, Lambda, Validation, Seed, Mode, Workers, MemberThreads, Data, Subset, TestSubset, NoTest, RecordsPerFile, Isa, Output, Resume, JsonOutput })
        {
            command.Options.Add(option);
        }

        command.Subcommands.Add(GadamPlotCommand.Create(context));
        command.Subcommands.Add(GadamBenchCommand.Create(context));

        command.SetAction(parse =>
        {
            IGadamComm comm;
            try
            {
                comm = MpiComm.IsLaunchedByMpirun ? MpiComm.Initialize() : new LocalComm();
            }
            catch (DllNotFoundException e)
            {
                context.Error.WriteLine("error: " + e.Message);
                return 2;
            }

            int code;
            try
            {
                code = context.Guard(() => Execute(context, parse, comm));
            }
            catch
            {
                (comm as MpiComm)?.Abort(3);
                throw;
            }

            if (code != 0 && comm is MpiComm { Size: > 1 } mpi)
            {
                mpi.Abort(code);
            }

            comm.Dispose();
            return code;
        });
        return command;
    }

    private static int Execute(CliContext context, ParseResult parse, IGadamComm comm)
    {
        bool json = parse.GetValue(JsonOutput);
        var view = new GadamView(context, comm.Rank == 0, json);
        GadamRun run;
        string folder;
        var records = new List<GenerationRecord>();
        if (parse.GetValue(Resume) is { } from)
        {
            folder = from;
            var manifest = GadamCheckpoint.Read(CheckpointFolder(folder));
            var data = LoadData(view, parse.GetValue(Data), manifest.Options);
            int? generations = parse.GetResult(Generations) is { Implicit: false } ? parse.GetValue(Generations) : null;
            GadamMode? mode = parse.GetResult(Mode) is { Implicit: false } ? ParseMode(parse.GetValue(Mode)!) : null;
            int? workers = parse.GetResult(Workers) is { Implicit: false } ? parse.GetValue(Workers) : null;
            run = GadamRun.Resume(data, CheckpointFolder(folder), comm, generations, mode, workers);
            records.AddRange(GadamMetrics.Read(Path.Combine(folder, "metrics.jsonl"), run.Generation));
            view.Info($"resuming {Path.GetFullPath(folder)} after generation {run.Generation}, up to {run.Options.Generations}");
        }
        else
        {
            var options = BuildOptions(parse);
            folder = parse.GetValue(Output) ?? Path.Combine("runs", "gadam");
            var data = LoadData(view, parse.GetValue(Data), options);
            options = options with { EvaluateTest = options.EvaluateTest && data.Test.Count > 0 };
            run = new GadamRun(data, options, comm);
        }

        using (run)
        {
            var o = run.Options;
            view.Info($"gadam: population {o.Population} × fcn [[{string.Join("×", o.Hidden)}]] ({run.ParameterCount:N0} parameters each), {o.Generations} generations × {o.EpochsPerGeneration} epoch(s), mutation {o.Mutation.ToString().ToLowerInvariant()} p = {o.MutationRate}, {ModeText(o, comm)}");
            using var metrics = comm.Rank == 0 ? GadamMetrics.Open(folder, run, records) : null;
            while (!run.Finished)
            {
                var record = run.Step();
                run.SaveCheckpoint(CheckpointFolder(folder));
                records.Add(record);
                metrics?.Write(record);
                view.Generation(record);
            }

            string hash = run.PopulationHash();
            if (comm.Rank != 0)
            {
                return 0;
            }

            var result = new GadamResult(Path.GetFileName(Path.GetFullPath(folder)), o, comm.Size, hash, run.Generation, run.Converged, records.Sum(static r => r.BytesSent),
                records.Count == 0 ? 0 : records.Average(static r => r.ImagesPerSecond), records.Sum(static r => r.Seconds), records);
            File.WriteAllText(Path.Combine(folder, "result.json"), Json.Serialize(result));
            WriteCharts(folder, records);
            if (json)
            {
                context.WriteRaw(Json.Serialize(result));
            }
            else if (records.Count > 0)
            {
                var last = records[^1];
                context.Console.MarkupLineInterpolated(
                    $"best validation loss [bold]{last.BestLoss:0.0000}[/]{(last.TestAccuracy is { } acc ? $", test accuracy {acc:P2}" : "")} after {run.Generation} generation(s){(run.Converged ? " (converged, eq. 50)" : "")}; population hash {hash}; {result.BytesSent:N0} bytes sent; outputs in {Path.GetFullPath(folder)}");
            }

            return 0;
        }
    }

    private static string CheckpointFolder(string folder) => Path.Combine(folder, "checkpoint");

    private static string ModeText(GadamOptions o, IGadamComm comm) =>
        (o.Mode == GadamMode.Parallel ? $"parallel ({o.Workers} workers)" : "standalone")
        + $", {o.MemberThreads} thread(s) per member" + (comm.Size > 1 ? $", {comm.Size} MPI ranks" : "");

    private static GadamOptions BuildOptions(ParseResult parse)
    {
        var options = new GadamOptions
        {
            Model = parse.GetValue(Model)!.Trim().ToLowerInvariant(),
            Hidden = [.. ParseWidths(parse.GetValue(Hidden)!)],
            Population = parse.GetValue(Population),
            Generations = parse.GetValue(Generations),
            EpochsPerGeneration = parse.GetValue(Epochs),
            BatchSize = parse.GetValue(Batch),
            LearningRate = parse.GetValue(Lr),
            MutationRate = parse.GetValue(MutationRate),
            Mutation = parse.GetValue(Mutation)!.Trim().ToLowerInvariant() switch
            {
                "init" => MutationMode.Init,
                "uniform" => MutationMode.Uniform,
                var other => throw new ArgumentException($"--mutation '{other}': expected init or uniform."),
            },
            Lambda = parse.GetValue(Lambda),
            ValidationBatch = parse.GetValue(Validation),
            Seed = parse.GetValue(Seed),
            Mode = ParseMode(parse.GetValue(Mode)!),
            Workers = parse.GetValue(Workers),
            MemberThreads = parse.GetValue(MemberThreads),
            EvaluateTest = !parse.GetValue(NoTest),
            Subset = parse.GetValue(Subset),
            TestSubset = parse.GetValue(TestSubset),
            RecordsPerFile = TrainOptionSet.ParseRecordsPerFile(parse.GetValue(RecordsPerFile)!),
            Isa = IsaSupport.Parse(parse.GetValue(Isa), "--isa"),
        };
        options.Validate();
        return options;
    }

    private static GadamMode ParseMode(string text) => text.Trim().ToLowerInvariant() switch
    {
        "standalone" => GadamMode.Standalone,
        "parallel" => GadamMode.Parallel,
        _ => throw new ArgumentException($"--mode '{text}': expected standalone or parallel."),
    };

    private static int[] ParseWidths(string text)
    {
        var parts = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return parts.Length > 0 && parts.All(static p => int.TryParse(p, NumberStyles.Integer, CultureInfo.InvariantCulture, out int w) && w >= 1)
            ? [.. parts.Select(static p => int.Parse(p, CultureInfo.InvariantCulture))]
            : throw new FormatException($"--hidden '{text}': expected positive widths separated by commas.");
    }

    private static Cifar10Dataset LoadData(GadamView view, string? dataOption, GadamOptions options)
    {
        string directory = Cifar10.ResolveDirectoryAsync(dataOption).GetAwaiter().GetResult();
        var data = Cifar10.Load(directory, new Cifar10Options { Subset = options.Subset, TestSubset = options.TestSubset, RecordsPerFile = options.RecordsPerFile });
        view.Info($"[grey]CIFAR-10 from {directory}: {data.Train.Count:N0} training and {data.Test.Count:N0} test images[/]");
        return data;
    }

    private static void WriteCharts(string folder, IReadOnlyList<GenerationRecord> records)
    {
        if (records.Count == 0)
        {
            return;
        }

        double[] x = [.. records.Select(static r => (double)r.Generation)];
        Charts.Lines(Path.Combine(folder, "loss.png"), "Gadam: validation loss of the surviving population", "generation", "cross-entropy (selection batch)",
        [
            new Charts.Series("best", x, [.. records.Select(static r => r.BestLoss)]),
            new Charts.Series("mean", x, [.. records.Select(static r => r.MeanLoss)]),
        ]);
        if (records.All(static r => r.TestAccuracy is not null))
        {
            Charts.Lines(Path.Combine(folder, "accuracy.png"), "Gadam: test accuracy of the best member", "generation", "test accuracy",
                [new Charts.Series("best member", x, [.. records.Select(static r => r.TestAccuracy!.Value)])]);
        }
    }
}

/// <summary>What <c>result.json</c> and <c>--json</c> hold.</summary>
/// <param name="Name">Run name (the output folder's name).</param>
/// <param name="Options">The options.</param>
/// <param name="Ranks">MPI processes.</param>
/// <param name="PopulationHash">XxHash3 of every member's parameters, in population order: equal hashes, equal bits.</param>
/// <param name="Generations">Generations completed.</param>
/// <param name="Converged">Stopped by eq. 50.</param>
/// <param name="BytesSent">Bytes sent between processes over the run, all ranks together.</param>
/// <param name="ImagesPerSecond">Mean training throughput per generation, all members together.</param>
/// <param name="Seconds">Wall time of the generations run by this invocation and those before a resume.</param>
/// <param name="History">Every generation.</param>
internal sealed record GadamResult(string Name, GadamOptions Options, int Ranks, string PopulationHash, int Generations, bool Converged, long BytesSent, double ImagesPerSecond, double Seconds, IReadOnlyList<GenerationRecord> History);

/// <summary>metrics.jsonl: a header line with the options, then one line per generation (a resumed run drops lines past its checkpoint).</summary>
internal sealed class GadamMetrics : IDisposable
{
    private readonly StreamWriter _writer;
    private static readonly JsonSerializerOptions Line = new(Json.Options) { WriteIndented = false };

    private GadamMetrics(StreamWriter writer) => _writer = writer;

    public static GadamMetrics Open(string folder, GadamRun run, IReadOnlyList<GenerationRecord> kept)
    {
        Directory.CreateDirectory(folder);
        var writer = new StreamWriter(Path.Combine(folder, "metrics.jsonl"), append: false) { AutoFlush = true };
        writer.WriteLine(JsonSerializer.Serialize(new { run = run.Options, parameters = run.ParameterCount }, Line));
        var metrics = new GadamMetrics(writer);
        foreach (var record in kept)
        {
            metrics.Write(record);
        }

        return metrics;
    }

    /// <summary>The generation records of an earlier run, up to (not including) generation <paramref name="before"/>.</summary>
    public static IReadOnlyList<GenerationRecord> Read(string path, int before)
    {
        if (!File.Exists(path))
        {
            return [];
        }

        var records = new List<GenerationRecord>();
        foreach (string line in File.ReadLines(path))
        {
            using var doc = JsonDocument.Parse(line);
            if (doc.RootElement.TryGetProperty("generation", out _) && doc.RootElement.Deserialize<GenerationRecord>(Line) is { } r && r.Generation < before)
            {
                records.Add(r);
            }
        }

        return records;
    }

    public void Write(GenerationRecord record) => _writer.WriteLine(JsonSerializer.Serialize(record, Line));

    public void Dispose() => _writer.Dispose();
}

/// <summary>Console output of rank 0: informational lines and one line per generation (stderr under --json).</summary>
internal sealed class GadamView(CliContext context, bool speaks, bool json)
{
    public void Info(FormattableString markup)
    {
        if (!speaks)
        {
            return;
        }

        if (json)
        {
            // Numbers keep their format specifiers; text arguments are escaped so that removing the markup leaves them intact.
            var args = markup.GetArguments().Select(static a => a is IFormattable ? a : Markup.Escape(Convert.ToString(a, CultureInfo.InvariantCulture) ?? "")).ToArray();
            context.Error.WriteLine(Markup.Remove(string.Format(CultureInfo.InvariantCulture, markup.Format, args)));
        }
        else
        {
            context.Console.MarkupLineInterpolated(markup);
        }
    }

    public void Generation(GenerationRecord r)
    {
        string pairs = string.Join(" ", r.Pairs.Select(static p => $"{p.First}×{p.Second}"));
        long mutated = r.Pairs.Sum(static p => p.Mutated);
        string test = r.TestAccuracy is { } acc ? $" | test acc {acc:P2}" : "";
        Info($"generation {r.Generation,3}: fitness [[{string.Join(", ", r.FitnessLosses.Select(static l => l.ToString("0.000", CultureInfo.InvariantCulture)))}]] | pairs {pairs} | mutated {mutated:N0} | best {r.BestLoss:0.0000} mean {r.MeanLoss:0.0000}{test} | {r.ImagesPerSecond:N0} img/s | {r.BytesSent:N0} B sent{(r.Converged ? " | converged" : "")}");
    }
}

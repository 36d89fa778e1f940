using System;
using System.CommandLine;
using System.IO;
using System.Linq;
using FusedOpt.Models.Training;
using Spectre.Console;

namespace FusedOpt.Cli.Commands;

/// <summary>
/// <c>fusedopt train</c>: trains a model on CIFAR-10 with one optimizer; metrics as JSONL, a checkpoint per epoch,
/// loss/accuracy PNGs and result.json under --out; <c>--resume</c> continues a run bit for bit. Exit codes: 0 done,
/// 1 the run diverged (a non-finite loss, without --keep-going), 2 bad usage or input.
/// </summary>
internal static class TrainCommand
{
    public static Command Create(CliContext context)
    {
        var set = new TrainOptionSet();
        var optimizer = new Option<string>("--optimizer") { Description = "Optimizer name (see fusedopt list).", DefaultValueFactory = static _ => "adam" };
        var lr = new Option<double?>("--lr") { Description = "Learning rate (default: the optimizer's)." };
        var naive = new Option<bool>("--naive") { Description = "Step with the naive multi-pass baseline (same results, slower)." };
        var output = new Option<string?>("--out") { Description = "Output folder (default runs/<optimizer>)." };
        var resume = new Option<string?>("--resume")
        {
            Description = "Continue the run in this folder (or from this checkpoint file). --epochs, --threads, --isa, --naive, --keep-going and --data may change; other options (--state included) must match the checkpoint.",
        };
        var json = new Option<bool>("--json") { Description = "Print the result as JSON." };
        var command = new Command("train", "Train on CIFAR-10 with one optimizer: progress, JSONL metrics, checkpoints, PNG curves.") { optimizer, lr, naive, output, resume, json };
        set.AddTo(command);
        command.SetAction(parse => context.Guard(() =>
        {
            bool quiet = parse.GetValue(json);
            var runner = new TrainingRunner(context, quiet);
            TrainingRun run;
            bool finished = false;
            if (parse.GetValue(resume) is { } from)
            {
                string checkpoint = Path.GetFullPath(Directory.Exists(from) ? Path.Combine(from, Checkpoint.FileName) : from);
                string folder = Path.GetDirectoryName(checkpoint)!;
                if (parse.GetValue(output) is { } outFolder && Path.GetFullPath(outFolder).TrimEnd(Path.DirectorySeparatorChar) != folder)
                {
                    throw new ArgumentException($"--out {outFolder}: a resumed run continues in its own folder, {folder}.");
                }

                var contents = Checkpoint.Read(checkpoint);
                var saved = contents.Header.Options;
                var options = set.Build(
                    parse,
                    TrainOptionSet.Given(parse, optimizer) ? parse.GetValue(optimizer)! : saved.Optimizer,
                    parse.GetValue(lr),
                    TrainOptionSet.Given(parse, naive) ? parse.GetValue(naive) : saved.StepMode == StepMode.Naive,
                    saved);

                string? data = parse.GetValue(set.Data);
                if (data is null && TrainingRun.RememberedDataFolder(contents, checkpoint) is { } remembered)
                {
                    data = remembered;
                    runner.Info($"[grey]data: {remembered} (the folder the run trained on)[/]");
                }
                else if (data is not null && contents.Header.DataFolder is { } old && Path.GetFullPath(data) != old)
                {
                    runner.Info($"[grey]data: {Path.GetFullPath(data)} (the run trained on {old}; the images must be the same)[/]");
                }

                var dataset = runner.LoadData(data, options);
                run = TrainingRun.Resume(dataset, checkpoint, contents, options);
                finished = run.Trainer.Epoch >= run.Trainer.Options.Epochs;
                runner.Info($"resuming {checkpoint} after epoch {run.Trainer.Epoch} ({run.Trainer.Iteration} steps), up to epoch {run.Trainer.Options.Epochs}; states: {States(run.Trainer)}");
            }
            else
            {
                var options = set.Build(parse, parse.GetValue(optimizer)!, parse.GetValue(lr), parse.GetValue(naive));
                var data = runner.LoadData(parse.GetValue(set.Data), options);
                string folder = Path.GetFullPath(parse.GetValue(output) ?? Path.Combine("runs", options.Optimizer));
                run = TrainingRun.Start(data, options, Path.GetFileName(folder), folder);
                runner.Info($"{ModelLabel(options)}, {run.Trainer.Arena.ParameterCount:N0} parameters; {run.Trainer.Optimizer}{(options.StepInBackward ? ", stepped inside backward" : "")}; states: {States(run.Trainer)}");
            }

            using (run)
            {
                var result = runner.Run(run, quiet);
                if (quiet)
                {
                    context.WriteRaw(Json.Serialize(result));
                }

                if (result.Diverged is { } message)
                {
                    context.Error.WriteLine(message);
                    return 1;
                }

                if (quiet)
                {
                    return 0;
                }

                if (finished)
                {
                    context.Console.MarkupLineInterpolated($"the run had already finished its {run.Trainer.Options.Epochs} epochs; pass a larger --epochs to continue it");
                }
                else
                {
                    context.Console.MarkupLineInterpolated(
                        $"final test accuracy [bold]{result.FinalTestAccuracy:P2}[/] on {result.Epochs[^1].Test.Images:N0} test images; outputs in {run.Folder}");
                }
            }

            return 0;
        }));
        return command;
    }

    /// <summary>
    /// The states as the header line names them (<see cref="TrainOptions.StatesLabel"/>); with q8, also how many of the
    /// model's tensors and parameters are under the threshold and keep fp32 states.
    /// </summary>
    internal static string States(Trainer trainer)
    {
        var options = trainer.Options;
        if (options.StateStorage != FusedOpt.Storage.StateStorage.Q8 || options.Q8MinElements == 0)
        {
            return options.StatesLabel();
        }

        var tensors = trainer.Arena.Tensors;
        var small = tensors.Where(t => t.Length < options.Q8MinElements).ToList();
        return string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"{options.StatesLabel()}: {small.Count} of {tensors.Count} tensors, {small.Sum(static t => t.Length):N0} of {trainer.Arena.ParameterCount:N0} parameters, keep fp32 states");
    }

    /// <summary>The model as the summary line names it: the FCN with its hidden widths, a scaled model with its width.</summary>
    private static string ModelLabel(TrainOptions options) =>
        ModelCatalog.Get(options.Model).ScalesWithWidth
            ? string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{options.Model} (width {options.Width})")
            : $"{options.Model} [{string.Join("×", options.Hidden)}]";
}

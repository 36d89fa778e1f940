using System.CommandLine;
using System.IO;
using FusedOpt.Models.Training;
using Spectre.Console;

namespace FusedOpt.Cli.Commands;

/// <summary>
/// <c>fusedopt train</c>: trains a model on CIFAR-10 with one optimizer; metrics as JSONL, a checkpoint per epoch,
/// loss/accuracy PNGs and result.json under --out; <c>--resume</c> continues a run bit for bit.
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
        var resume = new Option<string?>("--resume") { Description = "Continue the run in this folder (or from this checkpoint file); --epochs may extend it." };
        var json = new Option<bool>("--json") { Description = "Print the result as JSON." };
        var command = new Command("train", "Train on CIFAR-10 with one optimizer: progress, JSONL metrics, checkpoints, PNG curves.") { optimizer, lr, naive, output, resume, json };
        set.AddTo(command);
        command.SetAction(parse => context.Guard(() =>
        {
            var runner = new TrainingRunner(context, quiet: parse.GetValue(json));
            Trainer trainer;
            string name;
            string? folder = parse.GetValue(output);
            if (parse.GetValue(resume) is { } from)
            {
                string checkpoint = Directory.Exists(from) ? Path.Combine(from, "checkpoint.fopt") : from;
                var (header, _) = Checkpoint.Read(checkpoint);
                var data = runner.LoadData(parse.GetValue(set.Data), header.Options);

                int? epochs = parse.GetResult(set.Epochs) is { Implicit: false } ? parse.GetValue(set.Epochs) : null;
                trainer = Trainer.Resume(data, checkpoint, epochs);
                folder ??= Path.GetDirectoryName(Path.GetFullPath(checkpoint));
                name = Path.GetFileName(folder!);
                runner.Info($"resuming {checkpoint} after epoch {trainer.Epoch} ({trainer.Iteration} steps), up to epoch {trainer.Options.Epochs}");
            }
            else
            {
                var options = set.Build(parse, parse.GetValue(optimizer)!, parse.GetValue(lr), parse.GetValue(naive));
                var data = runner.LoadData(parse.GetValue(set.Data), options);
                trainer = new Trainer(data, options);
                folder ??= Path.Combine("runs", options.Optimizer);
                name = Path.GetFileName(Path.GetFullPath(folder));
                runner.Info($"{options.Model} [[{string.Join("×", options.Hidden)}]], {trainer.Arena.ParameterCount:N0} parameters; {trainer.Optimizer}");
            }

            using (trainer)
            {
                var result = runner.Run(trainer, name, folder, quiet: parse.GetValue(json));
                if (parse.GetValue(json))
                {
                    context.WriteRaw(Json.Serialize(result));
                }
                else if (result.Epochs.Count == 0)
                {
                    context.Console.MarkupLineInterpolated($"the run had already finished its {trainer.Options.Epochs} epochs; pass a larger --epochs to continue it");
                }
                else
                {
                    context.Console.MarkupLineInterpolated(
                        $"final test accuracy [bold]{result.FinalTestAccuracy:P2}[/] on {result.Epochs[^1].Test.Images:N0} test images; outputs in {Path.GetFullPath(folder!)}");
                }
            }

            return 0;
        }));
        return command;
    }
}

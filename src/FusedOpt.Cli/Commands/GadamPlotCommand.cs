using System;
using System.Collections.Generic;
using System.CommandLine;
using System.IO;
using System.Linq;
using System.Text.Json;
using Spectre.Console;

namespace FusedOpt.Cli.Commands;

/// <summary>
/// <c>fusedopt gadam plot</c>: Gadam runs against Adam runs at equal gradient evaluations. The x axis counts epochs of
/// gradient evaluations over the training set: generation k of a Gadam run has used 2·g·E·(k + 1) (g parents and g
/// children, E epochs each); an Adam run, its epoch count. Reads each folder's result.json (fusedopt gadam or train).
/// </summary>
internal static class GadamPlotCommand
{
    public static Command Create(CliContext context)
    {
        var runs = new Argument<string[]>("runs") { Description = "Run folders (each with result.json from gadam or train).", Arity = ArgumentArity.OneOrMore };
        var output = new Option<string>("--out") { Description = "Path prefix of the PNGs: PREFIX-accuracy.png and PREFIX-loss.png.", DefaultValueFactory = static _ => "gadam" };
        var command = new Command("plot", "Plot Gadam and Adam runs against gradient evaluations (test accuracy and test loss).") { runs, output };
        command.SetAction(parse => context.Guard(() =>
        {
            var accuracy = new List<Charts.Series>();
            var loss = new List<Charts.Series>();
            foreach (string folder in parse.GetValue(runs)!)
            {
                string path = Path.Combine(folder, "result.json");
                if (!File.Exists(path))
                {
                    throw new FileNotFoundException($"gadam plot: {path} does not exist; expected a folder written by fusedopt gadam or fusedopt train.", path);
                }

                using var doc = JsonDocument.Parse(File.ReadAllText(path));
                var root = doc.RootElement;
                string name = Path.GetFileName(Path.GetFullPath(folder));
                var (x, acc, testLoss) = root.TryGetProperty("populationHash", out _) ? Gadam(root) : Adam(root);
                accuracy.Add(new Charts.Series(name, x, acc));
                loss.Add(new Charts.Series(name, x, testLoss));
            }

            string prefix = parse.GetValue(output)!;
            Charts.Lines(prefix + "-accuracy.png", "Test accuracy at equal gradient evaluations", "epochs of gradient evaluations", "test accuracy (Gadam: best member)", accuracy);
            Charts.Lines(prefix + "-loss.png", "Test loss at equal gradient evaluations", "epochs of gradient evaluations", "test cross-entropy (Gadam: best member)", loss);
            context.Console.WriteLine($"wrote {prefix}-accuracy.png and {prefix}-loss.png");
            return 0;
        }));
        return command;
    }

    private static (double[] X, double[] Accuracy, double[] Loss) Gadam(JsonElement root)
    {
        var options = root.GetProperty("options");
        double perGeneration = 2.0 * options.GetProperty("population").GetInt32() * options.GetProperty("epochsPerGeneration").GetInt32();
        var history = root.GetProperty("history").EnumerateArray().Where(static h => h.GetProperty("testAccuracy").ValueKind == JsonValueKind.Number).ToList();
        return (
            [.. history.Select(h => perGeneration * (h.GetProperty("generation").GetInt32() + 1))],
            [.. history.Select(static h => h.GetProperty("testAccuracy").GetDouble())],
            [.. history.Select(static h => h.GetProperty("testLoss").GetDouble())]);
    }

    private static (double[] X, double[] Accuracy, double[] Loss) Adam(JsonElement root)
    {
        var (epochs, accuracy, loss, _) = PlotCommand.Epochs(root);
        return (epochs, accuracy, loss);
    }
}

using System.CommandLine;
using System.Linq;
using Spectre.Console;

namespace FusedOpt.Cli.Commands;

/// <summary><c>fusedopt list</c>: the optimizers and their hyperparameters with defaults and ranges.</summary>
internal static class ListCommand
{
    public static Command Create(CliContext context)
    {
        var json = new Option<bool>("--json") { Description = "Print JSON instead of a table." };
        var command = new Command("list", "List the optimizers, their hyperparameters (defaults, ranges), states and switches.") { json };
        command.SetAction(parse => context.Guard(() =>
        {
            var all = OptimizerCatalog.All;
            if (parse.GetValue(json))
            {
                context.WriteRaw(Json.Serialize(all.Select(static d => new
                {
                    d.Name,
                    d.Torch,
                    d.Summary,
                    Hyperparameters = d.Hyperparameters.Select(static h => new { h.Name, pytorch = h.SnakeName, kind = h.Kind.ToString().ToLowerInvariant(), @default = h.Default, range = h.RangeText }),
                    States = d.States.Select(static s => s.Name),
                    StepStates = d.StepStates.Select(static s => s.Name),
                    d.Switches,
                    d.IsVectorized,
                })));
                return 0;
            }

            // One row per hyperparameter keeps the table readable at 80 columns.
            var table = new Table().Border(TableBorder.Rounded).Title("FusedOpt optimizers");
            table.AddColumn("optimizer");
            table.AddColumn("hyperparameter");
            table.AddColumn(new TableColumn("default").RightAligned());
            table.AddColumn("range");
            foreach (var d in all)
            {
                string states = string.Join(", ", d.States.Select(static s => s.Name).Concat(d.StepStates.Select(static s => s.Name + " (per step)")));
                var heading = new Markup($"[bold]{Markup.Escape(d.Name)}[/]" + (d.Torch is null ? "" : $"\n[grey]torch.optim.{Markup.Escape(d.Torch)}[/]")
                    + (states.Length == 0 ? "" : $"\n[grey]states: {Markup.Escape(states)}[/]"));
                for (int i = 0; i < d.Hyperparameters.Count; i++)
                {
                    var h = d.Hyperparameters[i];
                    table.AddRow(i == 0 ? heading : new Text(""), new Text(h.SnakeName), new Text(h.FormatValue(h.Default)), new Text(h.RangeText));
                }

                table.AddEmptyRow();
            }

            context.Console.Write(table);
            return 0;
        }));
        return command;
    }
}

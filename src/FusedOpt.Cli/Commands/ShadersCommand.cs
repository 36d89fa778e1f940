using System.CommandLine;
using System.Globalization;
using System.IO;
using System.Linq;
using Spectre.Console;

namespace FusedOpt.Cli.Commands;

/// <summary>
/// <c>fusedopt shaders [--optimizer NAME] --out DIR</c>: writes the generated HLSL compute shaders as
/// <c>NAME.FLAGS.hlsl</c>, one file for every switch combination the rule defines (FLAGS from 0 to
/// 2^(switches + 1) − 1, bit 0 the gradient scale), for one optimizer or every optimizer in the catalogue.
/// </summary>
internal static class ShadersCommand
{
    public static Command Create(CliContext context)
    {
        var optimizer = new Option<string?>("--optimizer") { Description = "The optimizer (fusedopt list); every optimizer when omitted." };
        var output = new Option<string>("--out") { Description = "Directory the .hlsl files are written to (created when missing).", Required = true };
        var command = new Command("shaders", "Write the generated HLSL compute shaders (one per switch combination) as NAME.FLAGS.hlsl.") { optimizer, output };
        command.SetAction(parse => context.Guard(() =>
        {
            string? name = parse.GetValue(optimizer);
            string dir = parse.GetValue(output) ?? throw new UsageException("--out: a directory is required");
            if (dir.Trim().Length == 0)
            {
                throw new UsageException("--out: expected a directory, got an empty value");
            }

            if (File.Exists(dir))
            {
                throw new UsageException($"--out: '{dir}' is a file; expected a directory");
            }

            var descriptors = name is null ? OptimizerCatalog.All : [OptimizerCatalog.Get(name)];
            if (name is not null && descriptors[0].Hlsl(0) is null)
            {
                throw new UsageException($"--optimizer: '{descriptors[0].Name}' has no HLSL shaders (its rule has too many switches: FOPT024)");
            }

            Directory.CreateDirectory(dir);
            int files = 0;
            foreach (var d in descriptors)
            {
                int combinations = 1 << (d.Switches.Count + 1);
                if (d.Hlsl(0) is null)
                {
                    context.Console.WriteLine($"{d.Name}: no HLSL shaders ({d.Switches.Count} switches; FOPT024), skipped");
                    continue;
                }

                for (int flags = 0; flags < combinations; flags++)
                {
                    var shader = d.Hlsl(flags)!;
                    File.WriteAllText(Path.Combine(dir, d.Name + "." + flags.ToString(CultureInfo.InvariantCulture) + ".hlsl"), shader.Source);
                    files++;
                }

                string switches = d.Switches.Count == 0 ? "no switches" : "switches: " + string.Join(", ", d.Switches.Select(static (s, i) => $"bit {i + 1} {s}"));
                context.Console.WriteLine($"{d.Name}: {combinations} shaders (bit 0 gradient scale; {switches})");
            }

            context.Console.WriteLine($"{files} files written to {Path.GetFullPath(dir)}");
            return 0;
        }));
        return command;
    }
}

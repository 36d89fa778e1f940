using System;
using System.CommandLine;
using System.IO;
using FusedOpt.Cli.Commands;
using Spectre.Console;

namespace FusedOpt.Cli;

/// <summary>
/// Builds the command tree. Each command is one class under Commands/ that parses its options, calls the library and
/// renders the result; long work shows Spectre.Console progress, and every command that produces numbers has --json.
/// </summary>
public static class CliApp
{
    /// <summary>Runs the command line with the given console (tests pass a recording one).</summary>
    public static int Run(string[] args, IAnsiConsole? console = null, TextWriter? error = null)
    {
        var context = new CliContext(console ?? AnsiConsole.Console, error ?? Console.Error);
        var root = new RootCommand("FusedOpt: optimizers declared as update rules, compiled into fused CPU and GPU kernels.");
        root.Subcommands.Add(ListCommand.Create(context));
        root.Subcommands.Add(ReplayCommand.Create(context));
        root.Subcommands.Add(DevicesCommand.Create(context));
        var bench = new Command("bench", "Benchmarks: optimizer steps against memory probes, GEMM, training throughput.");
        bench.Subcommands.Add(BenchStepCommand.Create(context));
        bench.Subcommands.Add(BenchSweepCommand.Create(context));
        bench.Subcommands.Add(BenchGemmCommand.Create(context));
        bench.Subcommands.Add(BenchTrainCommand.Create(context));
        root.Subcommands.Add(TrainCommand.Create(context));
        root.Subcommands.Add(CompareCommand.Create(context));
        root.Subcommands.Add(GradcheckCommand.Create(context));
        root.Subcommands.Add(CheckModelCommand.Create(context));
        root.Subcommands.Add(bench);

        var parse = root.Parse(args);
        return parse.Invoke(new InvocationConfiguration { Output = context.Console.Profile.Out.Writer, Error = context.Error });
    }
}

/// <summary>Where a command writes: the (possibly recording) console and the error stream.</summary>
/// <param name="Console">Tables, progress and text.</param>
/// <param name="Error">Error messages.</param>
public sealed record CliContext(IAnsiConsole Console, TextWriter Error)
{
    /// <summary>Writes raw text (JSON) without markup processing or wrapping.</summary>
    public void WriteRaw(string text) => Console.Profile.Out.Writer.WriteLine(text);

    /// <summary>
    /// Runs a command body: known input errors (bad values, files, names) print one line naming the problem and exit
    /// with 2; anything else is a bug and propagates with its stack trace.
    /// </summary>
    public int Guard(Func<int> body)
    {
        try
        {
            return body();
        }
        catch (Exception e) when (e is ArgumentException or FormatException or IOException or System.Collections.Generic.KeyNotFoundException
                                      or PlatformNotSupportedException or UnauthorizedAccessException or InvalidDataException)
        {
            Error.WriteLine("error: " + e.Message);
            return 2;
        }
    }
}

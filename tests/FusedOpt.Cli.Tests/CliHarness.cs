using System.IO;
using FusedOpt.Cli;
using Spectre.Console;

namespace FusedOpt.Tests;

/// <summary>Runs the <c>fusedopt</c> command in-process with a recording console.</summary>
internal static class CliHarness
{
    public sealed record Result(int ExitCode, string Output, string Error);

    public static Result Run(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = AnsiSupport.No,
            ColorSystem = ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.No,
            Out = new AnsiConsoleOutput(output),
        });
        console.Profile.Width = 200;
        int code = CliApp.Run(args, console, error);
        return new Result(code, output.ToString(), error.ToString());
    }
}

namespace FusedOpt.Cli;

/// <summary>Entry point of the <c>fusedopt</c> command.</summary>
public static class Program
{
    /// <summary>Parses the command line and runs the chosen command.</summary>
    public static int Main(string[] args) => CliApp.Run(args);
}

namespace FusedOpt.Cli;

/// <summary>Entry point of the <c>fusedopt</c> command.</summary>
public static class Program
{
    /// <summary>Parses the command line and runs the chosen command.</summary>
    public static int Main(string[] args)
    {
        // Numbers on the command line and in every output are culture-invariant: "1.5" means one and a half everywhere.
        System.Globalization.CultureInfo.CurrentCulture = System.Globalization.CultureInfo.InvariantCulture;
        System.Globalization.CultureInfo.CurrentUICulture = System.Globalization.CultureInfo.InvariantCulture;
        return CliApp.Run(args);
    }
}

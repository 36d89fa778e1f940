using System.CommandLine;

namespace FusedOpt.Cli;

/// <summary>Builds the command tree; each command lives in its own class under Commands/.</summary>
internal static class CliApp
{
    public static int Run(string[] args)
    {
        var root = new RootCommand("FusedOpt: optimizers declared as update rules, compiled to fused kernels.");
        return root.Parse(args).Invoke();
    }
}

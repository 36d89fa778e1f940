using BenchmarkDotNet.Running;

namespace FusedOpt.Bench;

/// <summary>
/// <c>dotnet run -c Release --project bench/FusedOpt.Bench -- --filter '*Adam*'</c>; add <c>--job short</c> for a run of a
/// few minutes. See docs/benchmarks.md.
/// </summary>
public static class Program
{
    public static void Main(string[] args) => BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args, new BenchConfig());
}

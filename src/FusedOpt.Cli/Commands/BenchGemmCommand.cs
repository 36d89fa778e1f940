using System.CommandLine;
using System.Globalization;
using FusedOpt.Kernels;
using FusedOpt.Models.Linalg;
using Spectre.Console;

namespace FusedOpt.Cli.Commands;

/// <summary><c>fusedopt bench gemm</c>: GFLOP/s of our SGEMM and the fraction of this machine's FMA peak, probed in the same run.</summary>
internal static class BenchGemmCommand
{
    public static Command Create(CliContext context)
    {
        var m = new Option<int>("--m") { Description = "Rows of C.", DefaultValueFactory = static _ => 1024 };
        var n = new Option<int>("--n") { Description = "Columns of C.", DefaultValueFactory = static _ => 1024 };
        var k = new Option<int>("--k") { Description = "Inner dimension.", DefaultValueFactory = static _ => 1024 };
        var threads = new Option<int>("--threads") { Description = "Threads.", DefaultValueFactory = static _ => System.Math.Min(2, System.Environment.ProcessorCount) };
        var transA = new Option<string>("--trans-a") { Description = "op(A): n or t.", DefaultValueFactory = static _ => "n" };
        var transB = new Option<string>("--trans-b") { Description = "op(B): n or t.", DefaultValueFactory = static _ => "n" };
        var isa = new Option<string?>("--isa") { Description = "avx512, avx2, scalar or auto." };
        var json = new Option<bool>("--json") { Description = "Print JSON." };
        var command = new Command("gemm", "GFLOP/s of the packed SGEMM against the FMA peak measured in the same run.") { m, n, k, threads, transA, transB, isa, json };
        command.SetAction(parse => context.Guard(() =>
        {
            foreach (var (name, value) in new[] { ("--m", parse.GetValue(m)), ("--n", parse.GetValue(n)), ("--k", parse.GetValue(k)) })
            {
                CliContext.Require(name, value, 1);
            }

            var options = new GemmBenchOptions
            {
                TransA = ParseTranspose(parse.GetValue(transA)!, "--trans-a"),
                TransB = ParseTranspose(parse.GetValue(transB)!, "--trans-b"),
                Isa = IsaSupport.Parse(parse.GetValue(isa), "--isa"),
            };
            var r = GemmBenchmark.Run(parse.GetValue(m), parse.GetValue(n), parse.GetValue(k), ReplayCommand.CheckThreads(parse.GetValue(threads)), options);
            if (parse.GetValue(json))
            {
                context.WriteRaw(Json.Serialize(r));
                return 0;
            }

            context.Console.MarkupLineInterpolated($"sgemm {r.M}×{r.N}×{r.K}, op(A)={r.TransA}, op(B)={r.TransB}, {r.Threads} thread(s), {r.Isa}, blocking {r.Blocking}");
            context.Console.MarkupLineInterpolated(
                $"[bold]{Rate(r.Gflops)} GFLOP/s[/] (best of {r.Repeats}; median {Rate(2.0 * r.M * r.N * r.K / r.MedianSeconds / 1e9)}) = [bold]{r.FractionOfPeak:P1}[/] of the measured FMA peak {r.PeakGflops.ToString("0.0", CultureInfo.InvariantCulture)} GFLOP/s");
            return 0;
        }));
        return command;
    }

    /// <summary>One decimal, or three significant digits below 1 (a tiny product runs at a small fraction of a GFLOP/s).</summary>
    private static string Rate(double gflops) => gflops.ToString(gflops < 1 ? "0.###" : "0.0", CultureInfo.InvariantCulture);

    private static Transpose ParseTranspose(string text, string option) => text.Trim().ToLowerInvariant() switch
    {
        "n" or "no" => Transpose.N,
        "t" or "yes" => Transpose.T,
        _ => throw new System.ArgumentException($"{option} '{text}': expected n or t."),
    };
}

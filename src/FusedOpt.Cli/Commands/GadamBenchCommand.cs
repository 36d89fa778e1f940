using System;
using System.Collections.Generic;
using System.CommandLine;
using System.Diagnostics;
using System.Linq;
using System.Threading.Tasks;
using FusedOpt.Kernels;
using FusedOpt.Models.Gadam;
using FusedOpt.Threading;
using Spectre.Console;

namespace FusedOpt.Cli.Commands;

/// <summary>
/// <c>fusedopt gadam bench</c>: times the fused crossover + mutation pass (one child from two parents over d elements)
/// on each instruction set, one thread and several, as ns per element and GB/s over the 12 bytes an element moves
/// (two parent floats read, one child float written).
/// </summary>
internal static class GadamBenchCommand
{
    /// <summary>One measurement.</summary>
    /// <param name="Isa">Instruction set.</param>
    /// <param name="Threads">Threads.</param>
    /// <param name="NanosecondsPerElement">Best of the repeats.</param>
    /// <param name="GigabytesPerSecond">12 bytes per element over that time.</param>
    /// <param name="SpeedupOverScalar">Against the scalar path on one thread.</param>
    internal sealed record Row(string Isa, int Threads, double NanosecondsPerElement, double GigabytesPerSecond, double SpeedupOverScalar);

    public static Command Create(CliContext context)
    {
        var size = new Option<int>("--size") { Description = "Elements per child (default: the FCN's 2,042,512).", DefaultValueFactory = static _ => 2_042_512 };
        var threads = new Option<int>("--threads") { Description = "Threads of the multithreaded runs.", DefaultValueFactory = static _ => Math.Min(2, Environment.ProcessorCount) };
        var repeat = new Option<int>("--repeat") { Description = "Repeats; the best is reported.", DefaultValueFactory = static _ => 10 };
        var json = new Option<bool>("--json") { Description = "Print the rows as JSON." };
        var command = new Command("bench", "Time the fused crossover + mutation pass per instruction set and thread count.") { size, threads, repeat, json };
        command.SetAction(parse => context.Guard(() =>
        {
            int n = parse.GetValue(size), t = ReplayCommand.CheckThreads(parse.GetValue(threads)), r = parse.GetValue(repeat);
            if (n < 1 || r < 1)
            {
                throw new ArgumentException($"gadam bench: --size and --repeat must be ≥ 1, got {n} and {r}.");
            }

            var first = Enumerable.Range(0, n).Select(static i => (float)i).ToArray();
            var second = Enumerable.Range(0, n).Select(static i => -(float)i).ToArray();
            var child = new float[n];
            var plan = new ChildPlan(1, 0, 0, GadamMath.Threshold24(0.6), GadamMath.Threshold24(0.005));
            var value = new MutationValue(MutationDraw.SymmetricUniform, 0.04f);
            var rows = new List<Row>();
            double scalar = 0;
            foreach (var isa in new[] { Isa.Scalar, Isa.Avx2, Isa.Avx512 }.Where(IsaSupport.IsSupported))
            {
                foreach (int parts in t == 1 ? new[] { 1 } : new[] { 1, t })
                {
                    double best = double.MaxValue;
                    for (int k = 0; k <= r; k++)
                    {
                        var clock = Stopwatch.StartNew();
                        Parallel.For(0, parts, new ParallelOptions { MaxDegreeOfParallelism = parts }, part =>
                        {
                            var (s, e) = Partition.Of(n, part, parts);
                            GeneticOps.Apply(first.AsSpan((int)s, (int)(e - s)), second.AsSpan((int)s, (int)(e - s)), child.AsSpan((int)s, (int)(e - s)), s, value, plan, isa);
                        });
                        if (k > 0)
                        {
                            best = Math.Min(best, clock.Elapsed.TotalSeconds); // the first run warms up
                        }
                    }

                    scalar = isa == Isa.Scalar && parts == 1 ? best : scalar;
                    rows.Add(new Row(IsaSupport.Name(isa), parts, best * 1e9 / n, 12.0 * n / best / 1e9, scalar / best));
                }
            }

            if (parse.GetValue(json))
            {
                context.WriteRaw(Json.Serialize(rows));
                return 0;
            }

            var table = new Table().AddColumns("isa", "threads", "ns/element", "GB/s (12 B/element)", "× scalar");
            foreach (var row in rows)
            {
                table.AddRow(row.Isa, row.Threads.ToString(System.Globalization.CultureInfo.InvariantCulture), $"{row.NanosecondsPerElement:0.00}", $"{row.GigabytesPerSecond:0.0}", $"{row.SpeedupOverScalar:0.0}");
            }

            context.Console.MarkupLineInterpolated($"fused crossover + mutation, {n:N0} elements, best of {r}");
            context.Console.Write(table);
            return 0;
        }));
        return command;
    }
}

using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;
using FusedOpt.Kernels;
using FusedOpt.Memory;
using FusedOpt.Storage;

namespace FusedOpt.Benchmarks;

/// <summary>What <see cref="StepBenchmark.Run(StepBenchOptions, IProgress{string})"/> measures.</summary>
/// <param name="Optimizer">Catalogue name.</param>
/// <param name="Size">Parameters.</param>
/// <param name="Threads">Threads for every variant and probe.</param>
/// <param name="Isa">Instruction set of the fused variant; null for the best.</param>
/// <param name="Rounds">Measurement rounds; variants are interleaved round by round and the best round counts.</param>
/// <param name="SecondsPerRound">Approximate time spent per variant per round.</param>
/// <param name="Tensors">Split the parameters into this many tensors in one arena (the multi-tensor case).</param>
/// <param name="Hyperparameters">Hyperparameters other than the defaults.</param>
/// <param name="Storage">How the optimizers store their states (every variant: fused, naive and scalar).</param>
/// <param name="StochasticRounding">bf16 states: round stochastically (rounding seed 1).</param>
/// <param name="Q8MinElements">q8 states: tensors with fewer elements keep float32 states (<see cref="OptimizerOptions.Q8MinElements"/>).</param>
/// <param name="Q8KeepPositive">q8 states: a positive value of an unsigned-map state is never coded 0 (<see cref="OptimizerOptions.Q8KeepPositive"/>).</param>
internal sealed record StepBenchOptions(
    string Optimizer,
    long Size,
    int Threads,
    Isa? Isa = null,
    int Rounds = 5,
    double SecondsPerRound = 0.1,
    int Tensors = 1,
    IReadOnlyDictionary<string, double>? Hyperparameters = null,
    StateStorage Storage = StateStorage.Fp32,
    bool StochasticRounding = false,
    long Q8MinElements = 4096,
    bool Q8KeepPositive = false);

/// <summary>One measured variant.</summary>
/// <param name="Name">e.g. <c>fused avx512</c>, <c>naive</c>, <c>same-traffic probe</c>.</param>
/// <param name="BytesPerParameter">
/// Bytes the variant must move per parameter (reads + writes, no read-for-ownership); with compressed states not a
/// whole number (q8: 1 + 4/256 bytes per element of a state).
/// </param>
/// <param name="BestSeconds">Best time of one call over all rounds.</param>
/// <param name="MedianSeconds">Median over rounds of the mean time per call.</param>
/// <param name="NsPerParameter">Best time per parameter in nanoseconds.</param>
/// <param name="GBps">Bytes moved per second at the best time, in 10⁹ B/s.</param>
internal sealed record BenchVariant(string Name, double BytesPerParameter, double BestSeconds, double MedianSeconds, double NsPerParameter, double GBps);

/// <summary>The machine a benchmark ran on.</summary>
/// <param name="Cpu">CPU model as the OS names it.</param>
/// <param name="LogicalCores">Logical processors.</param>
/// <param name="BestIsa">Widest instruction set available.</param>
/// <param name="Runtime">.NET runtime description.</param>
/// <param name="Os">Operating system description.</param>
internal sealed record MachineInfo(string Cpu, int LogicalCores, string BestIsa, string Runtime, string Os)
{
    /// <summary>This machine.</summary>
    public static MachineInfo Current { get; } = new(CpuName(), Environment.ProcessorCount, IsaSupport.Name(IsaSupport.Best),
        RuntimeInformation.FrameworkDescription, RuntimeInformation.OSDescription);

    private static string CpuName()
    {
        try
        {
            if (File.Exists("/proc/cpuinfo"))
            {
                var line = File.ReadLines("/proc/cpuinfo").FirstOrDefault(static l => l.StartsWith("model name", StringComparison.Ordinal));
                if (line is not null)
                {
                    return line[(line.IndexOf(':', StringComparison.Ordinal) + 1)..].Trim();
                }
            }
        }
        catch (IOException)
        {
        }

        return RuntimeInformation.ProcessArchitecture.ToString();
    }
}

/// <summary>The outcome of <see cref="StepBenchmark.Run(StepBenchOptions, IProgress{string})"/>, with the ratios that matter.</summary>
/// <param name="Options">What was measured.</param>
/// <param name="Machine">Where.</param>
/// <param name="Isa">The fused variant's instruction set.</param>
/// <param name="Fused">The fused step.</param>
/// <param name="Naive">The naive multi-pass step.</param>
/// <param name="Scalar">The fused rule on the scalar path.</param>
/// <param name="SameTraffic">The same-traffic probe (the in-place limit of this step).</param>
/// <param name="Copy">STREAM copy.</param>
/// <param name="Triad">STREAM triad.</param>
/// <param name="NaivePasses">Tensor operations of the naive step.</param>
/// <param name="Operations">Element operations of the rule (every switch on).</param>
/// <param name="OpCosts">Measured vector operation costs of the fused ISA, or null for the scalar path.</param>
internal sealed record StepBenchResult(StepBenchOptions Options, MachineInfo Machine, string Isa, BenchVariant Fused, BenchVariant Naive, BenchVariant Scalar,
    BenchVariant SameTraffic, BenchVariant Copy, BenchVariant Triad, int NaivePasses, ElementOperations Operations, VectorOpCosts? OpCosts)
{
    /// <summary>Fused elements per cycle per core (at the probe's clock), or null without op costs.</summary>
    public double? ElementsPerCycle => OpCosts is null ? null : Options.Size / (Fused.BestSeconds * OpCosts.FrequencyGHz * 1e9) / Options.Threads;

    /// <summary>The rule's arithmetic limit in elements per cycle per core (<see cref="VectorOpCosts.ElementsPerCycleLimit"/>).</summary>
    public double? ArithmeticLimit => OpCosts?.ElementsPerCycleLimit(Operations);

    /// <summary>Fused elements per cycle as a fraction of the arithmetic limit (meaningful when the data fits in cache).</summary>
    public double? FractionOfArithmeticLimit => ElementsPerCycle / ArithmeticLimit;

    /// <summary>How many times faster the fused step is than the naive one.</summary>
    public double SpeedupVsNaive => Naive.BestSeconds / Fused.BestSeconds;

    /// <summary>How many times faster the fused step is than the scalar one.</summary>
    public double SpeedupVsScalar => Scalar.BestSeconds / Fused.BestSeconds;

    /// <summary>Fused throughput as a fraction of the same-traffic probe (1 = at the memory limit).</summary>
    public double FractionOfProbe => SameTraffic.BestSeconds / Fused.BestSeconds;

    /// <summary>
    /// The states as the result names them: <c>fp32</c>, <c>bf16</c>, <c>bf16 (stochastic rounding)</c>, <c>q8</c> or
    /// <c>q8 (keep positive)</c>.
    /// </summary>
    public string States => StateStorages.Name(Options.Storage) + (Options.StochasticRounding ? " (stochastic rounding)" : "") + (Options.Q8KeepPositive ? " (keep positive)" : "");

    /// <summary>
    /// How many times faster this fused step is than the fp32 fused step measured in the same run (fp32 best ÷ this
    /// best; 1 for fp32 itself), or null when the run measured no fp32 step.
    /// </summary>
    public double? SpeedupVsFp32Fused { get; init; }

    /// <summary>
    /// The issue's target for this storage's fused step against the fp32 fused step of the same run (bf16: 1.3×, q8:
    /// 1.5×), or null for fp32.
    /// </summary>
    public double? TargetVsFp32Fused => Options.Storage switch
    {
        StateStorage.Bf16 => 1.3,
        StateStorage.Q8 => 1.5,
        _ => null,
    };

    /// <summary>The issue's target for every storage's fused step against its own same-traffic probe: 0.9.</summary>
    public const double TargetOfProbe = 0.9;
}

/// <summary>
/// Times one optimizer step three ways — fused (widest or forced ISA), naive multi-pass and scalar — on the same
/// parameters and gradients, beside the memory probes, with the same threads, in one run. Variants are interleaved
/// round by round so that a noisy neighbour hurts them alike; the best round counts.
/// </summary>
internal static class StepBenchmark
{
    /// <summary>Runs the benchmark; <paramref name="progress"/> receives what is being measured.</summary>
    public static StepBenchResult Run(StepBenchOptions options, IProgress<string>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        return Run(options, [options.Storage], progress)[0];
    }

    /// <summary>
    /// Runs the benchmark once per storage in <paramref name="storages"/>, in one run: every storage's fused, naive
    /// and scalar steps and its same-traffic probe (moving the compressed bytes; <see cref="MemoryProbes.SameTrafficRegions"/>),
    /// then copy and triad once, all interleaved round by round, on the same parameters and gradients. Each result
    /// carries <see cref="StepBenchResult.SpeedupVsFp32Fused"/> when fp32 is among the storages.
    /// <see cref="StepBenchOptions.StochasticRounding"/> applies to bf16 only.
    /// </summary>
    public static IReadOnlyList<StepBenchResult> Run(StepBenchOptions options, IReadOnlyList<StateStorage> storages, IProgress<string>? progress = null)
    {
        var rule = Validate(options, storages);
        MemoryBudget.Require(RequiredBytes(options, storages), $"bench step {options.Optimizer} --size {options.Size:N0} (parameters, gradients, the fused, naive and scalar optimizers' states for each storage, the naive temporaries and three probe buffers)");
        using var arena = CreateArena(options, progress);
        var isa = IsaSupport.Resolve(options.Isa);
        var optimizers = new List<Optimizer>();
        try
        {
            using var probes = new MemoryProbes(arena.Length, options.Threads);
            using var a = new AlignedBuffer(arena.Length);
            using var b = new AlignedBuffer(arena.Length);
            using var c = new AlignedBuffer(arena.Length);
            var variants = new List<(string Name, double Bytes, Action Call)>();
            var runOptions = new List<StepBenchOptions>();
            foreach (var storage in storages)
            {
                var each = options with { Storage = storage, StochasticRounding = options.StochasticRounding && storage == StateStorage.Bf16, Q8KeepPositive = options.Q8KeepPositive && storage == StateStorage.Q8 };
                runOptions.Add(each);
                var common = new OptimizerOptions { Threads = options.Threads, StateStorage = storage, StochasticRounding = each.StochasticRounding, RoundingSeed = 1, Q8MinElements = options.Q8MinElements, Q8KeepPositive = each.Q8KeepPositive };
                var fused = new Optimizer(arena, rule, common with { Isa = isa });
                optimizers.Add(fused);
                var naive = new Optimizer(arena, rule, common with { Mode = StepMode.Naive });
                optimizers.Add(naive);
                var scalar = new Optimizer(arena, rule, common with { Isa = Kernels.Isa.Scalar });
                optimizers.Add(scalar);
                double bytes = fused.TrafficBytesPerParameter;
                variants.Add(($"fused {IsaSupport.Name(isa)}", bytes, () => fused.Step()));
                variants.Add(("naive multi-pass", bytes, () => naive.Step()));
                variants.Add(("fused scalar", bytes, () => scalar.Step()));
                if (storage == StateStorage.Fp32)
                {
                    var (readOnly, readWrite) = MemoryProbes.SameTrafficBuffers(fused);
                    variants.Add(("same-traffic probe", 4 * (readOnly.Count + (2 * readWrite.Count)), () => probes.SameTraffic(readOnly, readWrite)));
                }
                else
                {
                    var (readOnly, readWrite) = MemoryProbes.SameTrafficRegions(fused);
                    variants.Add(("same-traffic probe", MemoryProbes.BytesPerParameter(readOnly, readWrite, arena.ParameterCount), () => probes.SameTraffic(readOnly, readWrite)));
                }
            }

            variants.Add(("copy", 8, () => probes.Copy(a, b)));
            variants.Add(("triad", 12, () => probes.Triad(a, b, c)));
            var measured = Measure([.. variants], options, arena.ParameterCount, progress);
            progress?.Report("probing vector operation costs");
            var costs = isa == Kernels.Isa.Scalar ? null : CpuProbes.MeasureVectorOps(isa);
            BenchVariant copy = measured[^2], triad = measured[^1];
            var results = new List<StepBenchResult>();
            for (int k = 0; k < storages.Count; k++)
            {
                results.Add(new StepBenchResult(runOptions[k], MachineInfo.Current, IsaSupport.Name(isa), measured[4 * k], measured[(4 * k) + 1], measured[(4 * k) + 2], measured[(4 * k) + 3], copy, triad,
                    rule.Descriptor.NaivePasses, rule.Descriptor.ElementOperations, costs));
            }

            int fp32 = storages.ToList().IndexOf(StateStorage.Fp32);
            return fp32 < 0 ? results : [.. results.Select(r => r with { SpeedupVsFp32Fused = results[fp32].Fused.BestSeconds / r.Fused.BestSeconds })];
        }
        finally
        {
            foreach (var optimizer in optimizers)
            {
                optimizer.Dispose();
            }
        }
    }

    internal static BenchVariant[] Measure((string Name, double Bytes, Action Call)[] variants, StepBenchOptions options, long parameters, IProgress<string>? progress)
    {
        int n = variants.Length;
        var calls = new int[n];

        // Warm up (first touch of every buffer, JIT tiers of the code around the kernels) for at least 0.2 s or 50
        // calls, then calibrate the calls per round.
        for (int v = 0; v < n; v++)
        {
            progress?.Report($"warming up {variants[v].Name}");
            var warm = Stopwatch.StartNew();
            for (int k = 0; k < 50 || warm.Elapsed.TotalSeconds < 0.2; k++)
            {
                variants[v].Call();
                if (warm.Elapsed.TotalSeconds > 2)
                {
                    break;
                }
            }

            var sw = Stopwatch.StartNew();
            variants[v].Call();
            calls[v] = (int)Math.Clamp(options.SecondsPerRound / Math.Max(sw.Elapsed.TotalSeconds, 1e-9), 1, 10_000);
        }

        return MeasureRounds([.. variants.Select(static x => (x.Name, x.Bytes))], calls, v =>
        {
            long t0 = Stopwatch.GetTimestamp();
            variants[v].Call();
            return Stopwatch.GetElapsedTime(t0).TotalSeconds;
        }, options, parameters, progress);
    }

    /// <summary>
    /// The measurement every step benchmark shares, after its warm-up: <see cref="StepBenchOptions.Rounds"/> rounds, each
    /// making <paramref name="calls"/>[v] calls of every variant in turn (interleaved, so drift touches all alike), timed
    /// by <paramref name="timeCall"/> (seconds of one call of variant v). A variant's best is its fastest call, its median
    /// the median over rounds of the round's mean call.
    /// </summary>
    internal static BenchVariant[] MeasureRounds((string Name, double Bytes)[] variants, int[] calls, Func<int, double> timeCall,
        StepBenchOptions options, long parameters, IProgress<string>? progress)
    {
        int n = variants.Length;
        var best = Enumerable.Repeat(double.PositiveInfinity, n).ToArray();
        var means = Enumerable.Range(0, n).Select(static _ => new List<double>()).ToArray();
        for (int round = 0; round < options.Rounds; round++)
        {
            for (int v = 0; v < n; v++)
            {
                progress?.Report($"round {round + 1}/{options.Rounds}: {variants[v].Name}");
                double total = 0;
                for (int k = 0; k < calls[v]; k++)
                {
                    double seconds = timeCall(v);
                    best[v] = Math.Min(best[v], seconds);
                    total += seconds;
                }

                means[v].Add(total / calls[v]);
            }
        }

        return [.. Enumerable.Range(0, n).Select(v =>
        {
            var sorted = means[v].OrderBy(static x => x).ToList();
            double median = sorted[sorted.Count / 2];
            return new BenchVariant(variants[v].Name, variants[v].Bytes, best[v], median,
                best[v] * 1e9 / parameters, variants[v].Bytes * (double)parameters / best[v] / 1e9);
        })];
    }

    /// <summary>
    /// The bytes <see cref="Run(StepBenchOptions, IProgress{string})"/> allocates for <paramref name="options"/>: parameters
    /// and gradients, every state of each of the three optimizers (fused, naive, scalar), the naive step's temporaries
    /// and the three probe buffers.
    /// </summary>
    public static long RequiredBytes(StepBenchOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return RequiredBytes(options, [options.Storage]);
    }

    /// <summary>
    /// As <see cref="RequiredBytes(StepBenchOptions)"/> with one set of optimizers per storage: states stored in
    /// <see cref="StateStorages.ByteCount"/> bytes each, and for compressed states the naive step's float32 copies of
    /// them (it decodes each state, runs its passes, and encodes it back).
    /// </summary>
    public static long RequiredBytes(StepBenchOptions options, IReadOnlyList<StateStorage> storages)
    {
        var rule = Validate(options, storages);
        string what = $"bench step --size {options.Size:N0}";
        int states = rule.Descriptor.States.Count;
        long bytes = MemoryBudget.Bytes(options.Size, (2 + 3) * sizeof(float), what);
        foreach (var storage in storages)
        {
            bytes += 3 * states * StateStorages.ByteCount(storage, options.Size);
            long naiveFloats = rule.Descriptor.NaiveTemporaries + (storage == StateStorage.Fp32 ? 0 : states);
            bytes += MemoryBudget.Bytes(options.Size, naiveFloats * sizeof(float), what);
        }

        return bytes;
    }

    /// <summary>
    /// Checks the options and the storages (at least one, none twice; stochastic rounding only with bf16 among them,
    /// keep-positive only with q8) and creates the rule they name.
    /// </summary>
    internal static IOptimizerRule Validate(StepBenchOptions options, IReadOnlyList<StateStorage> storages)
    {
        ArgumentNullException.ThrowIfNull(storages);
        var rule = Validate(options);
        if (storages.Count == 0)
        {
            throw new ArgumentException($"--state names no storage; expected one or more of {StateStorages.Accepted}.", nameof(storages));
        }

        foreach (var storage in storages)
        {
            StateStorages.Name(storage);
        }

        if (storages.Distinct().Count() != storages.Count)
        {
            throw new ArgumentException($"--state names a storage twice ({string.Join(",", storages.Select(StateStorages.Name))}); each is measured once.", nameof(storages));
        }

        if (options.StochasticRounding && !storages.Contains(StateStorage.Bf16))
        {
            throw new ArgumentException($"--stochastic-rounding rounds bf16 states; it does not apply to --state {string.Join(",", storages.Select(StateStorages.Name))}.", nameof(storages));
        }

        if (options.Q8KeepPositive && !storages.Contains(StateStorage.Q8))
        {
            throw new ArgumentException($"--q8-keep-positive codes the non-negative states of q8 storage; it does not apply to --state {string.Join(",", storages.Select(StateStorages.Name))}.", nameof(storages));
        }

        return rule;
    }

    /// <summary>Checks the options (sizes, optimizer, hyperparameters) and creates the rule they name.</summary>
    internal static IOptimizerRule Validate(StepBenchOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.Size < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.Size, $"The size must be at least 1 parameter, got {options.Size}.");
        }

        if (options.Tensors < 1 || options.Tensors > options.Size)
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.Tensors, $"The tensor count must be between 1 and the size, got {options.Tensors}.");
        }

        if (options.Size > int.MaxValue * (long)options.Tensors)
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.Size, $"A tensor holds at most {int.MaxValue:N0} parameters; split {options.Size:N0} into more tensors (--tensors).");
        }

        if (options.Rounds < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.Rounds, $"The rounds must be at least 1, got {options.Rounds}.");
        }

        if (options.Threads is < 1 or > 1024)
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.Threads, $"The threads must be between 1 and 1024, got {options.Threads}.");
        }

        return OptimizerCatalog.Create(options.Optimizer, options.Hyperparameters);
    }

    /// <summary>The benchmark's arena: the parameters in <see cref="StepBenchOptions.Tensors"/> tensors, filled from fixed seeds.</summary>
    internal static ParameterArena CreateArena(StepBenchOptions options, IProgress<string>? progress)
    {
        var arena = new ParameterArena();
        long per = options.Size / options.Tensors;
        for (int t = 0; t < options.Tensors; t++)
        {
            long length = t == options.Tensors - 1 ? options.Size - (per * t) : per;
            arena.Add($"t{t}", [checked((int)length)], group: 0);
        }

        arena.Build();
        progress?.Report("filling buffers");
        Fill(arena.Params.Span, seed: 1, scale: 1);
        Fill(arena.Grads.Span, seed: 2, scale: 1e-2f);
        return arena;
    }

    private static void Fill(Span<float> span, int seed, float scale)
    {
        var rng = new Random(seed);
        for (int i = 0; i < span.Length; i++)
        {
            span[i] = scale * (float)((rng.NextDouble() * 2) - 1);
        }
    }

    /// <summary>Parses a size such as <c>16M</c>, <c>64K</c>, <c>1G</c> (binary multiples) or <c>1000003</c>.</summary>
    public static long ParseSize(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        string t = text.Trim();
        long multiplier = 1;
        if (t.Length > 0 && char.IsLetter(t[^1]))
        {
            multiplier = char.ToUpperInvariant(t[^1]) switch
            {
                'K' => 1L << 10,
                'M' => 1L << 20,
                'G' => 1L << 30,
                _ => throw new FormatException($"Size '{text}': unknown suffix '{t[^1]}'; expected K, M or G (binary multiples) or a plain number."),
            };
            t = t[..^1];
        }

        if (!double.TryParse(t, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out double value) || !(Math.Round(value * multiplier) >= 1) || value * multiplier > int.MaxValue)
        {
            throw new FormatException($"Size '{text}' is not a positive number of parameters below 2^31 (e.g. 16M, 64K, 1000003).");
        }

        return (long)Math.Round(value * multiplier);
    }
}

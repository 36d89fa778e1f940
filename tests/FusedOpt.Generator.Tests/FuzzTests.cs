using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using FusedOpt.Gpu;
using FusedOpt.Kernels;
using FusedOpt.Memory;
using Microsoft.CodeAnalysis;
using Xunit;

namespace FusedOpt.Tests;

/// <summary>
/// The differential fuzzer: random well-typed rules (<see cref="RuleFuzzer"/>), each compiled through the generator in
/// memory, loaded, and run on every path — fused Vector512/Vector256/scalar, the naive step and (every fourth case)
/// the ILGPU kernel on ILGPU's CPU accelerator — against the oracle, the rule's own <c>Update</c> method
/// (<see cref="ReferencePath"/>). A rule the generator rejects must be rejected by a diagnostic, never by a crash
/// (FOPT000) nor by generated code that does not compile.
/// </summary>
/// <remarks>
/// <para>A fixed-seed slice of <see cref="DefaultCases"/> cases runs with the tests. A longer run is one command:
/// <c>FUSEDOPT_FUZZ_CASES=5000 FUSEDOPT_FUZZ_SEED=1 dotnet test tests/FusedOpt.Generator.Tests -c Release --filter FullyQualifiedName~FuzzTests</c>
/// (docs/testing.md). A failure prints the rule's source, the path, the first mismatches and the largest error.</para>
/// <para>Comparison: |path − oracle| ≤ 1e-3·(1 + |oracle|) on every element of p and of every state, after 3 steps on
/// 37 elements (two Vector512 iterations and a tail). The kernels compute step-invariant parts in float64 where the
/// user's code rounds to float32 at each operation, so a random expression with cancellation can amplify a last-bit
/// difference; elements where the oracle is not finite or exceeds 1e6 in magnitude are not compared (the rule is
/// ill-conditioned there, not wrong), and a case whose oracle throws (MathF.Sign of NaN) is skipped.</para>
/// </remarks>
public sealed class FuzzTests
{
    public const int DefaultCases = 30;

    private const int Length = 37;

    private static readonly List<string> Rejections = [];
    private const int Steps = 3;

    [Theory]
    [InlineData("""
        // The fuzzer's first find: a local declared under a per-element mask was selected against its (empty) earlier value in the naive step.
        [Optimizer("found-1")] public partial record Found1(float Lr = 0.1f)
        {
            void Update(ref float p, float g, ref float m)
            {
                if (g >= 0) { bool b = !(g > 0.5f); float l = b ? g : -g; m = l; }
                p -= Lr * (m + g);
            }
        }
        """)]
    [InlineData("""
        // The second: a rule that never reads g still got the naive step's gradient scaling, on an undeclared span.
        [Optimizer("found-2")] public partial record Found1(float Lr = 0.1f)
        {
            void Update(ref float p, float g, ref float m, int t) { m = m * 0.5f + t * 0.125f; p -= Lr * m; }
        }
        """)]
    [InlineData("""
        // Comparing a value with itself: the user's code warns (CS1718), the generated code must not.
        [Optimizer("found-3")] public partial record Found1(float Lr = 0.1f)
        {
            void Update(ref float p, float g) { if (g > g || p >= p) p -= Lr; p -= Lr * g; }
        }
        """)]
    [InlineData("""
        // Bool equality per element: masks are all-bits-set floats (NaN), which a float compare never finds equal.
        [Optimizer("found-4")] public partial record Found1(float Lr = 0.1f, bool S = true)
        {
            void Update(ref float p, float g, ref float m)
            {
                bool a = g > 0; bool b = p > 0;
                if (a == b) m = g; else m = -g;
                if ((a != S) == true) p -= Lr * m; else p += Lr * m;
                p -= (a == (m < 0.5f) ? 0.25f : 0.5f) * Lr;
            }
        }
        """)]
    [InlineData("""
        // g assigned but never read from the buffer: the kernels declared no g for the assignment.
        [Optimizer("found-5")] public partial record Found1(float Lr = 0.1f, bool S = true)
        {
            void Update(ref float p, float g, ref float m) { g = Lr * 0.5f; m = m * 0.5f + Lr; p = p; p -= Lr * m; }
        }
        """)]
    public void FuzzerFindings_AgreeWithTheOracle(string rule)
    {
        int accepted = 0, rejected = 0, skipped = 0;
        using var session = GpuDevices.Open(new DeviceSpec(DeviceKind.IlgpuCpu));

        string? failure = RunCase("using System;\nusing FusedOpt;\nnamespace Fuzz;\n" + rule, "Found1", 1, session, ref accepted, ref rejected, ref skipped);

        Assert.Null(failure);
        Assert.Equal(1, accepted);
    }

    [Fact]
    public void RandomRules_AgreeWithTheOracle_OnEveryPath()
    {
        int cases = int.TryParse(Environment.GetEnvironmentVariable("FUSEDOPT_FUZZ_CASES"), NumberStyles.Integer, CultureInfo.InvariantCulture, out int n) ? n : DefaultCases;
        int seed = int.TryParse(Environment.GetEnvironmentVariable("FUSEDOPT_FUZZ_SEED"), NumberStyles.Integer, CultureInfo.InvariantCulture, out int s) ? s : 20261129;
        var fuzzer = new RuleFuzzer(seed);
        var failures = new List<string>();
        int accepted = 0, rejected = 0, skipped = 0;
        using var session = GpuDevices.Open(new DeviceSpec(DeviceKind.IlgpuCpu));

        for (int i = 0; i < cases && failures.Count < 3; i++)
        {
            TestContext.Current.CancellationToken.ThrowIfCancellationRequested();
            string source = fuzzer.Generate(i);
            string? failure;
            try
            {
                failure = RunCase(source, "Fuzz" + i.ToString(CultureInfo.InvariantCulture), i, i % 4 == 0 ? session : null, ref accepted, ref rejected, ref skipped);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                failure = "a path threw " + e.GetType().Name + ": " + e.Message + "\n" + e.StackTrace?.Split('\n').FirstOrDefault(static l => l.Contains("Fuzz", StringComparison.Ordinal) || l.Contains("Naive", StringComparison.Ordinal));
            }

            if (failure is not null)
            {
                failures.Add($"case {i} (seed {seed}): {failure}\n{source}");
            }
        }

        TestContext.Current.SendDiagnosticMessage($"fuzz: {cases} cases, {accepted} accepted and compared, {rejected} rejected by a diagnostic, {skipped} skipped");
        Assert.True(failures.Count == 0, string.Join("\n\n", failures));
        Assert.True(accepted >= cases / 2, $"Only {accepted} of {cases} random rules were accepted; the fuzzer is not exercising the paths. Rejections: " + string.Join(" | ", Rejections.Take(10)));
    }

    /// <summary>Compiles <paramref name="source"/>, runs record <paramref name="typeName"/> on every path and the oracle; null when all agree.</summary>
    internal static string? RunCase(string source, string typeName, int index, DeviceSession? gpu, ref int accepted, ref int rejected, ref int skipped)
    {
        var run = GeneratorHarness.Generate(source);
        if (run.Driver.GetRunResult().Results.Any(static r => r.Exception is not null))
        {
            return "the generator threw";
        }

        var generatorErrors = run.GeneratorDiagnostics.Where(static d => d.Severity == DiagnosticSeverity.Error).ToList();
        if (generatorErrors.Any(static d => d.Id == "FOPT000"))
        {
            return "internal generator error: " + generatorErrors.First(static d => d.Id == "FOPT000");
        }

        var compileErrors = run.Output.GetDiagnostics().Where(static d => d.Severity == DiagnosticSeverity.Error).ToList();
        if (generatorErrors.Count > 0)
        {
            rejected++;
            Rejections.Add(generatorErrors[0].GetMessage(CultureInfo.InvariantCulture));
            return null;
        }

        if (compileErrors.Count > 0)
        {
            return "accepted, but the compilation has errors:\n" + string.Join("\n", compileErrors.Take(5));
        }

        var generatedWarnings = run.Output.GetDiagnostics().Where(static d => d.Severity == DiagnosticSeverity.Warning && d.Location.SourceTree?.FilePath.EndsWith(".g.cs", StringComparison.Ordinal) == true).ToList();
        if (generatedWarnings.Count > 0)
        {
            return "the generated code has warnings:\n" + string.Join("\n", generatedWarnings.Take(5));
        }

        var rule = RuleLoader.Descriptor(RuleLoader.Load(run), typeName).CreateDefault();
        var (p, grads) = Inputs(index);
        ReferencePath.Result oracle;
        try
        {
            oracle = ReferencePath.Run(rule, p, grads);
        }
        catch (ArithmeticException)
        {
            skipped++;
            return null;
        }

        accepted++;
        var paths = new List<(string Name, OptimizerOptions Options)>();
        foreach (var isa in new[] { Isa.Avx512, Isa.Avx2, Isa.Scalar }.Where(IsaSupport.IsSupported))
        {
            paths.Add((IsaSupport.Name(isa), new OptimizerOptions { Isa = isa, Threads = 1 }));
        }

        paths.Add(("naive", new OptimizerOptions { Mode = StepMode.Naive }));
        foreach (var (name, options) in paths)
        {
            if (Compare(oracle, RunCpu(rule, p, grads, options), name) is { } mismatch)
            {
                return mismatch;
            }
        }

        if (gpu is not null && rule.GpuKernel is not null)
        {
            return Compare(oracle, RunGpu(gpu, rule, p, grads), "ILGPU CPU");
        }

        return null;
    }

    private static (float[] P, float[][] Grads) Inputs(int seed)
    {
        var rng = new Random(seed);
        var p = Enumerable.Range(0, Length).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        var grads = Enumerable.Range(0, Steps)
            .Select(_ => Enumerable.Range(0, Length).Select(_ => rng.Next(8) == 0 ? 0f : (float)(rng.NextDouble() * 2 - 1)).ToArray())
            .ToArray();
        return (p, grads);
    }

    private static (float[] P, float[]?[] States) RunCpu(IOptimizerRule rule, float[] initial, float[][] grads, OptimizerOptions options)
    {
        using var arena = new ParameterArena();
        var x = arena.Add("x", initial.Length);
        arena.Build();
        initial.CopyTo(arena.Param(x));
        using var optimizer = new Optimizer(arena, rule, options);
        foreach (var g in grads)
        {
            g.CopyTo(arena.Grad(x));
            optimizer.Step();
        }

        return (arena.Param(x).ToArray(), States(rule, optimizer, initial.Length));
    }

    private static (float[] P, float[]?[] States) RunGpu(DeviceSession session, IOptimizerRule rule, float[] initial, float[][] grads)
    {
        using var arena = new ParameterArena();
        var x = arena.Add("x", initial.Length);
        arena.Build();
        initial.CopyTo(arena.Param(x));
        using var device = new DeviceOptimizer(session.Accelerator, arena, rule);
        foreach (var g in grads)
        {
            g.CopyTo(arena.Grad(x));
            device.UploadGradients();
            device.Step();
        }

        using var host = new Optimizer(arena, rule);
        device.DownloadTo(host);
        return (arena.Param(x).ToArray(), States(rule, host, initial.Length));
    }

    private static float[]?[] States(IOptimizerRule rule, Optimizer optimizer, int length)
    {
        var states = new float[]?[rule.Descriptor.States.Count];
        for (int s = 0; s < states.Length; s++)
        {
            states[s] = optimizer.GetState(s) is { } b ? b.Slice(0, length).ToArray() : null;
        }

        return states;
    }

    private static string? Compare(ReferencePath.Result oracle, (float[] P, float[]?[] States) actual, string path)
    {
        if (Mismatch(oracle.Params, actual.P) is { } m)
        {
            return $"{path}, p: {m}";
        }

        for (int s = 0; s < oracle.States.Length; s++)
        {
            if (oracle.States[s] is { } expected && actual.States[s] is { } got && Mismatch(expected, got) is { } ms)
            {
                return $"{path}, state {s}: {ms}";
            }
        }

        return null;
    }

    private static string? Mismatch(float[] expected, float[] actual)
    {
        var bad = new List<string>();
        double worst = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            double e = expected[i], a = actual[i];
            if (!double.IsFinite(e) || Math.Abs(e) > 1e6)
            {
                continue;
            }

            double error = Math.Abs(a - e);
            if (!(error <= 1e-3 * (1 + Math.Abs(e))))
            {
                worst = double.IsNaN(error) ? double.NaN : Math.Max(worst, error);
                if (bad.Count < 5)
                {
                    bad.Add(string.Create(CultureInfo.InvariantCulture, $"[{i}] oracle {expected[i]:R} got {actual[i]:R}"));
                }
            }
        }

        return bad.Count == 0 ? null : string.Create(CultureInfo.InvariantCulture, $"{string.Join("; ", bad)}; largest error {worst:G3}");
    }
}

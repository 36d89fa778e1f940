using System;
using System.Globalization;
using System.Linq;
using System.Reflection;
using Xunit;

namespace FusedOpt.Tests;

/// <summary>
/// <c>[NonNegative]</c> on a per-element state: it reaches <see cref="StateInfo.NonNegative"/> (which picks the unsigned
/// q8 code map), the generator checks what it cheaply can (FOPT025 a negative start, FOPT026 an assignment whose value
/// the hyperparameters' ranges do not keep ≥ 0), and the catalogue marks exactly the states the table below names.
/// </summary>
public sealed class NonNegativeStateTests
{
    private const string Usings = "using System;\nusing FusedOpt;\n";

    [Fact]
    public void NonNegativeAttribute_ReachesTheDescriptorsStates_OthersStaySigned()
    {
        const string source = Usings + """
            namespace N;
            [Optimizer("nonneg-probe")]
            public partial record Probe([NonNegative] float Lr = 1f, [Unit] float Beta = 0.9f, [NonNegative] float Start = 0.5f)
            {
                void Update(ref float p, float g, ref float m, [NonNegative] ref float v, [InitialValue(2), NonNegative] ref float w,
                    [InitialFrom(nameof(Start)), NonNegative] ref float z)
                {
                    m = Beta * m + (1 - Beta) * g;
                    v = Beta * v + (1 - Beta) * g * g;
                    w = MathF.Max(w, v);
                    z += MathF.Abs(g);
                    p -= Lr * m / (MathF.Sqrt(w) + z + 1);
                }
            }
            """;

        var run = GeneratorHarness.Generate(source);
        Assert.True(run.AllProblems.Count == 0, run.Describe());
        var d = RuleLoader.Descriptor(RuleLoader.Load(run), "Probe");

        Assert.Equal(["m", "v", "w", "z"], d.States.Select(static s => s.Name));
        Assert.Equal([false, true, true, true], d.States.Select(static s => s.NonNegative));
        Assert.Equal(2.0, d.States[2].InitialValue);
        Assert.Equal("Start", d.States[3].InitialFrom);
    }

    [Theory]
    [InlineData("[Unit] float Beta = 0.9f", "v = Beta * v + (1 - Beta) * g * g;")]
    [InlineData("[Unit] float Beta = 0.9f", "v = Beta * v + (1 - Beta) * (g - Beta) * (g - Beta);")]
    [InlineData("[Unit] float Beta = 0.9f", "v = MathF.Max(Beta * v, MathF.Abs(g) + Lr);")]
    [InlineData("[Unit] float Beta = 0.9f", "v += g * g;")]
    [InlineData("[Unit] float Beta = 0.9f", "float d = g * Beta - 1; v = d * d;")]
    [InlineData("[Unit] float Beta = 0.9f", "v = MathF.Sqrt(g * g + v) / (1 + Beta);")]
    [InlineData("[Unit] float Beta = 0.9f", "v = MathF.Exp(g) * v;")]
    [InlineData("[Unit] float Beta = 0.9f", "if (g > 0) v = g * g; else v = Beta;")]
    [InlineData("[Unit] float Beta = 0.9f", "v = Beta > 0.5f ? v * Beta : Lr;")]
    [InlineData("[Interval(0, 1)] float Rho = 0.9f", "v = Rho * v + (1 - Rho) * g * g;")]
    public void AssignmentThatStaysNonNegative_IsAccepted(string hyper, string body)
    {
        var run = GeneratorHarness.Generate(Rule(hyper, body));

        Assert.True(run.AllProblems.Count == 0, run.Describe());
    }

    [Theory]
    [InlineData("[NonNegative] float Beta = 0.9f", "v = Beta * v + (1 - Beta) * g * g;", "(-∞, ∞)")]
    [InlineData("[Unit] float Beta = 0.9f", "v = g;", "(-∞, ∞)")]
    [InlineData("[Unit] float Beta = 0.9f", "v = Beta * v - 1;", "[-1, ∞)")]
    [InlineData("[Unit] float Beta = 0.9f", "v = v * g;", "(-∞, ∞)")]
    [InlineData("[Unit] float Beta = 0.9f", "v = g * g * g;", "(-∞, ∞)")]
    [InlineData("[Unit] float Beta = 0.9f", "g = -(g * g); v = g;", "(-∞, 0]")]
    [InlineData("[Unit] float Beta = 0.9f", "if (g > 0) v = g * g; else v = -Beta;", "[-1, 0]")]
    [InlineData("float Beta = 0.9f", "v = MathF.Min(v, Beta);", "(-∞, ∞)")]
    public void AssignmentThatMayBeNegative_IsWarned_WithTheInterval(string hyper, string body, string interval)
    {
        var run = GeneratorHarness.Generate(Rule(hyper, body));

        var warning = Assert.Single(run.GeneratorDiagnostics, static d => d.Id == "FOPT026");
        Assert.Equal(Microsoft.CodeAnalysis.DiagnosticSeverity.Warning, warning.Severity);
        string message = warning.GetMessage(CultureInfo.InvariantCulture);
        Assert.StartsWith("State 'v' is declared [NonNegative]", message, StringComparison.Ordinal);
        Assert.EndsWith(interval, message, StringComparison.Ordinal);
        // Located at the assignment that may be negative.
        string source = Rule(hyper, body);
        string located = source.Substring(warning.Location.SourceSpan.Start, warning.Location.SourceSpan.Length);
        Assert.StartsWith("v =", located, StringComparison.Ordinal);
    }

    [Fact]
    public void SignedState_IsNotChecked()
    {
        var run = GeneratorHarness.Generate(Usings + """
            [Optimizer("x")] public partial record X(float Lr = 1f)
            {
                void Update(ref float p, float g, ref float v) { v = -g; p -= Lr * v; }
            }
            """);

        Assert.True(run.AllProblems.Count == 0, run.Describe());
    }

    [Theory]
    [InlineData("[InitialValue(-0.5)]", "starts at -0.5")]
    [InlineData("[InitialFrom(nameof(Start))]", "starts from 'Start', whose range (-∞, ∞) admits negative values; declare 'Start' [NonNegative]")]
    public void NegativeStart_IsAnError_NamingIt(string attribute, string reason)
    {
        var run = GeneratorHarness.Generate(Usings + $$"""
            [Optimizer("x")] public partial record X(float Lr = 1f, float Start = 1f)
            {
                void Update(ref float p, float g, {{attribute}} [NonNegative] ref float v) { v += g * g; p -= Lr * g / (v + 1); }
            }
            """);

        var error = Assert.Single(run.GeneratorDiagnostics, static d => d.Id == "FOPT025");
        Assert.Equal("State 'v' is declared [NonNegative] but " + reason, error.GetMessage(CultureInfo.InvariantCulture));
        Assert.Empty(run.Sources);
    }

    [Theory]
    [InlineData("void Update(ref float p, [NonNegative] float g) { p -= Lr * g; }", "[NonNegative] does not apply here")]
    [InlineData("void Update(ref float p, float g, [NonNegative] ref double s) { s = Lr; p -= Lr * g; }", "[NonNegative] does not apply here")]
    [InlineData("void Update(ref float p, float g, [NonNegative] int t) { p -= Lr * g * t; }", "[NonNegative] does not apply here")]
    [InlineData("void Update(ref float p, float g, [Unit] ref float v) { v = g; p -= Lr * v; }", "[Unit] is a hyperparameter range; a per-element state takes only [NonNegative]")]
    [InlineData("void Update(ref float p, float g, [Interval(0, 1)] ref float v) { v = g; p -= Lr * v; }", "[Interval] is a hyperparameter range")]
    public void RangeAttribute_OnAnotherParameterOfUpdate_IsAnError(string update, string reason)
    {
        var run = GeneratorHarness.Generate(Usings + "[Optimizer(\"x\")] public partial record X(float Lr = 1f) { " + update + " }");

        var error = Assert.Single(run.GeneratorDiagnostics, static d => d.Id == "FOPT008");
        Assert.Contains(reason, error.GetMessage(CultureInfo.InvariantCulture), StringComparison.Ordinal);
    }

    /// <summary>
    /// Every state of every declaration in FusedOpt.Runtime, and whether it is declared non-negative, written out: a
    /// declaration added, a state renamed or an annotation added or dropped fails here until the table says so. A state
    /// is non-negative when its update provably keeps it ≥ 0 from a start ≥ 0 (second moments, their maxima, Adagrad's
    /// sum, Adamax's infinity norm); first moments and momentum buffers are signed.
    /// </summary>
    private static readonly string[] CatalogueStates =
    [
        "adabelief.m signed", "adabelief.s non-negative", "adabelief.sMax non-negative",
        "adadelta.squareAvg non-negative", "adadelta.accDelta non-negative",
        "adagrad.sum non-negative",
        "adam.m signed", "adam.v non-negative", "adam.vMax non-negative",
        "adamax.m signed", "adamax.u non-negative",
        "adamw.m signed", "adamw.v non-negative", "adamw.vMax non-negative",
        "nadam.m signed", "nadam.v non-negative",
        "nadam-survey.m signed", "nadam-survey.v non-negative",
        "radam.m signed", "radam.v non-negative",
        "rmsprop.squareAvg non-negative", "rmsprop.gradAvg signed", "rmsprop.buf signed",
        "sgd.buf signed",
        "sgd-ema.v signed",
        "sgd-momentum.v signed",
        "sgd-nesterov.v signed",
    ];

    [Fact]
    public void Catalogue_MarksExactlyTheTablesStatesNonNegative()
    {
        var runtime = typeof(Optimizers.Adam).Assembly;
        var actual = runtime.GetTypes()
            .Where(static t => t.GetCustomAttribute<OptimizerAttribute>() is not null)
            .Select(static t => (OptimizerDescriptor)t.GetProperty("Descriptor", BindingFlags.Public | BindingFlags.Static)!.GetValue(null)!)
            .SelectMany(static d => d.States.Select(s => $"{d.Name}.{s.Name} {(s.NonNegative ? "non-negative" : "signed")}"))
            .Order(StringComparer.Ordinal);

        Assert.Equal(CatalogueStates.Order(StringComparer.Ordinal), actual);
    }

    private static string Rule(string hyper, string body) => Usings + $$"""
        [Optimizer("x")] public partial record X([NonNegative] float Lr = 1f, {{hyper}})
        {
            void Update(ref float p, float g, [NonNegative] ref float v)
            {
                {{body}}
                p -= Lr * g / (v + 1);
            }
        }
        """;
}

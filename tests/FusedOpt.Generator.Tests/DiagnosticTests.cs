using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Text;
using Xunit;

namespace FusedOpt.Tests;

/// <summary>
/// Every diagnostic fires on a minimal bad declaration, at the right place. The expected location is marked in the
/// source with [| and |]. docs/diagnostics.md shows the same examples.
/// </summary>
public sealed class DiagnosticTests
{
    private const string Usings = "using System;\nusing FusedOpt;\n";

    [Theory]
    [InlineData("FOPT001", """
        [Optimizer("x")] public record [|X|](float Lr = 1f) { void Update(ref float p, float g) => p -= Lr * g; }
        """)]
    [InlineData("FOPT002", """
        [Optimizer("x")] public partial record [|X|](float Lr = 1f) { void Step(ref float p, float g) => p -= Lr * g; }
        """)]
    [InlineData("FOPT003", """
        [Optimizer("x")] public partial record X(float Lr = 1f)
        {
            void Update(ref float p, float g) { [|for (int i = 0; i < 3; i++) p -= Lr * g;|] }
        }
        """)]
    [InlineData("FOPT004", """
        [Optimizer("x")] public partial record X(float Lr = 1f)
        {
            static float Twice(float x) => 2 * x;
            void Update(ref float p, float g) { p -= Lr * [|Twice(g)|]; }
        }
        """)]
    [InlineData("FOPT005", """
        [Optimizer("x")] public partial record X(float Lr = 1f)
        {
            void Update(ref float p, float g, int t) { [|t|] = 2; p -= Lr * g; }
        }
        """)]
    [InlineData("FOPT006", """
        [Optimizer("x")] public partial record X(float Lr = 1f)
        {
            void Update(ref float p, float g) { p -= Lr * [|momentum|]; }
        }
        """)]
    [InlineData("FOPT007", """
        [Optimizer("x")] public partial record X(float Lr = 1f, string [|Name|] = "a")
        {
            void Update(ref float p, float g) { p -= Lr * g; }
        }
        """)]
    [InlineData("FOPT008", """
        [Optimizer("x")] public partial record X(float Lr = 1f)
        {
            void Update(ref float p, float g, out float [|m|]) { m = g; p -= Lr * g; }
        }
        """)]
    [InlineData("FOPT009", """
        [Optimizer("x")] public partial record X(float Lr = 1f)
        {
            void Update(ref float p, float g, ref double prod) { [|prod *= g;|] p -= Lr * g; }
        }
        """)]
    [InlineData("FOPT010", """
        [Optimizer("x")] public partial record X(float Lr = 1f)
        {
            void [|Update|](ref float p, float g) { p -= Lr * MathF.Pow(MathF.Abs(g), 0.5f); }
        }
        """)]
    [InlineData("FOPT011", """
        [Optimizer("x")] public partial record X(float Lr = 1f)
        {
            void [|Update|](ref float p, float g, ref float a, ref float b, ref float c, ref float d, ref float e, ref float f, ref float h, ref float i, ref float j)
            { a = b = c = d = e = f = h = i = j = g; p -= Lr * g; }
        }
        """)]
    [InlineData("FOPT012", """
        [Optimizer("x")] public partial record X(float Lr = 1f)
        {
            void Update(ref float p, float g) { double [|d = g * 2.0|]; p -= Lr * g; }
        }
        """)]
    [InlineData("FOPT013", """
        [Optimizer("x")] public partial record X(float Lr = 1f, [Unit] float Beta = [|1.5f|])
        {
            void Update(ref float p, float g) { p -= Lr * Beta * g; }
        }
        """)]
    [InlineData("FOPT014", """
        [Optimizer("x")] public partial record X(float [|Lr|])
        {
            void Update(ref float p, float g) { p -= Lr * g; }
        }
        """)]
    [InlineData("FOPT015", """
        [Optimizer("x")]
        [[|Constraint("Momentum > 0", "needs momentum")|]]
        public partial record X(float Lr = 1f)
        {
            void Update(ref float p, float g) { p -= Lr * g; }
        }
        """)]
    [InlineData("FOPT016", """
        [Optimizer("x")] public partial class [|X|]
        {
            void Update(ref float p, float g) { p -= g; }
        }
        """)]
    [InlineData("FOPT017", """
        [[|Optimizer("Bad Name")|]] public partial record X(float Lr = 1f)
        {
            void Update(ref float p, float g) { p -= Lr * g; }
        }
        """)]
    [InlineData("FOPT019", """
        [Optimizer("x")] public partial record X(float Lr = 1f)
        {
            void Update(ref float p, float g, [InitialFrom("Nope")] ref float [|s|]) { s += g; p -= Lr * s; }
        }
        """)]
    [InlineData("FOPT020", """
        [Optimizer("x")] public partial record X(float Lr = 1f)
        {
            void [|Update|](ref float p, float g, ref float unused) { p -= Lr * g; }
        }
        """)]
    [InlineData("FOPT022", """
        [Optimizer("x")] public partial record X(float Lr = 1f, float [|Validate|] = 1f)
        {
            void Update(ref float p, float g) { p -= Lr * g; }
        }
        """)]
    [InlineData("FOPT023", """
        [Optimizer("x")] public partial record X(float Lr = 1f)
        {
            void Update(ref float p, float g) { p -= [|Lr * (((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((g)))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))|]; }
        }
        """)]
    [InlineData("FOPT024", """
        [Optimizer("x")] public partial record X(float Lr = 1f, bool A = false, bool B = false, bool C = false, bool D = false, bool E = false, bool F = false)
        {
            void [|Update|](ref float p, float g)
            {
                if (A) g += 1;
                if (B) g += 2;
                if (C) g += 3;
                if (D) g += 4;
                if (E) g += 5;
                if (F) g += 6;
                p -= Lr * g;
            }
        }
        """)]
    [InlineData("FOPT025", """
        [Optimizer("x")] public partial record X(float Lr = 1f)
        {
            void Update(ref float p, float g, [NonNegative, InitialValue(-1)] ref float [|v|]) { v += g * g; p -= Lr * g / (v + 2); }
        }
        """)]
    [InlineData("FOPT026", """
        [Optimizer("x")] public partial record X(float Lr = 1f, [NonNegative] float Beta = 0.9f)
        {
            void Update(ref float p, float g, [NonNegative] ref float v) { [|v = Beta * v + (1 - Beta) * g * g;|] p -= Lr * g / (MathF.Sqrt(v) + 1); }
        }
        """)]
    public void Diagnostic_IsReported_AtTheOffendingCode(string id, string marked)
    {
        var (source, expected) = Unmark(Usings + marked);

        var run = GeneratorHarness.Generate(source);

        var diagnostic = Assert.Single(run.GeneratorDiagnostics, d => d.Id == id);
        Assert.Equal(expected, diagnostic.Location.SourceSpan);
        Assert.Equal("Rule0.cs", diagnostic.Location.GetLineSpan().Path);
        Assert.False(string.IsNullOrWhiteSpace(diagnostic.GetMessage(System.Globalization.CultureInfo.InvariantCulture)));
    }

    [Fact]
    public void DuplicateName_IsReported_WithBothTypes()
    {
        const string a = Usings + "[Optimizer(\"same\")] public partial record A(float Lr = 1f) { void Update(ref float p, float g) => p -= Lr * g; }";
        const string b = Usings + "[Optimizer(\"same\")] public partial record B(float Lr = 1f) { void Update(ref float p, float g) => p -= Lr * g; }";

        var run = GeneratorHarness.Generate(a, b);

        var diagnostic = Assert.Single(run.GeneratorDiagnostics, static d => d.Id == "FOPT018");
        Assert.Equal("Optimizer name 'same' is declared by both 'A' and 'B'", diagnostic.GetMessage(System.Globalization.CultureInfo.InvariantCulture));
        // On the second type's [Optimizer] attribute, so that the IDE can take the reader there.
        var where = diagnostic.Location.GetLineSpan();
        Assert.Equal("Rule1.cs", where.Path);
        Assert.Equal(2, where.StartLinePosition.Line);
        Assert.Equal("Optimizer(\"same\")", b.Substring(diagnostic.Location.SourceSpan.Start, diagnostic.Location.SourceSpan.Length));
    }

    [Fact]
    public void AssigningAHyperparameter_NamesIt()
    {
        const string source = Usings + """
            [Optimizer("x")] public partial record X(float Lr = 1f)
            {
                void Update(ref float p, float g) { Lr = 2; p -= Lr * g; }
            }
            """;

        var run = GeneratorHarness.Generate(source);

        var diagnostic = Assert.Single(run.GeneratorDiagnostics, static d => d.Id == "FOPT005");
        Assert.Contains("'Lr', which is a hyperparameter", diagnostic.GetMessage(System.Globalization.CultureInfo.InvariantCulture), System.StringComparison.Ordinal);
    }

    [Fact]
    public void Errors_EmitNoSource()
    {
        const string source = Usings + """
            [Optimizer("x")] public partial record X(float Lr = 1f)
            {
                void Update(ref float p, float g) { while (true) p -= g; }
            }
            """;

        var run = GeneratorHarness.Generate(source);

        Assert.Empty(run.Sources);
    }

    [Theory]
    [InlineData("[Optimizer(\"x\")] public partial record X(float Lr = 1f) { void Update(ref float p, float g) { p -= ")]
    [InlineData("[Optimizer(\"x\")] public partial record X(float Lr = ) { void Update(ref float p) { } }")]
    [InlineData("[Optimizer] public partial record X { void Update() { } }")]
    [InlineData("[Optimizer(\"x\")] public partial record X(float Lr = 1f) { void Update(ref float p, float g) { p -= g switch { > 0 => 1, _ => 0 }; } }")]
    [InlineData("[Optimizer(\"x\")] public partial record X(float Lr = 1f) { void Update(ref float p, float g) { p = (p = g) + Lr; } }")]
    public void IncompleteOrOddCode_NeverThrows(string code)
    {
        var run = GeneratorHarness.Generate(Usings + code);

        var result = run.Driver.GetRunResult();
        Assert.All(result.Results, static r => Assert.Null(r.Exception));
        Assert.DoesNotContain(run.GeneratorDiagnostics, static d => d.Id == "FOPT000");
    }

    private static (string Source, TextSpan Span) Unmark(string marked)
    {
        int start = marked.IndexOf("[|", System.StringComparison.Ordinal);
        int end = marked.IndexOf("|]", System.StringComparison.Ordinal);
        Assert.True(start >= 0 && end > start, "The test source needs one [| … |] marker.");
        string source = marked.Remove(end, 2).Remove(start, 2);
        return (source, TextSpan.FromBounds(start, end - 2));
    }
}

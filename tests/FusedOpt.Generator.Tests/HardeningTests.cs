using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Xunit;

namespace FusedOpt.Tests;

/// <summary>
/// The generator is correct on every rule it accepts and reports the rest (issue 9): nested unary minus, keyword
/// identifiers, names the generated code uses, and expressions deep enough to overflow a recursive walk.
/// Behaviour (not only compilation) of the accepted rules is checked against the oracle in
/// <c>OracleAgreementTests</c> (FusedOpt.Runtime.Tests) and by <see cref="FuzzTests"/>.
/// </summary>
public sealed class HardeningTests
{
    private const string Usings = "using System;\nusing FusedOpt;\n";

    [Theory]
    [InlineData("m = -(-m) + g; p -= Lr * m;")]
    [InlineData("m = -(float)-m + g; p -= Lr * m;")]
    [InlineData("m = - -m + g; p -= Lr * -(-(-m));")]
    [InlineData("m = -(-(Lr * m)) + g; p -= -(-Lr) * m;")]
    [InlineData("bool b = !(!(g > 0)); m = b ? -(-g) : -(-(-m)); p -= Lr * m;")]
    public void NestedUnaryOperators_CompileOnEveryPath_WithoutDecrements(string body)
    {
        var run = GeneratorHarness.Generate(Usings + $$"""
            [Optimizer("x")] public partial record X(float Lr = 0.1f)
            {
                void Update(ref float p, float g, ref float m) { {{body}} }
            }
            """);

        Assert.True(run.AllProblems.Count == 0, run.Describe());
        var ct = TestContext.Current.CancellationToken;
        var root = CSharpSyntaxTree.ParseText(run.Sources.Values.Single(), GeneratorHarness.ParseOptions, cancellationToken: ct).GetRoot(ct);
        Assert.DoesNotContain(root.DescendantTokens(), static t => t.IsKind(SyntaxKind.MinusMinusToken));
    }

    [Fact]
    public void KeywordIdentifiers_EverywhereInTheRule_Compile()
    {
        var run = GeneratorHarness.Generate(Usings + """
            [Optimizer("x")]
            [Constraint("@checked >= 0", "checked")]
            public partial record X([NonNegative] float @checked = 0.1f, [Unit] float @double = 0.5f, bool @fixed = false)
            {
                void Update(ref float @in, float @out, ref float @ref, [InitialValue(1)] ref double @long, int @int)
                {
                    @long *= @double;
                    float @float = @double * @ref + @out;
                    if (@fixed) @float *= 2;
                    if (@float > 0) @ref = @float; else @ref = -@float;
                    @in -= @checked * @ref * (float)@long / @int;
                }
            }
            """);

        Assert.True(run.AllProblems.Count == 0, run.Describe());
    }

    [Theory]
    [InlineData("float Validate = 1f", "Validate")]
    [InlineData("float Descriptor = 1f", "Descriptor")]
    [InlineData("float Scalar = 1f", "Scalar")]
    [InlineData("float MathF = 1f", "MathF")]
    [InlineData("float Vector512 = 1f", "Vector512")]
    [InlineData("float Unsafe = 1f", "Unsafe")]
    [InlineData("int Dispatch1 = 1", "Dispatch1")]
    public void HyperparameterNamedLikeGeneratedCode_IsReported(string hyperparameter, string name)
    {
        var run = GeneratorHarness.Generate(Usings + $$"""
            [Optimizer("x")] public partial record X(float Lr = 1f, {{hyperparameter}})
            {
                void Update(ref float p, float g) { p -= Lr * g; }
            }
            """);

        var d = Assert.Single(run.GeneratorDiagnostics, static d => d.Id == "FOPT022");
        Assert.Contains("'" + name + "'", d.GetMessage(System.Globalization.CultureInfo.InvariantCulture), System.StringComparison.Ordinal);
        Assert.Empty(run.Sources);
    }

    [Theory]
    [InlineData("ref float Scalar", "Scalar = g; p -= Scalar;")]
    [InlineData("ref float Unsafe", "Unsafe = g; p -= Unsafe;")]
    [InlineData("int Run", "p -= g * Run;")]
    [InlineData("ref double Isa", "Isa *= 2; p -= g * (float)Isa;")]
    [InlineData("ref float MathF", "MathF = g; p -= MathF;")]
    public void StateOrStepNamedLikeGeneratedCode_IsReported(string parameter, string body)
    {
        var run = GeneratorHarness.Generate(Usings + $$"""
            [Optimizer("x")] public partial record X(float Lr = 1f)
            {
                void Update(ref float p, float g, {{parameter}}) { {{body}} }
            }
            """);

        Assert.Contains(run.GeneratorDiagnostics, static d => d.Id == "FOPT022");
        Assert.DoesNotContain(run.Output.GetDiagnostics(TestContext.Current.CancellationToken), static d => d.Severity == DiagnosticSeverity.Error && d.Location.SourceTree?.FilePath.EndsWith(".g.cs", System.StringComparison.Ordinal) == true);
    }

    [Fact]
    public void MemberNamedLikeGeneratedCode_IsReported()
    {
        var run = GeneratorHarness.Generate(Usings + """
            [Optimizer("x")] public partial record X(float Lr = 1f)
            {
                static float Scalar(float x) => x;
                void Update(ref float p, float g) { p -= Lr * g; }
            }
            """);

        Assert.Contains(run.GeneratorDiagnostics, static d => d.Id == "FOPT022");
    }

    [Fact]
    public void HyperparameterPropertyDeclaredByTheUser_IsLeftAlone()
    {
        var run = GeneratorHarness.Generate(Usings + """
            [Optimizer("x")] public partial record X([NonNegative] float Lr = 1f, [Unit] float Mu = 0.5f)
            {
                /// <summary>The learning rate, declared by hand.</summary>
                public float Lr { get; init; } = Lr;

                void Update(ref float p, float g, ref float m) { m = Mu * m + g; p -= Lr * m; }
            }
            """);

        Assert.True(run.AllProblems.Count == 0, run.Describe());
        Assert.DoesNotContain("public float Lr", run.Sources.Values.Single(), System.StringComparison.Ordinal);
        Assert.Contains("public float Mu", run.Sources.Values.Single(), System.StringComparison.Ordinal);
    }

    [Fact]
    public void LocalsNamedLikeGeneratedCode_AreRenamed_AndCompile()
    {
        var run = GeneratorHarness.Generate(Usings + """
            [Optimizer("x")] public partial record X(float Lr = 1f, bool Amsgrad = false)
            {
                void Update(ref float p, float g, ref float m)
                {
                    float Scalar = g * 2; float Unsafe = Scalar + 1; float Vector512 = Amsgrad ? Unsafe : Scalar;
                    float Fused512 = Lr * 2; float Descriptor = g > 0 ? Vector512 : -Vector512;
                    m = Descriptor; p -= Fused512 * m;
                }
            }
            """);

        Assert.True(run.AllProblems.Count == 0, run.Describe());
    }

    [Fact]
    public void EverySimpleNameInGeneratedCode_IsReserved_OrARuleName_OrDeclaredThere()
    {
        // The class check behind FOPT022: whatever the emitters write, a name they use that the rule could also use is
        // in KernelNames.Reserved (so the rule cannot take it), or it is declared in the generated code itself (and
        // KernelNames.Get keeps those apart from rule names).
        var run = GeneratorHarness.Generate(EmittedCodeTests.Adam, Usings + """
            [Optimizer("y")] public partial record Y(float Lr = 1f, bool On1 = false, int K = 3)
            {
                void Update(ref float p, float g, ref float m, [InitialValue(1)] ref double q, int t)
                {
                    q *= 0.5;
                    if (g > 0 && On1) m = MathF.Sqrt(MathF.Abs(g)); else m = MathF.Max(m, -g);
                    p -= Lr * (t > K ? m : MathF.Pow(MathF.Abs(g), 0.5f)) * (float)q;
                }
            }
            """);
        Assert.True(run.AllProblems.Count(static d => d.Severity == DiagnosticSeverity.Error) == 0, run.Describe());
        var ruleNames = new[] { "Lr", "Beta1", "Beta2", "Eps", "WeightDecay", "Amsgrad", "On1", "K", "p", "g", "m", "v", "vMax", "q", "t", "MyAdam", "Y", "User" };

        foreach (var source in run.Sources.Values)
        {
            var ct = TestContext.Current.CancellationToken;
            var root = CSharpSyntaxTree.ParseText(source, GeneratorHarness.ParseOptions, cancellationToken: ct).GetRoot(ct);
            var declared = root.DescendantNodes().Select(static n => n switch
            {
                VariableDeclaratorSyntax v => v.Identifier.ValueText,
                ParameterSyntax p => p.Identifier.ValueText,
                TypeParameterSyntax tp => tp.Identifier.ValueText,
                ForEachStatementSyntax f => f.Identifier.ValueText,
                _ => null,
            }).Where(static n => n is not null).ToHashSet();
            var unexplained = root.DescendantNodes().OfType<SimpleNameSyntax>()
                .Where(static n => !(n.Parent is MemberAccessExpressionSyntax ma && ma.Name == n))
                .Where(static n => !(n.Parent is QualifiedNameSyntax q && q.Right == n))
                .Where(static n => !(n.Parent is AssignmentExpressionSyntax { Parent: InitializerExpressionSyntax } a && a.Left == n))
                .Where(static n => !(n.Parent is NameColonSyntax))
                .Where(static n => !InTypeOnlyContext(n))
                .Select(static n => n.Identifier.ValueText)
                .Where(n => n != "var" && n != "nameof" && n != "value" /* an init accessor's own parameter: innermost, nothing hides it */ && !declared.Contains(n) && !ruleNames.Contains(n) && !FusedOpt.Generator.Emit.KernelNames.Reserved.Contains(n))
                .Distinct()
                .ToList();

            Assert.True(unexplained.Count == 0, "Names the generated code uses that a rule could also use: " + string.Join(", ", unexplained));
        }
    }

    // A name where only a type or namespace can stand (a parameter's type, a using directive, the left part of a qualified
    // type name): no property or local can hide it there.
    private static bool InTypeOnlyContext(SimpleNameSyntax name)
    {
        ExpressionSyntax top = name;
        while (top.Parent is QualifiedNameSyntax q)
        {
            top = q;
        }

        return SyntaxFacts.IsInTypeOnlyContext(top) || top.Parent is UsingDirectiveSyntax or BaseNamespaceDeclarationSyntax;
    }

    [Theory]
    [InlineData(10_000)]
    [InlineData(150)]
    public void LongSum_IsReportedAtTheExpression_NotACrash(int terms)
    {
        string sum = string.Join(" + ", Enumerable.Repeat("g", terms));
        string source = Usings + $$"""
            [Optimizer("x")] public partial record X(float Lr = 1f)
            {
                void Update(ref float p, float g) { p -= Lr * ({{sum}}); }
            }
            """;
        var run = GeneratorHarness.Generate(source);

        var d = Assert.Single(run.GeneratorDiagnostics, static d => d.Id == "FOPT023");
        Assert.StartsWith("Lr * (g + g", source.Substring(d.Location.SourceSpan.Start, d.Location.SourceSpan.Length), System.StringComparison.Ordinal);
        Assert.Empty(run.Sources);
    }

    [Fact]
    public void DeepParentheses_AndDeepIfs_AreReported()
    {
        string parens = new string('(', 300) + "g" + new string(')', 300);
        string ifs = string.Concat(Enumerable.Repeat("if (g > 0) { ", 40)) + "p -= g;" + new string('}', 40);
        var run = GeneratorHarness.Generate(Usings + $$"""
            [Optimizer("x")] public partial record X(float Lr = 1f)
            {
                void Update(ref float p, float g) { p -= Lr * {{parens}}; {{ifs}} }
            }
            """);

        Assert.Equal(2, run.GeneratorDiagnostics.Count(static d => d.Id == "FOPT023"));
        Assert.DoesNotContain(run.GeneratorDiagnostics, static d => d.Id == "FOPT000");
    }

    [Fact]
    public void SumJustUnderTheLimit_IsAccepted()
    {
        string sum = string.Join(" + ", Enumerable.Repeat("g", 60));
        var run = GeneratorHarness.Generate(Usings + $$"""
            [Optimizer("x")] public partial record X(float Lr = 1f)
            {
                void Update(ref float p, float g) { p -= Lr * ({{sum}}); }
            }
            """);

        Assert.True(run.AllProblems.Count == 0, run.Describe());
    }
}

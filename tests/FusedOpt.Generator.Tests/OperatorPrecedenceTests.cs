using System;
using System.Collections.Generic;
using System.Linq;
using FusedOpt.Generator.Analysis;
using FusedOpt.Generator.Emit;
using FusedOpt.Generator.Emit.Targets;
using FusedOpt.Generator.Helpers;
using FusedOpt.Generator.Model;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Xunit;
using ValueType = FusedOpt.Generator.Model.ValueType;

namespace FusedOpt.Tests;

/// <summary>
/// Every emitter writes every operator nesting so that C# reads back the tree it was given: each pair of binary
/// operators on either side, each unary operator over each operator (nested minus included) and ?: anywhere, written by
/// the prologue (float64), the scalar element code (also the GPU kernel's), the vector element code and the printer
/// (comments, switch descriptions), parsed with Roslyn and compared structurally with the IR.
/// </summary>
public sealed class OperatorPrecedenceTests
{
    private static readonly BinaryOp[] Binaries = (BinaryOp[])Enum.GetValues(typeof(BinaryOp));

    private static readonly Expr A = new RefExpr("a", NameKind.Local, ValueType.Float);
    private static readonly Expr B = new RefExpr("b", NameKind.Local, ValueType.Float);
    private static readonly Expr C = new RefExpr("c", NameKind.Local, ValueType.Float);

    public static IEnumerable<TheoryDataRow<string>> Emitters() => [new("prologue"), new("scalar"), new("ILGPU"), new("Vector512"), new("printer")];

    private static IEnumerable<Expr> Trees()
    {
        foreach (var outer in Binaries)
        {
            foreach (var inner in Binaries)
            {
                yield return new BinaryExpr(outer, new BinaryExpr(inner, A, B, ValueType.Float), C, ValueType.Float);
                yield return new BinaryExpr(outer, A, new BinaryExpr(inner, B, C, ValueType.Float), ValueType.Float);
            }

            foreach (var op in new[] { UnaryOp.Neg, UnaryOp.Not })
            {
                yield return new UnaryExpr(op, new BinaryExpr(outer, A, B, ValueType.Float), ValueType.Float);
                yield return new BinaryExpr(outer, new UnaryExpr(op, A, ValueType.Float), new UnaryExpr(op, B, ValueType.Float), ValueType.Float);
            }

            var cond = new CondExpr(A, B, C, ValueType.Float);
            yield return new BinaryExpr(outer, cond, A, ValueType.Float);
            yield return new BinaryExpr(outer, A, cond, ValueType.Float);
            yield return new CondExpr(new BinaryExpr(outer, A, B, ValueType.Float), new BinaryExpr(outer, B, C, ValueType.Float), new BinaryExpr(outer, C, A, ValueType.Float), ValueType.Float);
        }

        foreach (var op in new[] { UnaryOp.Neg, UnaryOp.Not })
        {
            foreach (var op2 in new[] { UnaryOp.Neg, UnaryOp.Not })
            {
                yield return new UnaryExpr(op, new UnaryExpr(op2, A, ValueType.Float), ValueType.Float);
                yield return new UnaryExpr(op, new UnaryExpr(op2, new UnaryExpr(op, A, ValueType.Float), ValueType.Float), ValueType.Float);
            }

            yield return new UnaryExpr(op, new CondExpr(A, B, C, ValueType.Float), ValueType.Float);
        }

        yield return new CondExpr(new CondExpr(A, B, C, ValueType.Float), new CondExpr(B, C, A, ValueType.Float), new CondExpr(C, A, B, ValueType.Float), ValueType.Float);
        yield return new CallExpr(Func.Max, new[] { new BinaryExpr(BinaryOp.Sub, A, B, ValueType.Float), (Expr)new UnaryExpr(UnaryOp.Neg, C, ValueType.Float) }.ToEquatableArray(), ValueType.Float);
    }

    [Theory]
    [MemberData(nameof(Emitters))]
    public void EveryOperatorNesting_ReadsBackAsTheSameTree(string emitter)
    {
        var wrong = new List<string>();
        foreach (var tree in Trees())
        {
            string text = emitter switch
            {
                "prologue" => ExprEmitter.Prologue(tree),
                "printer" => Printer.Print(tree),
                "scalar" => ExprEmitter.Element(tree, ScalarTarget.Instance, null!, static i => "F" + i),
                "ILGPU" => ExprEmitter.Element(tree, IlgpuTarget.Instance, null!, static i => "F" + i),
                _ => ExprEmitter.Element(tree, VectorTarget.V512, null!, static i => "F" + i),
            };
            var parsed = SyntaxFactory.ParseExpression(text);
            string expected = Shape(tree, vector: emitter == "Vector512"), actual = parsed.ContainsDiagnostics ? "<does not parse>" : Shape(parsed);
            if (expected != actual || text.Contains("--", StringComparison.Ordinal))
            {
                wrong.Add($"{text}  reads as {actual}, expected {expected}");
            }
        }

        Assert.True(wrong.Count == 0, string.Join("\n", wrong.Take(10)));
    }

    // Vector code writes a != b as ~(a == b) (a mask complement), so its expected shape says so.
    private static string Shape(Expr e, bool vector) => e switch
    {
        RefExpr r => r.Name,
        NumExpr => "n",
        UnaryExpr u => "(" + (u.Op == UnaryOp.Neg ? "-" : "!") + Shape(u.Operand, vector) + ")",
        BinaryExpr { Op: BinaryOp.Ne } b when vector => "(!(" + Shape(b.Left, vector) + " == " + Shape(b.Right, vector) + "))",
        BinaryExpr b => "(" + Shape(b.Left, vector) + " " + Printer.Symbol(b.Op) + " " + Shape(b.Right, vector) + ")",
        CondExpr c => "(" + Shape(c.Cond, vector) + " ? " + Shape(c.WhenTrue, vector) + " : " + Shape(c.WhenFalse, vector) + ")",
        CallExpr c => c.Func + "(" + string.Join(", ", c.Args.Select(a => Shape(a, vector))) + ")",
        _ => "?",
    };

    // The same shape from C# syntax; vector code's method calls and bitwise mask operators map back to the operators
    // they stand for (Vector512.LessThan(x, y) is x < y, m1 & m2 is m1 && m2, ~m is !m).
    private static string Shape(ExpressionSyntax e) => e switch
    {
        ParenthesizedExpressionSyntax p => Shape(p.Expression),
        IdentifierNameSyntax id => id.Identifier.ValueText,
        LiteralExpressionSyntax => "n",
        PrefixUnaryExpressionSyntax u => "(" + (u.IsKind(SyntaxKind.UnaryMinusExpression) ? "-" : "!") + Shape(u.Operand) + ")",
        CastExpressionSyntax c => Shape(c.Expression),
        BinaryExpressionSyntax b => "(" + Shape(b.Left) + " " + (b.OperatorToken.Text switch { "&" => "&&", "|" => "||", var t => t }) + " " + Shape(b.Right) + ")",
        ConditionalExpressionSyntax c => "(" + Shape(c.Condition) + " ? " + Shape(c.WhenTrue) + " : " + Shape(c.WhenFalse) + ")",
        InvocationExpressionSyntax { Expression: MemberAccessExpressionSyntax ma } inv => Call(ma.Name.Identifier.ValueText, inv.ArgumentList.Arguments.Select(static a => a.Expression).ToList()),
        _ => "?" + e.Kind(),
    };

    private static string Call(string name, List<ExpressionSyntax> args) => name switch
    {
        "LessThan" => $"({Shape(args[0])} < {Shape(args[1])})",
        "LessThanOrEqual" => $"({Shape(args[0])} <= {Shape(args[1])})",
        "GreaterThan" => $"({Shape(args[0])} > {Shape(args[1])})",
        "GreaterThanOrEqual" => $"({Shape(args[0])} >= {Shape(args[1])})",
        "Equals" => $"({Shape(args[0])} == {Shape(args[1])})",
        "ConditionalSelect" => $"({Shape(args[0])} ? {Shape(args[1])} : {Shape(args[2])})",
        "Create" => "n",
        _ => name + "(" + string.Join(", ", args.Select(Shape)) + ")",
    };
}

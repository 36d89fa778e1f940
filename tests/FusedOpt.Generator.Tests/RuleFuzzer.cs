using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;

namespace FusedOpt.Tests;

/// <summary>
/// Writes random well-typed update rules over the whole grammar the generator accepts: float, double, int and bool
/// hyperparameters; per-element states and a per-step <c>double</c> state; locals (float and bool); plain and compound
/// assignment to p, g, states and locals; if/else (on switches and on per-element conditions); <c>?:</c>; unary and
/// binary operators in every nesting (nested minus included); casts; and the Math/MathF functions. Every division is
/// by <c>|x| + 1</c>, every root of <c>|x|</c>, every log of <c>|x| + 1</c>, every exp of <c>−|x|</c>, so a rule's
/// values stay finite on inputs in [−1, 1] for the few steps the fuzzer runs (what still overflows is skipped, see
/// <see cref="FuzzTests"/>).
/// </summary>
internal sealed class RuleFuzzer
{
    private static readonly string[] FloatLiterals = ["0.5f", "2f", "0.25f", "1.5f", "3f", "0.125f", "1f"];

    private readonly Random _rng;
    private readonly StringBuilder _body = new();
    private readonly List<List<string>> _floatScopes = [];
    private readonly List<List<string>> _boolScopes = [];
    private int _locals;
    private int _indent;
    private bool _stepState;

    public RuleFuzzer(int seed) => _rng = new Random(seed);

    /// <summary>The rule's source; its record is <c>Fuzz{index}</c> in namespace <c>Fuzz</c>, catalogue name <c>fuzz-{index}</c>.</summary>
    public string Generate(int index)
    {
        _body.Clear();
        _floatScopes.Clear();
        _boolScopes.Clear();
        _locals = 0;
        _indent = 2;
        _stepState = Chance(0.5);
        int states = 1 + _rng.Next(3);

        var stateNames = Enumerable.Range(0, states).Select(static s => "m" + s.ToString(CultureInfo.InvariantCulture)).ToList();
        _floatScopes.Add(["p", "g", .. stateNames]);
        _boolScopes.Add([]);

        if (_stepState)
        {
            // A per-step state: updated from step-invariant values only (FOPT009), here a product like NAdam's.
            Line(Pick(["q *= 0.5 + 0.5 * B;", "q = q * D + 0.25;", "if (S) q *= 0.9; else q *= B;", "q *= MathF.Pow(B, t) * 0.5f + 0.5f;"]));
        }

        int statements = 2 + _rng.Next(5);
        for (int n = 0; n < statements; n++)
        {
            Statement(0);
        }

        // Every state is used (FOPT020 is only a warning, but a used state exercises its load and store).
        foreach (var s in stateNames)
        {
            Line($"{s} = {s} * 0.5f + {Expr(1)} * 0.125f;");
        }

        Line($"p -= Lr * ({Expr(2)});");

        string lr = Pick(["0.01f", "0.1f", "0.05f"]);
        string b = Pick(["0.9f", "0.5f", "0.99f", "0.25f"]);
        string d = Pick(["0.75", "0.5", "0.9"]);
        string k = _rng.Next(1, 5).ToString(CultureInfo.InvariantCulture);
        string sw = Chance(0.5) ? "true" : "false";
        string parameters = string.Join(", ", new[] { "ref float p", "float g" }
            .Concat(stateNames.Select(static s => "ref float " + s))
            .Concat(_stepState ? ["[InitialValue(1)] ref double q"] : [])
            .Append("int t"));
        string i = index.ToString(CultureInfo.InvariantCulture);
        return $$"""
            using System;
            using FusedOpt;

            namespace Fuzz;

            [Optimizer("fuzz-{{i}}")]
            public partial record Fuzz{{i}}([NonNegative] float Lr = {{lr}}, [Unit] float B = {{b}}, [Interval(0, 1)] double D = {{d}}, int K = {{k}}, bool S = {{sw}})
            {
                void Update({{parameters}})
                {
            {{_body.ToString().TrimEnd()}}
                }
            }
            """;
    }

    private void Statement(int depth)
    {
        int kind = _rng.Next(depth >= 2 ? 3 : 4);
        switch (kind)
        {
            case 0:
                string local = "l" + (_locals++).ToString(CultureInfo.InvariantCulture);
                Line($"float {local} = {Expr(3)};");
                _floatScopes[^1].Add(local);
                break;
            case 1 when Chance(0.4):
                string flag = "b" + (_locals++).ToString(CultureInfo.InvariantCulture);
                Line($"bool {flag} = {Condition(2)};");
                _boolScopes[^1].Add(flag);
                break;
            case 1:
            case 2:
                string target = Pick(_floatScopes.SelectMany(static s => s).ToList());
                string op = Pick(["=", "+=", "-=", "*=", "/="]);
                string value = op == "/=" ? $"(MathF.Abs({Expr(2)}) + 1f)" : Expr(3);
                Line($"{target} {op} {value};");
                break;
            default:
                Line($"if ({Condition(2)})");
                Block(depth);
                if (Chance(0.5))
                {
                    Line("else");
                    Block(depth);
                }

                break;
        }
    }

    private void Block(int depth)
    {
        Line("{");
        _indent++;
        _floatScopes.Add([]);
        _boolScopes.Add([]);
        int n = 1 + _rng.Next(2);
        for (int i = 0; i < n; i++)
        {
            Statement(depth + 1);
        }

        _floatScopes.RemoveAt(_floatScopes.Count - 1);
        _boolScopes.RemoveAt(_boolScopes.Count - 1);
        _indent--;
        Line("}");
    }

    private string Expr(int depth)
    {
        if (depth <= 0 || Chance(0.2))
        {
            return Leaf();
        }

        int d = depth - 1;
        return _rng.Next(14) switch
        {
            0 => Negate(Expr(d)),
            1 => $"-({Negate(Expr(d))})",
            2 => $"-({Expr(d)})",
            3 => $"({Expr(d)} + {Expr(d)})",
            4 => $"({Expr(d)} - {Expr(d)})",
            5 => $"{Expr(d)} - {Negate(Expr(d))}",
            6 => $"({Expr(d)} * {Expr(d)})",
            7 => $"({Expr(d)} / (MathF.Abs({Expr(d)}) + 1f))",
            8 => Pick([$"MathF.Sqrt(MathF.Abs({Expr(d)}))", $"MathF.Abs({Expr(d)})", $"MathF.Exp(-MathF.Abs({Expr(d)}))", $"MathF.Log(MathF.Abs({Expr(d)}) + 1f)"]),
            9 => Pick([$"MathF.Max({Expr(d)}, {Expr(d)})", $"MathF.Min({Expr(d)}, {Expr(d)})", $"MathF.Sign({Expr(d)})"]),
            10 => $"({Condition(d)} ? {Expr(d)} : {Expr(d)})",
            11 => $"(float)({Expr(d)})",
            12 => Pick([$"{Expr(d)} * (1 - B)", $"{Expr(d)} / (1 - MathF.Pow(B, t))", $"((float)D * {Expr(d)})"]),
            _ => $"({Expr(d)} - {Expr(d)} * {Expr(d)})",
        };
    }

    private string Leaf() => _rng.Next(8) switch
    {
        0 or 1 or 2 => Pick(_floatScopes.SelectMany(static s => s).ToList()),
        3 => Pick(FloatLiterals),
        4 => Pick(["Lr", "B", "(1 - B)", "(float)D"]),
        5 => _stepState ? Pick(["(float)q", "(float)(q * D)"]) : "B",
        6 => Pick(["(t * 0.125f)", "(K * 0.25f)", "((K + t) * 0.0625f)"]),
        _ => "-" + Pick(FloatLiterals),
    };

    private string Condition(int depth)
    {
        int d = depth - 1;
        var bools = _boolScopes.SelectMany(static s => s).ToList();
        return (depth <= 0 ? _rng.Next(2) + 5 : _rng.Next(11)) switch
        {
            9 => $"({Condition(d)}) == ({Condition(d)})",
            10 => $"({Condition(d)}) != {Pick(["true", "false", "S"])}",
            0 => $"{Expr(d)} > {Expr(d)}",
            1 => $"{Expr(d)} <= {Pick(FloatLiterals)}",
            2 => $"({Condition(d)} && {Condition(d)})",
            3 => $"({Condition(d)} || {Condition(d)})",
            4 => $"!({Condition(d)})",
            5 => Pick(["S", "!S", "t > K", "B > 0.5f"]),
            6 => bools.Count > 0 ? Pick(bools) : "g >= 0",
            7 => $"{Expr(d)} < -{Pick(FloatLiterals)}",
            _ => $"{Expr(d)} != 0f",
        };
    }

    // Unary minus as C# needs it: "- -x", never "--x" (a decrement).
    private static string Negate(string operand) => operand.StartsWith('-') ? "- " + operand : "-" + operand;

    private void Line(string text) => _body.Append(' ', _indent * 4).Append(text).Append('\n');

    private bool Chance(double p) => _rng.NextDouble() < p;

    private T Pick<T>(IReadOnlyList<T> items) => items[_rng.Next(items.Count)];
}

using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Threading;
using FusedOpt.Generator.Helpers;
using FusedOpt.Generator.Model;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using ValueType = FusedOpt.Generator.Model.ValueType;

namespace FusedOpt.Generator.Parse;

/// <summary>
/// Reads the body of <c>Update</c> into the IR. Only local declarations, assignments (plain and compound) and
/// if/else are statements; expressions are arithmetic, comparisons, logic, <c>?:</c>, casts and a few Math/MathF
/// functions. Everything else is reported (FOPT003/FOPT004/FOPT005/FOPT006) and parsing goes on, so that one
/// build shows every problem.
/// </summary>
internal sealed class BodyParser
{
    private readonly SemanticModel _model;
    private readonly IReadOnlyDictionary<string, (NameKind Kind, ValueType Type)> _names;
    private readonly List<Dictionary<string, (string Unique, ValueType Type)>> _scopes = [];
    private readonly HashSet<string> _usedLocalNames = new(StringComparer.Ordinal);
    private readonly List<DiagnosticInfo> _diagnostics;
    private readonly CancellationToken _ct;
    private int _expressionDepth;
    private int _statementDepth;
    private ExpressionSyntax? _outermost;
    private bool _reportedDepth;

    /// <summary>
    /// Deepest expression nesting the rule may use. Every walk over the IR (analysis, the emitters, record equality)
    /// recurses on it; bounding it here keeps all of them far from the compiler's stack limit (a 10,000-term sum is
    /// reported, not a crashed build). Real rules nest fewer than 15 levels.
    /// </summary>
    public const int MaxExpressionDepth = 100;

    /// <summary>Deepest nesting of blocks and if/else statements.</summary>
    public const int MaxStatementDepth = 32;

    public BodyParser(SemanticModel model, IReadOnlyDictionary<string, (NameKind Kind, ValueType Type)> names, List<DiagnosticInfo> diagnostics, CancellationToken ct)
    {
        _model = model;
        _names = names;
        _diagnostics = diagnostics;
        _ct = ct;
        foreach (var n in names.Keys)
        {
            _usedLocalNames.Add(n);
        }

        // A local named like a generated member or type (Scalar, MathF) is renamed in the kernels.
        _usedLocalNames.UnionWith(Emit.KernelNames.Reserved);
    }

    /// <summary>Location of each statement, indexed by <see cref="Stmt.Id"/>.</summary>
    public List<Location> StatementLocations { get; } = [];

    /// <summary>Names of all locals after renaming (unique across the body).</summary>
    public List<string> Locals { get; } = [];

    public EquatableArray<Stmt> ParseBody(MethodDeclarationSyntax method)
    {
        _scopes.Add([]);
        var list = new List<Stmt>();
        if (method.Body is { } body)
        {
            foreach (var s in body.Statements)
            {
                ParseStatement(s, list);
            }
        }
        else if (method.ExpressionBody is { } arrow)
        {
            ParseExpressionStatement(arrow.Expression, arrow, list);
        }

        _scopes.RemoveAt(_scopes.Count - 1);
        return list.ToEquatableArray();
    }

    private int NewId(SyntaxNode node)
    {
        StatementLocations.Add(node.GetLocation());
        return StatementLocations.Count - 1;
    }

    private void ParseStatement(StatementSyntax statement, List<Stmt> output)
    {
        _ct.ThrowIfCancellationRequested();
        if (_statementDepth >= MaxStatementDepth)
        {
            Report(Diagnostics.TooDeep, statement, "statement", (_statementDepth + StatementDepth(statement)).ToString(CultureInfo.InvariantCulture),
                MaxStatementDepth.ToString(CultureInfo.InvariantCulture) + " nested blocks and if statements");
            return;
        }

        _statementDepth++;
        try
        {
            ParseStatementCore(statement, output);
        }
        finally
        {
            _statementDepth--;
        }
    }

    private void ParseStatementCore(StatementSyntax statement, List<Stmt> output)
    {
        switch (statement)
        {
            case BlockSyntax block:
                _scopes.Add([]);
                foreach (var s in block.Statements)
                {
                    ParseStatement(s, output);
                }

                _scopes.RemoveAt(_scopes.Count - 1);
                break;
            case EmptyStatementSyntax:
                break;
            case LocalDeclarationStatementSyntax local when !local.IsConst && local.UsingKeyword == default:
                foreach (var v in local.Declaration.Variables)
                {
                    ParseLocal(v, output);
                }

                break;
            case ExpressionStatementSyntax es:
                ParseExpressionStatement(es.Expression, es, output);
                break;
            case IfStatementSyntax ifs:
                var cond = ParseExpr(ifs.Condition);
                var then = ParseBranch(ifs.Statement);
                var otherwise = ifs.Else is { } e ? ParseBranch(e.Statement) : EquatableArray<Stmt>.Empty;
                output.Add(new IfStmt(NewId(ifs), cond, then, otherwise));
                break;
            default:
                Report(Diagnostics.UnsupportedStatement, statement, Describe(statement));
                break;
        }
    }

    private EquatableArray<Stmt> ParseBranch(StatementSyntax statement)
    {
        var list = new List<Stmt>();
        _scopes.Add([]);
        ParseStatement(statement, list);
        _scopes.RemoveAt(_scopes.Count - 1);
        return list.ToEquatableArray();
    }

    private void ParseLocal(VariableDeclaratorSyntax v, List<Stmt> output)
    {
        string name = v.Identifier.ValueText;
        if (v.Initializer is null)
        {
            Report(Diagnostics.UnsupportedStatement, v, $"{name} declared without a value (initialise locals where they are declared)");
            return;
        }

        var symbol = _model.GetDeclaredSymbol(v, _ct) as ILocalSymbol;
        var type = symbol is null ? (ValueType?)null : ToValueType(symbol.Type);
        if (type is null)
        {
            Report(Diagnostics.UnsupportedExpression, v, $"{symbol?.Type.ToDisplayString() ?? "?"} {name}", "locals must be float, double, int or bool");
            return;
        }

        var value = ParseExpr(v.Initializer.Value);
        string unique = name;
        for (int k = 2; _usedLocalNames.Contains(unique); k++)
        {
            unique = name + "_" + k.ToString(CultureInfo.InvariantCulture);
        }

        _usedLocalNames.Add(unique);
        Locals.Add(unique);
        _scopes[_scopes.Count - 1][name] = (unique, type.Value);
        output.Add(new AssignStmt(NewId(v), unique, NameKind.Local, type.Value, value, Declares: true));
    }

    private void ParseExpressionStatement(ExpressionSyntax expression, SyntaxNode statement, List<Stmt> output)
    {
        if (expression is not AssignmentExpressionSyntax assignment)
        {
            Report(Diagnostics.UnsupportedStatement, statement, Describe(expression));
            return;
        }

        BinaryOp? op = assignment.Kind() switch
        {
            SyntaxKind.SimpleAssignmentExpression => null,
            SyntaxKind.AddAssignmentExpression => BinaryOp.Add,
            SyntaxKind.SubtractAssignmentExpression => BinaryOp.Sub,
            SyntaxKind.MultiplyAssignmentExpression => BinaryOp.Mul,
            SyntaxKind.DivideAssignmentExpression => BinaryOp.Div,
            _ => (BinaryOp)(-1),
        };
        if (op is (BinaryOp)(-1))
        {
            Report(Diagnostics.UnsupportedExpression, assignment, assignment.OperatorToken.Text + " assignment", "only =, +=, -=, *= and /= are supported");
            return;
        }

        if (!TryResolveTarget(assignment.Left, out var target))
        {
            return;
        }

        var value = ParseExpr(assignment.Right);
        if (op is { } binary)
        {
            value = new BinaryExpr(binary, target, value, Promote(target.Type, value.Type));
        }

        output.Add(new AssignStmt(NewId(statement), target.Name, target.Kind, target.Type, value, Declares: false));
    }

    private bool TryResolveTarget(ExpressionSyntax left, out RefExpr target)
    {
        target = null!;
        string? name = left switch
        {
            IdentifierNameSyntax id => id.Identifier.ValueText,
            MemberAccessExpressionSyntax { Expression: ThisExpressionSyntax } ma => ma.Name.Identifier.ValueText,
            _ => null,
        };
        if (name is null)
        {
            Report(Diagnostics.UnsupportedExpression, left, left.ToString(), "only a plain variable can be assigned");
            return false;
        }

        if (Resolve(name, left) is not { } resolved)
        {
            return false;
        }

        switch (resolved.Kind)
        {
            case NameKind.Hyper:
                Report(Diagnostics.ReadOnlyAssignment, left, name, "a hyperparameter");
                return false;
            case NameKind.Step:
                Report(Diagnostics.ReadOnlyAssignment, left, name, "the step counter");
                return false;
        }

        target = resolved;
        return true;
    }

    private RefExpr? Resolve(string name, SyntaxNode node)
    {
        for (int i = _scopes.Count - 1; i >= 0; i--)
        {
            if (_scopes[i].TryGetValue(name, out var local))
            {
                return new RefExpr(local.Unique, NameKind.Local, local.Type);
            }
        }

        if (_names.TryGetValue(name, out var known))
        {
            return new RefExpr(name, known.Kind, known.Type);
        }

        Report(Diagnostics.UnknownIdentifier, node, name);
        return null;
    }

    public Expr ParseExpr(ExpressionSyntax syntax)
    {
        _ct.ThrowIfCancellationRequested();
        if (_expressionDepth == 0)
        {
            _outermost = syntax;
            _reportedDepth = false;
        }

        if (_expressionDepth >= MaxExpressionDepth)
        {
            // Reported once, at the outermost expression; the rest of it is not parsed (nor recursed into).
            if (!_reportedDepth && _outermost is not null)
            {
                _reportedDepth = true;
                Report(Diagnostics.TooDeep, _outermost, "expression", ExpressionDepth(_outermost).ToString(CultureInfo.InvariantCulture),
                    MaxExpressionDepth.ToString(CultureInfo.InvariantCulture) + " nested operators, calls and parentheses");
            }

            return Error(ValueType.Float);
        }

        _expressionDepth++;
        try
        {
            return ParseExprCore(syntax);
        }
        finally
        {
            _expressionDepth--;
        }
    }

    /// <summary>Nesting depth of expressions under <paramref name="root"/>, walked with an explicit stack (never recursion).</summary>
    private static int ExpressionDepth(SyntaxNode root) => Depth(root, static n => n is ExpressionSyntax);

    private static int StatementDepth(SyntaxNode root) => Depth(root, static n => n is StatementSyntax);

    private static int Depth(SyntaxNode root, Func<SyntaxNode, bool> counts)
    {
        int max = 0;
        var stack = new Stack<(SyntaxNode Node, int Depth)>();
        stack.Push((root, counts(root) ? 1 : 0));
        while (stack.Count > 0)
        {
            var (node, depth) = stack.Pop();
            max = Math.Max(max, depth);
            foreach (var child in node.ChildNodes())
            {
                stack.Push((child, depth + (counts(child) ? 1 : 0)));
            }
        }

        return max;
    }

    private Expr ParseExprCore(ExpressionSyntax syntax)
    {
        var type = ToValueType(_model.GetTypeInfo(syntax, _ct).Type) ?? ValueType.Float;
        switch (syntax)
        {
            case ParenthesizedExpressionSyntax p:
                return ParseExpr(p.Expression);
            case LiteralExpressionSyntax lit when lit.IsKind(SyntaxKind.TrueLiteralExpression):
                return new BoolExpr(true);
            case LiteralExpressionSyntax lit when lit.IsKind(SyntaxKind.FalseLiteralExpression):
                return new BoolExpr(false);
            case LiteralExpressionSyntax lit when lit.IsKind(SyntaxKind.NumericLiteralExpression):
                return Number(lit.Token.Text, lit.Token.Value, type);
            case IdentifierNameSyntax id:
                return (Expr?)Resolve(id.Identifier.ValueText, id) ?? Error(type);
            case MemberAccessExpressionSyntax { Expression: ThisExpressionSyntax } ma:
                return (Expr?)Resolve(ma.Name.Identifier.ValueText, ma) ?? Error(type);
            case PrefixUnaryExpressionSyntax u when u.IsKind(SyntaxKind.UnaryMinusExpression):
                var operand = ParseExpr(u.Operand);
                return operand is NumExpr n ? n with { Value = -n.Value, Text = n.Text.StartsWith("-", StringComparison.Ordinal) ? n.Text.Substring(1) : "-" + n.Text } : new UnaryExpr(UnaryOp.Neg, operand, type);
            case PrefixUnaryExpressionSyntax u when u.IsKind(SyntaxKind.UnaryPlusExpression):
                return ParseExpr(u.Operand);
            case PrefixUnaryExpressionSyntax u when u.IsKind(SyntaxKind.LogicalNotExpression):
                return new UnaryExpr(UnaryOp.Not, ParseExpr(u.Operand), ValueType.Bool);
            case BinaryExpressionSyntax b:
                return ParseBinary(b, type);
            case ConditionalExpressionSyntax c:
                return new CondExpr(ParseExpr(c.Condition), ParseExpr(c.WhenTrue), ParseExpr(c.WhenFalse), type);
            case CastExpressionSyntax cast:
                var target = ToValueType(_model.GetTypeInfo(cast.Type, _ct).Type);
                if (target is null or ValueType.Bool)
                {
                    Report(Diagnostics.UnsupportedExpression, cast, cast.ToString(), "only casts to float, double or int are supported");
                    return Error(type);
                }

                return new CastExpr(ParseExpr(cast.Expression), target.Value);
            case InvocationExpressionSyntax call:
                return ParseCall(call, type);
            case CheckedExpressionSyntax ch:
                return ParseExpr(ch.Expression);
        }

        // Named constants (MathF.PI, float.Epsilon, const fields) become literals.
        var constant = _model.GetConstantValue(syntax, _ct);
        if (constant.HasValue && constant.Value is IConvertible)
        {
            return Number(Convert.ToDouble(constant.Value, CultureInfo.InvariantCulture).ToString("R", CultureInfo.InvariantCulture), constant.Value, type);
        }

        Report(Diagnostics.UnsupportedExpression, syntax, syntax.ToString(), Explain(syntax));
        return Error(type);
    }

    private Expr ParseBinary(BinaryExpressionSyntax b, ValueType type)
    {
        BinaryOp? op = b.Kind() switch
        {
            SyntaxKind.AddExpression => BinaryOp.Add,
            SyntaxKind.SubtractExpression => BinaryOp.Sub,
            SyntaxKind.MultiplyExpression => BinaryOp.Mul,
            SyntaxKind.DivideExpression => BinaryOp.Div,
            SyntaxKind.LessThanExpression => BinaryOp.Lt,
            SyntaxKind.LessThanOrEqualExpression => BinaryOp.Le,
            SyntaxKind.GreaterThanExpression => BinaryOp.Gt,
            SyntaxKind.GreaterThanOrEqualExpression => BinaryOp.Ge,
            SyntaxKind.EqualsExpression => BinaryOp.Eq,
            SyntaxKind.NotEqualsExpression => BinaryOp.Ne,
            SyntaxKind.LogicalAndExpression => BinaryOp.And,
            SyntaxKind.LogicalOrExpression => BinaryOp.Or,
            _ => null,
        };
        if (op is null)
        {
            Report(Diagnostics.UnsupportedExpression, b, "operator " + b.OperatorToken.Text,
                "supported operators are + - * / < <= > >= == != && || ! and ?:");
            return Error(type);
        }

        return new BinaryExpr(op.Value, ParseExpr(b.Left), ParseExpr(b.Right), type);
    }

    private Expr ParseCall(InvocationExpressionSyntax call, ValueType type)
    {
        var method = _model.GetSymbolInfo(call, _ct).Symbol as IMethodSymbol;
        string container = method?.ContainingType?.ToDisplayString() ?? "";
        Func? func = (container is "System.Math" or "System.MathF") ? method!.Name switch
        {
            "Sqrt" => Func.Sqrt,
            "Abs" => Func.Abs,
            "Max" => Func.Max,
            "Min" => Func.Min,
            "Pow" => Func.Pow,
            "Exp" => Func.Exp,
            "Log" when method.Parameters.Length == 1 => Func.Log,
            "Sign" => Func.Sign,
            _ => null,
        } : null;

        if (func is null)
        {
            Report(Diagnostics.UnsupportedExpression, call, call.Expression.ToString(),
                "an update rule can call only MathF/Math Sqrt, Abs, Max, Min, Pow, Exp, Log and Sign");
            return Error(type);
        }

        var args = call.ArgumentList.Arguments.Select(a => ParseExpr(a.Expression)).ToEquatableArray();
        return new CallExpr(func.Value, args, func == Func.Sign ? ValueType.Float : type);
    }

    private static NumExpr Number(string text, object? value, ValueType type)
    {
        string clean = text.TrimEnd('f', 'F', 'd', 'D', 'm', 'M', 'u', 'U', 'l', 'L');
        double v = value is IConvertible c ? c.ToDouble(CultureInfo.InvariantCulture) : double.Parse(clean, CultureInfo.InvariantCulture);
        // Keep the decimal text the user wrote: step-invariant math uses it in float64 (0.96f means 0.96, as in PyTorch).
        if (!double.TryParse(clean, NumberStyles.Float, CultureInfo.InvariantCulture, out double parsed))
        {
            clean = v.ToString("R", CultureInfo.InvariantCulture);
            parsed = v;
        }

        return new NumExpr(parsed, clean, type);
    }

    private static NumExpr Error(ValueType type) => new NumExpr(0, "0", type);

    private static ValueType Promote(ValueType a, ValueType b) =>
        a == ValueType.Double || b == ValueType.Double ? ValueType.Double
        : a == ValueType.Float || b == ValueType.Float ? ValueType.Float
        : a;

    public static ValueType? ToValueType(ITypeSymbol? type) => type?.SpecialType switch
    {
        SpecialType.System_Single => ValueType.Float,
        SpecialType.System_Double => ValueType.Double,
        SpecialType.System_Int32 or SpecialType.System_Int64 => ValueType.Int,
        SpecialType.System_Boolean => ValueType.Bool,
        _ => null,
    };

    private void Report(DiagnosticDescriptor descriptor, SyntaxNode node, params string[] args) =>
        _diagnostics.Add(DiagnosticInfo.Create(descriptor, node.GetLocation(), args));

    private static string Describe(SyntaxNode node) => node switch
    {
        ForStatementSyntax or ForEachStatementSyntax or WhileStatementSyntax or DoStatementSyntax => "a loop",
        ReturnStatementSyntax => "return",
        ThrowStatementSyntax or ThrowExpressionSyntax => "throw",
        SwitchStatementSyntax => "switch (use if/else or ?:)",
        LocalFunctionStatementSyntax => "a local function",
        TryStatementSyntax => "try",
        GotoStatementSyntax or LabeledStatementSyntax => "goto",
        LocalDeclarationStatementSyntax => "a const or using declaration",
        InvocationExpressionSyntax => "a method call as a statement",
        PostfixUnaryExpressionSyntax or PrefixUnaryExpressionSyntax => "++/--",
        _ => node.ToString().Length > 40 ? node.ToString().Substring(0, 40) + "…" : node.ToString(),
    };

    private static string Explain(SyntaxNode node) => node switch
    {
        AssignmentExpressionSyntax => "assignments are statements, not values",
        LambdaExpressionSyntax => "lambdas are not supported",
        ObjectCreationExpressionSyntax or ImplicitObjectCreationExpressionSyntax => "objects cannot be created in an update rule",
        ElementAccessExpressionSyntax => "indexing is not supported: the rule sees one element at a time",
        MemberAccessExpressionSyntax => "only hyperparameters, states and constants can be read",
        _ => "this kind of expression is not supported",
    };
}

using System;
using System.Collections.Generic;
using System.CommandLine;
using System.CommandLine.Invocation;
using System.Globalization;
using System.IO;
using System.Linq;
using FusedOpt.Cli.Commands;
using Spectre.Console;

namespace FusedOpt.Cli;

/// <summary>
/// Builds the command tree. Each command is one class under Commands/ that parses its options, calls the library and
/// renders the result; long work shows Spectre.Console progress, and every command that produces numbers has --json.
/// </summary>
/// <remarks>
/// Exit codes, for every command: <see cref="ExitCodes.Success"/> (0), <see cref="ExitCodes.CheckFailed"/> (1: a replay
/// beyond tolerance, a failed gradient check, a diverged run), <see cref="ExitCodes.BadInput"/> (2: bad usage or input,
/// one line on stderr) and <see cref="ExitCodes.InternalError"/> (3: a bug, one line; <c>FUSEDOPT_TRACE=1</c> adds the
/// stack trace).
/// </remarks>
public static class CliApp
{
    /// <summary>Runs the command line with the given console (tests pass a recording one).</summary>
    public static int Run(string[] args, IAnsiConsole? console = null, TextWriter? error = null)
    {
        var context = new CliContext(console ?? AnsiConsole.Console, error ?? Console.Error);
        var root = new RootCommand("FusedOpt: optimizers declared as update rules, compiled into fused CPU and GPU kernels.");
        root.Subcommands.Add(ListCommand.Create(context));
        root.Subcommands.Add(ReplayCommand.Create(context));
        root.Subcommands.Add(DevicesCommand.Create(context));
        root.Subcommands.Add(ShadersCommand.Create(context));
        var bench = new Command("bench", "Benchmarks: optimizer steps against memory probes, GEMM, training throughput.");
        bench.Subcommands.Add(BenchStepCommand.Create(context));
        bench.Subcommands.Add(BenchSweepCommand.Create(context));
        bench.Subcommands.Add(BenchGemmCommand.Create(context));
        bench.Subcommands.Add(BenchTrainCommand.Create(context));
        root.Subcommands.Add(TrainCommand.Create(context));
        root.Subcommands.Add(CompareCommand.Create(context));
        root.Subcommands.Add(GradcheckCommand.Create(context));
        root.Subcommands.Add(GadamCommand.Create(context));
        root.Subcommands.Add(CheckModelCommand.Create(context));
        root.Subcommands.Add(PlotCommand.Create(context));
        root.Subcommands.Add(bench);

        var parse = root.Parse(args);
        if (parse.Action is ParseErrorAction)
        {
            // System.CommandLine's own report is the errors plus the whole help text, with exit code 1 (which this tool
            // reserves for failed checks). One line instead: the first problem and where the options are listed.
            context.Error.WriteLine($"error: {Friendly(CliContext.OneLine(parse.Errors[0].Message)).TrimEnd('.')}{More(parse.Errors.Count)}; see '{CommandPath(parse.CommandResult)} --help'.");
            return ExitCodes.BadInput;
        }

        if (CheckNumbers(parse) is { } problem)
        {
            context.Error.WriteLine($"error: {problem}; see '{CommandPath(parse.CommandResult)} --help'.");
            return ExitCodes.BadInput;
        }

        return parse.Invoke(new InvocationConfiguration
        {
            Output = context.Console.Profile.Out.Writer,
            Error = context.Error,
            EnableDefaultExceptionHandler = false,
        });
    }

    /// <summary>
    /// Real-valued options take plain finite numbers with a decimal point. The framework's parser also accepts
    /// thousands separators ("1,5" is 15) and NaN or infinities, which no option means; those are refused here, for
    /// every command, before any runs.
    /// </summary>
    private static string? CheckNumbers(ParseResult parse)
    {
        foreach (var result in parse.CommandResult.Children.OfType<System.CommandLine.Parsing.OptionResult>())
        {
            var type = Nullable.GetUnderlyingType(result.Option.ValueType) ?? result.Option.ValueType;
            if (type != typeof(double) && type != typeof(float))
            {
                continue;
            }

            foreach (var token in result.Tokens)
            {
                if (!double.TryParse(token.Value, NumberStyles.Float, CultureInfo.InvariantCulture, out double value))
                {
                    return $"{result.Option.Name} '{token.Value}' is not a number (write decimals with a point, e.g. 1.5)";
                }

                if (!double.IsFinite(value))
                {
                    return $"{result.Option.Name} '{token.Value}' is not a finite number";
                }
            }
        }

        return null;
    }

    /// <summary>"… as expected type 'System.Int32'" becomes "… as a whole number".</summary>
    private static string Friendly(string message)
    {
        foreach (var (type, words) in new[]
        {
            ("System.Int32", "a whole number"), ("System.Int64", "a whole number"), ("System.UInt64", "a whole number ≥ 0"),
            ("System.Double", "a number"), ("System.Single", "a number"), ("System.Boolean", "true or false"),
        })
        {
            message = message.Replace($"as expected type '{type}'", "as " + words, StringComparison.Ordinal)
                .Replace($"as expected type 'System.Nullable`1[{type}]'", "as " + words, StringComparison.Ordinal);
        }

        return message;
    }

    private static string More(int errors) => errors > 1 ? $" (and {errors - 1} more)" : "";

    private static string CommandPath(System.CommandLine.Parsing.CommandResult result)
    {
        var names = new List<string>();
        for (System.CommandLine.Parsing.SymbolResult? r = result; r is not null; r = r.Parent)
        {
            if (r is System.CommandLine.Parsing.CommandResult c && c.Command is not RootCommand)
            {
                names.Add(c.Command.Name);
            }
        }

        names.Add("fusedopt");
        names.Reverse();
        return string.Join(' ', names);
    }
}

/// <summary>The exit codes of every <c>fusedopt</c> command (the table in README.md).</summary>
public static class ExitCodes
{
    /// <summary>The command did what was asked.</summary>
    public const int Success = 0;

    /// <summary>The command ran, and a check it performs failed: a replay beyond tolerance, a failed gradient check, a diverged run.</summary>
    public const int CheckFailed = 1;

    /// <summary>Bad usage or input: an unknown option, a value out of range, a missing or malformed file, not enough memory.</summary>
    public const int BadInput = 2;

    /// <summary>A bug in FusedOpt: an exception no input should cause.</summary>
    public const int InternalError = 3;
}

/// <summary>An error in what the user asked for, reported as one line with exit code 2.</summary>
/// <param name="message">The whole message: the option, the value and what was expected.</param>
public sealed class UsageException(string message) : Exception(message);

/// <summary>Where a command writes: the (possibly recording) console and the error stream.</summary>
/// <param name="Console">Tables, progress and text.</param>
/// <param name="Error">Error messages.</param>
public sealed record CliContext(IAnsiConsole Console, TextWriter Error)
{
    /// <summary>Writes raw text (JSON) without markup processing or wrapping.</summary>
    public void WriteRaw(string text) => Console.Profile.Out.Writer.WriteLine(text);

    /// <summary>
    /// Runs a command body: known input errors (bad values, files, names, not enough memory) print one line naming the
    /// problem and exit with 2; anything else is a bug and prints one line with exit code 3 (the stack trace too when
    /// <c>FUSEDOPT_TRACE</c> is set).
    /// </summary>
    public int Guard(Func<int> body)
    {
        ArgumentNullException.ThrowIfNull(body);
        try
        {
            return body();
        }
        catch (Exception thrown)
        {
            var e = Unwrap(thrown);
            if (IsInputError(e))
            {
                Error.WriteLine("error: " + Describe(e));
                return ExitCodes.BadInput;
            }

            Error.WriteLine($"error: internal error ({e.GetType().Name}): {Describe(e)} This is a bug in FusedOpt; FUSEDOPT_TRACE=1 prints the stack trace.");
            if (Environment.GetEnvironmentVariable("FUSEDOPT_TRACE") is { Length: > 0 })
            {
                Error.WriteLine(thrown.ToString());
            }

            return ExitCodes.InternalError;
        }
    }

    /// <summary>Whether an exception reports bad input (exit 2) rather than a bug (exit 3).</summary>
    internal static bool IsInputError(Exception e) =>
        e is UsageException or ArgumentException or FormatException or OverflowException or IOException or KeyNotFoundException
            or PlatformNotSupportedException or UnauthorizedAccessException or InvalidDataException or System.Text.Json.JsonException
            or OutOfMemoryException;

    /// <summary>
    /// The message of an exception as one line, without the framework's <c>(Parameter 'x')</c> and <c>Actual value was
    /// …</c> suffixes: our messages already name the option and the value.
    /// </summary>
    public static string Describe(Exception e)
    {
        ArgumentNullException.ThrowIfNull(e);
        string text = e.Message;
        if (e is ArgumentException argument)
        {
            int actual = text.IndexOf("Actual value was", StringComparison.Ordinal);
            if (e is ArgumentOutOfRangeException && actual >= 0)
            {
                text = text[..actual];
            }

            text = text.TrimEnd();
            if (argument.ParamName is { } name && text.EndsWith($"(Parameter '{name}')", StringComparison.Ordinal))
            {
                text = text[..^$"(Parameter '{name}')".Length].TrimEnd();
            }
        }

        if (e is OutOfMemoryException and not InsufficientMemoryException)
        {
            text = "not enough memory for what was asked (" + text.TrimEnd('.') + "); ask for a smaller size.";
        }

        return OneLine(text);
    }

    /// <summary>Joins the lines of a message into one.</summary>
    public static string OneLine(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return string.Join(' ', text.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
    }

    /// <summary>
    /// Checks a count option: an error naming the option and the value unless it lies in [<paramref name="min"/>,
    /// <paramref name="max"/>].
    /// </summary>
    public static int Require(string option, int value, int min, int max = int.MaxValue) =>
        value >= min && value <= max ? value
        : throw new UsageException(max == int.MaxValue ? $"{option} must be ≥ {min}, got {value}." : $"{option} must be between {min} and {max}, got {value}.");

    private static Exception Unwrap(Exception e)
    {
        while (e is AggregateException { InnerExceptions.Count: 1 } aggregate)
        {
            e = aggregate.InnerExceptions[0];
        }

        while (e is System.Reflection.TargetInvocationException { InnerException: { } inner })
        {
            e = inner;
        }

        return e;
    }
}

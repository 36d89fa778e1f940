using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;

namespace FusedOpt.Models.Training.Schedules;

/// <summary>
/// Parses the compact schedule specs the CLI takes (<c>--lr-schedule</c>). See <see cref="Grammar"/>; kinds and keys
/// are case-insensitive, spaces around tokens are ignored, numbers use '.' as the decimal point.
/// </summary>
public static class ScheduleSpec
{
    /// <summary>The accepted forms, one per line, for help texts and error messages.</summary>
    public const string Grammar =
        """
        constant
        step:E1,E2,...:GAMMA                        ×GAMMA at each epoch Ei (e.g. step:150:0.1)
        linear:tau=N,final=F[,per=iteration|epoch]  (1−k/τ)·η₀ + (k/τ)·F·η₀ until τ, then F·η₀
        inverse:decay=D[,per=iteration|epoch]       η₀ · 1/(1 + D·t)
        cosine:T=N[,min=F][,per=iteration|epoch]    F·η₀ + (1−F)·η₀·(1 + cos(πt/T))/2 until T, then F·η₀
        """;

    private static readonly string[] Kinds =
        [ConstantSchedule.Kind, StepDecaySchedule.Kind, LinearDecaySchedule.Kind, InverseTimeDecaySchedule.Kind, CosineAnnealingSchedule.Kind];

    /// <summary>Parses <paramref name="spec"/>; a <see cref="ScheduleSpecException"/> names the bad token and the expected form.</summary>
    public static LearningRateSchedule Parse(string spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var reader = new Reader(spec);
        int colon = spec.IndexOf(':', StringComparison.Ordinal);
        string kind = (colon < 0 ? spec : spec[..colon]).Trim().ToLowerInvariant();
        string arguments = colon < 0 ? string.Empty : spec[(colon + 1)..];
        return kind switch
        {
            ConstantSchedule.Kind => colon < 0 || arguments.Trim().Length == 0
                ? new ConstantSchedule()
                : throw reader.Error(arguments, "constant takes no arguments"),
            StepDecaySchedule.Kind => ParseStep(reader, arguments),
            LinearDecaySchedule.Kind => ParseLinear(reader, arguments),
            InverseTimeDecaySchedule.Kind => ParseInverse(reader, arguments),
            CosineAnnealingSchedule.Kind => ParseCosine(reader, arguments),
            "" => throw reader.Error(spec, "the spec is empty; expected one of " + string.Join(", ", Kinds)),
            _ => throw reader.Error(kind, $"unknown schedule '{kind}'; expected one of {string.Join(", ", Kinds)}"),
        };
    }

    /// <summary>Parses <paramref name="spec"/> or returns false with the error message.</summary>
    public static bool TryParse(string spec, out LearningRateSchedule? schedule, out string? error)
    {
        try
        {
            schedule = Parse(spec);
            error = null;
            return true;
        }
        catch (ScheduleSpecException e)
        {
            schedule = null;
            error = e.Message;
            return false;
        }
    }

    private static StepDecaySchedule ParseStep(Reader reader, string arguments)
    {
        const string form = "step:E1,E2,...:GAMMA";
        string[] parts = arguments.Split(':');
        if (parts.Length != 2 || parts[0].Trim().Length == 0)
        {
            throw reader.Error(arguments, $"'{arguments.Trim()}' is not milestone epochs, then ':', then the factor", form);
        }

        var milestones = new List<int>();
        foreach (string token in parts[0].Split(','))
        {
            if (!int.TryParse(token.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out int epoch))
            {
                throw reader.Error(token, $"milestone '{token.Trim()}' is not a whole number of epochs", form);
            }

            milestones.Add(epoch);
        }

        double gamma = reader.Number(parts[1], parts[1], "gamma", form);
        return reader.Build(form, () => new StepDecaySchedule(milestones, gamma), new() { ["milestones"] = parts[0], ["gamma"] = parts[1] });
    }

    private static LinearDecaySchedule ParseLinear(Reader reader, string arguments)
    {
        const string form = "linear:tau=N,final=F[,per=iteration|epoch]";
        var keys = reader.Pairs(arguments, form, ["tau", "final", "per"], ["tau", "final"]);
        long tau = reader.Integer(keys["tau"], "tau", form);
        double final = reader.Number(keys["final"].Value, keys["final"].Token, "final", form);
        ScheduleUnit per = reader.Unit(keys, form);
        return reader.Build(form, () => new LinearDecaySchedule(tau, final, per), Tokens(keys));
    }

    private static InverseTimeDecaySchedule ParseInverse(Reader reader, string arguments)
    {
        const string form = "inverse:decay=D[,per=iteration|epoch]";
        var keys = reader.Pairs(arguments, form, ["decay", "per"], ["decay"]);
        double decay = reader.Number(keys["decay"].Value, keys["decay"].Token, "decay", form);
        ScheduleUnit per = reader.Unit(keys, form);
        return reader.Build(form, () => new InverseTimeDecaySchedule(decay, per), Tokens(keys));
    }

    private static CosineAnnealingSchedule ParseCosine(Reader reader, string arguments)
    {
        const string form = "cosine:T=N[,min=F][,per=iteration|epoch]";
        var keys = reader.Pairs(arguments, form, ["t", "min", "per"], ["t"]);
        long t = reader.Integer(keys["t"], "T", form);
        double minimum = keys.TryGetValue("min", out var min) ? reader.Number(min.Value, min.Token, "min", form) : 0;
        ScheduleUnit per = reader.Unit(keys, form);
        return reader.Build(form, () => new CosineAnnealingSchedule(t, minimum, per), Tokens(keys));
    }

    /// <summary>Constructor parameter name → the token it came from, so a range error names the token.</summary>
    private static Dictionary<string, string> Tokens(Dictionary<string, (string Value, string Token)> keys) =>
        keys.ToDictionary(static p => p.Key switch { "min" => "minimum", _ => p.Key }, static p => p.Value.Token, StringComparer.Ordinal);

    /// <summary>Holds the spec being parsed, for error messages.</summary>
    private readonly struct Reader(string spec)
    {
        public ScheduleSpecException Error(string token, string problem, string? form = null, Exception? inner = null) =>
            new(spec, token.Trim(), $"Learning-rate schedule '{spec}': {problem}{(form is null ? "" : $"; expected {form}")}.", inner);

        /// <summary>key=value pairs separated by commas; keys lower-cased, checked against the allowed and required sets.</summary>
        public Dictionary<string, (string Value, string Token)> Pairs(string arguments, string form, string[] allowed, string[] required)
        {
            var result = new Dictionary<string, (string Value, string Token)>(StringComparer.Ordinal);
            if (arguments.Trim().Length > 0)
            {
                foreach (string token in arguments.Split(','))
                {
                    int eq = token.IndexOf('=', StringComparison.Ordinal);
                    if (eq < 0)
                    {
                        throw Error(token, $"'{token.Trim()}' is not key=value", form);
                    }

                    string key = token[..eq].Trim().ToLowerInvariant();
                    if (!allowed.Contains(key))
                    {
                        throw Error(token, $"unknown key '{token[..eq].Trim()}' in '{token.Trim()}'", form);
                    }

                    if (!result.TryAdd(key, (token[(eq + 1)..].Trim(), token.Trim())))
                    {
                        throw Error(token, $"'{key}' is given twice", form);
                    }
                }
            }

            foreach (string key in required)
            {
                if (!result.ContainsKey(key))
                {
                    throw Error(arguments, $"missing '{(key == "t" ? "T" : key)}='", form);
                }
            }

            return result;
        }

        public double Number(string text, string token, string name, string form)
        {
            if (!double.TryParse(text.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out double value) || !double.IsFinite(value))
            {
                throw Error(token, $"{name} '{text.Trim()}' in '{token.Trim()}' is not a finite number", form);
            }

            return value;
        }

        public long Integer((string Value, string Token) pair, string name, string form)
        {
            if (!long.TryParse(pair.Value, NumberStyles.None, CultureInfo.InvariantCulture, out long value))
            {
                throw Error(pair.Token, $"{name} '{pair.Value}' in '{pair.Token}' is not a whole number", form);
            }

            return value;
        }

        public ScheduleUnit Unit(Dictionary<string, (string Value, string Token)> keys, string form)
        {
            if (!keys.TryGetValue("per", out var per))
            {
                return ScheduleUnit.Iteration;
            }

            return per.Value.ToLowerInvariant() switch
            {
                "iteration" or "iter" => ScheduleUnit.Iteration,
                "epoch" => ScheduleUnit.Epoch,
                _ => throw Error(per.Token, $"per '{per.Value}' in '{per.Token}' must be iteration or epoch", form),
            };
        }

        /// <summary>Runs a constructor; its range errors are reported against the token of the parameter they name.</summary>
        public T Build<T>(string form, Func<T> create, Dictionary<string, string> tokens)
        {
            try
            {
                return create();
            }
            catch (ArgumentException e) when (e.ParamName is not null && tokens.TryGetValue(e.ParamName, out string? token))
            {
                string problem = e.Message[..(e.Message.IndexOf(" (Parameter", StringComparison.Ordinal) is int i and >= 0 ? i : e.Message.Length)].TrimEnd('.');
                throw Error(token, $"'{token.Trim()}': {problem}", form, e);
            }
        }
    }
}

using System;

namespace FusedOpt.Models.Training.Schedules;

/// <summary>A learning-rate schedule spec that cannot be parsed; the message names the spec, the bad token and what was expected.</summary>
public sealed class ScheduleSpecException : FormatException
{
    /// <summary>Creates the exception for <paramref name="token"/> of <paramref name="spec"/>.</summary>
    public ScheduleSpecException(string spec, string token, string message, Exception? innerException = null)
        : base(message, innerException)
    {
        Spec = spec;
        Token = token;
    }

    /// <summary>Creates the exception with a message only.</summary>
    public ScheduleSpecException(string message)
        : this(string.Empty, string.Empty, message)
    {
    }

    /// <summary>Creates the exception with a message and its cause.</summary>
    public ScheduleSpecException(string message, Exception innerException)
        : this(string.Empty, string.Empty, message, innerException)
    {
    }

    /// <summary>Creates the exception with no message (required by the exception pattern).</summary>
    public ScheduleSpecException()
        : this("Invalid learning-rate schedule spec.")
    {
    }

    /// <summary>The whole spec.</summary>
    public string Spec { get; }

    /// <summary>The token at fault (a kind, a key=value pair, a milestone list or a number).</summary>
    public string Token { get; }
}

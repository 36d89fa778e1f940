using FusedOpt.Generator.Helpers;
using Microsoft.CodeAnalysis;

namespace FusedOpt.Generator.Model;

/// <summary>
/// A diagnostic as data: the descriptor id, a location as a value, and the message arguments already turned into
/// strings, so that nothing from the compilation is kept alive.
/// </summary>
internal sealed record DiagnosticInfo(string Id, LocationInfo? Location, EquatableArray<string> Arguments)
{
    public static DiagnosticInfo Create(DiagnosticDescriptor descriptor, Location? location, params string[] arguments) =>
        new(descriptor.Id, LocationInfo.From(location), new EquatableArray<string>(arguments));

    public static DiagnosticInfo Create(DiagnosticDescriptor descriptor, LocationInfo? location, params string[] arguments) =>
        new(descriptor.Id, location, new EquatableArray<string>(arguments));

    public Diagnostic ToDiagnostic() =>
        Diagnostic.Create(Diagnostics.ById(Id), Location?.ToLocation() ?? Microsoft.CodeAnalysis.Location.None, Arguments.AsArray());
}

/// <summary>A value and the diagnostics produced while computing it, kept together until the pipeline splits them.</summary>
internal sealed record Result<T>(T? Value, EquatableArray<DiagnosticInfo> Diagnostics)
    where T : class;

using FusedOpt.Generator.Helpers;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Text;

namespace FusedOpt.Generator.Model;

/// <summary>
/// A diagnostic as data: the descriptor id, a location as path + spans, and the message arguments already
/// turned into strings, so that nothing from the compilation is kept alive.
/// </summary>
internal sealed record DiagnosticInfo(string Id, string FilePath, TextSpan Span, LinePositionSpan LineSpan, EquatableArray<string> Arguments)
{
    public static DiagnosticInfo Create(DiagnosticDescriptor descriptor, Location? location, params string[] arguments)
    {
        location ??= Location.None;
        var lineSpan = location.GetLineSpan();
        return new DiagnosticInfo(descriptor.Id, lineSpan.Path ?? "", location.SourceSpan, lineSpan.Span, new EquatableArray<string>(arguments));
    }

    public Diagnostic ToDiagnostic()
    {
        var location = string.IsNullOrEmpty(FilePath) ? Location.None : Location.Create(FilePath, Span, LineSpan);
        return Diagnostic.Create(Diagnostics.ById(Id), location, Arguments.AsArray());
    }
}

/// <summary>A value and the diagnostics produced while computing it, kept together until the pipeline splits them.</summary>
internal sealed record Result<T>(T? Value, EquatableArray<DiagnosticInfo> Diagnostics)
    where T : class;

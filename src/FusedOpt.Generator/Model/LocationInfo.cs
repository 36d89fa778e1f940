using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Text;

namespace FusedOpt.Generator.Model;

/// <summary>
/// A source location as a value (file path, text span, line span), so that stage outputs holding it compare by
/// content and keep nothing of the compilation alive. <see cref="ToLocation"/> turns it back into a Roslyn location
/// when a diagnostic is reported.
/// </summary>
internal sealed record LocationInfo(string FilePath, TextSpan Span, LinePositionSpan LineSpan)
{
    /// <summary>The value of <paramref name="location"/>, or null for none or a location outside source.</summary>
    public static LocationInfo? From(Location? location)
    {
        if (location is null || !location.IsInSource)
        {
            return null;
        }

        var lineSpan = location.GetLineSpan();
        return new LocationInfo(lineSpan.Path ?? "", location.SourceSpan, lineSpan.Span);
    }

    public Location ToLocation() => Location.Create(FilePath, Span, LineSpan);
}

using System;
using System.Text;

namespace FusedOpt.Generator.Emit;

/// <summary>An indenting text writer for generated C#: four spaces per level, \n line endings, no trailing spaces.</summary>
internal sealed class CodeWriter
{
    private readonly StringBuilder _sb = new();
    private int _indent;

    public CodeWriter Line(string text = "")
    {
        if (text.Length > 0)
        {
            _sb.Append(' ', _indent * 4).Append(text);
        }

        _sb.Append('\n');
        return this;
    }

    /// <summary>Writes each line of <paramref name="block"/> at the current indentation (its own indentation kept).</summary>
    public CodeWriter Lines(string block, bool keepEmpty = true)
    {
        foreach (var line in block.Replace("\r\n", "\n").Split('\n'))
        {
            if (keepEmpty || line.Trim().Length > 0)
            {
                Line(line.TrimEnd());
            }
        }

        return this;
    }

    public bool IsEmpty => _sb.Length == 0;

    public IDisposable Block(string header)
    {
        Line(header);
        Line("{");
        _indent++;
        return new Closer(this, "}");
    }

    public IDisposable Block(string header, string closer)
    {
        Line(header);
        Line("{");
        _indent++;
        return new Closer(this, closer);
    }

    public void Indent() => _indent++;

    public void Outdent() => _indent--;

    public override string ToString() => _sb.ToString();

    private sealed class Closer(CodeWriter writer, string closer) : IDisposable
    {
        public void Dispose()
        {
            writer._indent--;
            writer.Line(closer);
        }
    }
}

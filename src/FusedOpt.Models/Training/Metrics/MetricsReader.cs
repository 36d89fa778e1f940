using System;
using System.Collections.Generic;
using System.IO;
using System.Text.Json;

namespace FusedOpt.Models.Training.Metrics;

/// <summary>Reads metrics files written by <see cref="MetricsWriter"/> (for <c>compare</c>, plots and tests).</summary>
public static class MetricsReader
{
    /// <summary>
    /// Every record of <paramref name="path"/> in order. Blank lines are skipped. A last line that is not valid JSON
    /// and has no newline (the process died while writing it) is dropped; any other bad line throws, naming the file
    /// and the line number.
    /// </summary>
    public static IReadOnlyList<MetricsRecord> ReadAll(string path)
    {
        string text = File.ReadAllText(path);
        var records = new List<MetricsRecord>();
        string[] lines = text.Split('\n');
        bool endsWithNewline = text.EndsWith('\n');
        for (int i = 0; i < lines.Length; i++)
        {
            string line = lines[i].TrimEnd('\r');
            if (line.Trim().Length == 0)
            {
                continue;
            }

            try
            {
                records.Add(JsonSerializer.Deserialize(line, MetricsJsonContext.Default.MetricsRecord)
                    ?? throw new JsonException("null record"));
            }
            catch (JsonException) when (i == lines.Length - 1 && !endsWithNewline)
            {
                // An unfinished last line: the writer was interrupted. Everything before it is intact.
            }
            catch (Exception e) when (e is JsonException or NotSupportedException)
            {
                throw new InvalidDataException($"{path}: line {i + 1} is not a metrics record ({e.Message}).", e);
            }
        }

        return records;
    }
}

using System;
using System.Buffers;
using System.IO;
using System.Text.Json;

namespace FusedOpt.Models.Training.Metrics;

/// <summary>
/// Appends <see cref="MetricsRecord"/>s to a JSON Lines file, one object per line. Each record is serialized into a
/// reused buffer and handed to the operating system in one write followed by a flush, so a crash of the process
/// loses at most the line being written; with <c>durable: true</c> each line is also forced to disk (fsync), which
/// survives a machine crash at the cost of a disk sync per line. Safe to call from several threads.
/// </summary>
public sealed class MetricsWriter : IDisposable
{
    private readonly Stream _stream;
    private readonly bool _leaveOpen;
    private readonly bool _durable;
    private readonly ArrayBufferWriter<byte> _buffer = new(512);
    private readonly Utf8JsonWriter _json;
    private readonly object _gate = new();
    private bool _disposed;

    /// <summary>Opens <paramref name="path"/> (creating its folder), appending to it or replacing it.</summary>
    public MetricsWriter(string path, bool append = false, bool durable = false)
        : this(Open(path, append), leaveOpen: false, durable)
    {
        Path = System.IO.Path.GetFullPath(path);
    }

    /// <summary>Writes to <paramref name="stream"/>; disposes it with the writer unless <paramref name="leaveOpen"/>.</summary>
    public MetricsWriter(Stream stream, bool leaveOpen = false, bool durable = false)
    {
        ArgumentNullException.ThrowIfNull(stream);
        if (!stream.CanWrite)
        {
            throw new ArgumentException("The metrics stream must be writable.", nameof(stream));
        }

        _stream = stream;
        _leaveOpen = leaveOpen;
        _durable = durable;
        _json = new Utf8JsonWriter(_buffer, new JsonWriterOptions { SkipValidation = false });
        Path = string.Empty;
    }

    /// <summary>The file written, or empty for a stream.</summary>
    public string Path { get; }

    /// <summary>Lines written so far.</summary>
    public long Lines { get; private set; }

    /// <summary>
    /// Bytes in the file after the last complete line (its length, since every line is handed over whole), or −1 for
    /// a stream that cannot seek. A checkpoint records it, so a resumed run can cut the file back to exactly there.
    /// </summary>
    public long Position
    {
        get
        {
            lock (_gate)
            {
                return _stream.CanSeek ? _stream.Position : -1;
            }
        }
    }

    /// <summary>Writes <paramref name="record"/> as one line and flushes it.</summary>
    public void Write(MetricsRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            _buffer.ResetWrittenCount();
            _json.Reset(_buffer);
            JsonSerializer.Serialize(_json, record, MetricsJsonContext.Default.MetricsRecord);
            _json.Flush();
            EndLine();
        }
    }

    /// <summary>
    /// Writes an <see cref="IterationMetrics"/> line from its values without allocating: the same bytes as
    /// <see cref="Write"/> of the record (a training loop calls this once per step).
    /// </summary>
    public void WriteIteration(long iteration, int epoch, double loss, double learningRate, double? accuracy = null, double? seconds = null)
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            _buffer.ResetWrittenCount();
            _json.Reset(_buffer);
            _json.WriteStartObject();
            _json.WriteString("kind"u8, "iteration"u8);
            _json.WriteNumber("iteration"u8, iteration);
            _json.WriteNumber("epoch"u8, epoch);
            Number("loss"u8, loss);
            Number("learningRate"u8, learningRate);
            if (accuracy is { } a)
            {
                Number("accuracy"u8, a);
            }

            if (seconds is { } t)
            {
                Number("seconds"u8, t);
            }

            _json.WriteEndObject();
            _json.Flush();
            EndLine();
        }
    }

    /// <summary>A double as the serializer writes it with named floating-point literals: non-finite values as strings.</summary>
    private void Number(ReadOnlySpan<byte> name, double value)
    {
        if (double.IsFinite(value))
        {
            _json.WriteNumber(name, value);
        }
        else
        {
            _json.WriteString(name, double.IsNaN(value) ? "NaN"u8 : value > 0 ? "Infinity"u8 : "-Infinity"u8);
        }
    }

    /// <summary>Adds the newline and hands the line to the stream in one write (with a flush or fsync).</summary>
    private void EndLine()
    {
        _buffer.GetSpan(1)[0] = (byte)'\n';
        _buffer.Advance(1);
        _stream.Write(_buffer.WrittenSpan);
        if (_durable && _stream is FileStream file)
        {
            file.Flush(flushToDisk: true);
        }
        else
        {
            _stream.Flush();
        }

        Lines++;
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            _json.Dispose();
            if (!_leaveOpen)
            {
                _stream.Dispose();
            }
        }
    }

    private static FileStream Open(string path, bool append)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        string full = System.IO.Path.GetFullPath(path);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(full)!);

        // bufferSize 0: no FileStream buffer, so each Write reaches the operating system at once.
        return new FileStream(full, append ? FileMode.Append : FileMode.Create, FileAccess.Write, FileShare.Read, bufferSize: 0);
    }
}

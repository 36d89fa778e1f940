using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.IO;
using System.Runtime.InteropServices;
using System.IO.Hashing;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using FusedOpt.IO;
using FusedOpt.Models.Data;

namespace FusedOpt.Models.Training;

/// <summary>A checkpoint that cannot be read: truncated, corrupt, of another version, or of other data.</summary>
public sealed class CheckpointException : IOException
{
    /// <summary>Creates the exception.</summary>
    public CheckpointException(string message, Exception? inner = null)
        : base(message, inner)
    {
    }
}

/// <summary>What a checkpoint records besides the optimizer state: the run's options and where it stands.</summary>
/// <param name="Options">The run's options.</param>
/// <param name="Epoch">Epochs completed.</param>
/// <param name="Iteration">Optimizer steps taken.</param>
/// <param name="Batches">The training iterator: epoch, batch, shuffle and augmentation RNG states.</param>
/// <param name="Mean">Per-channel normalisation mean of the training data.</param>
/// <param name="Std">Per-channel normalisation std.</param>
/// <param name="DataFolder">The data folder the run trained on (full path), so a resume needs no <c>--data</c>; null in version 1.</param>
/// <param name="MetricsBytes">
/// Length of the run's <c>metrics.jsonl</c> after this epoch's record; a resumed run cuts the file back to it. Null
/// when the run wrote no metrics file, and in version 1 (then the file is cut after this epoch's record).
/// </param>
public sealed record CheckpointHeader(
    TrainOptions Options, int Epoch, long Iteration, MinibatchState Batches, double[] Mean, double[] Std,
    string? DataFolder = null, long? MetricsBytes = null);

/// <summary>A non-trainable tensor (BatchNorm running statistics) as a checkpoint stores it.</summary>
/// <param name="Name">The buffer's name in the model (<c>bn1.running_mean</c>).</param>
/// <param name="Values">Its values.</param>
public sealed record CheckpointBuffer(string Name, float[] Values);

/// <summary>What <see cref="Checkpoint.Read"/> returns.</summary>
/// <param name="Header">Options, counters, data order, data folder, metrics length.</param>
/// <param name="Optimizer">The optimizer state file (parameters, states, step counts, hyperparameters).</param>
/// <param name="Buffers">The model's buffers, in model order (empty in version 1).</param>
/// <param name="Version">The file's format version.</param>
public sealed record CheckpointContents(CheckpointHeader Header, ReadOnlyMemory<byte> Optimizer, IReadOnlyList<CheckpointBuffer> Buffers, uint Version);

/// <summary>
/// Training checkpoints: one file, written to a temporary name (<c>{name}.tmp-{process id}</c>) and renamed, so a
/// crash leaves the previous checkpoint intact. Layout (version 2): <c>"FOPTCKPT"</c>, u32 version, u32 header
/// length, the header as JSON, u64 optimizer-state length, the optimizer state file (parameters, states, step counts,
/// hyperparameters; it carries its own checksum), u32 buffer count and per buffer (u32 name length, UTF-8 name, u32
/// value count, float32 values), then XxHash3 of everything. All integers little-endian. Version 1 (no buffers, the
/// optimizer state up to the checksum) is still read.
/// </summary>
public static class Checkpoint
{
    /// <summary>Current version.</summary>
    public const uint Version = 2;

    /// <summary>The checkpoint's file name inside a run folder.</summary>
    public const string FileName = "checkpoint.fopt";

    private static readonly byte[] Magic = "FOPTCKPT"u8.ToArray();

    private static readonly JsonSerializerOptions Json = new()
    {
        Converters = { new JsonStringEnumConverter() },
        IncludeFields = true,
    };

    /// <summary>Writes a checkpoint atomically: to <c>{path}.tmp-{process id}</c>, flushed to disk, then renamed.</summary>
    public static void Save(string path, CheckpointHeader header, Optimizer optimizer, IReadOnlyList<CheckpointBuffer>? buffers = null)
    {
        ArgumentNullException.ThrowIfNull(header);
        ArgumentNullException.ThrowIfNull(optimizer);
        buffers ??= [];
        string full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        AtomicFile.Write(
            full,
            file =>
            {
                var body = new MemoryStream();
                byte[] json = JsonSerializer.SerializeToUtf8Bytes(header, Json);
                body.Write(Magic);
                WriteUInt32(body, Version);
                WriteUInt32(body, (uint)json.Length);
                body.Write(json);
                long lengthAt = body.Position;
                WriteUInt64(body, 0);
                optimizer.Save(body);
                long optimizerLength = body.Position - lengthAt - 8;
                WriteUInt32(body, (uint)buffers.Count);
                foreach (var buffer in buffers)
                {
                    byte[] name = Encoding.UTF8.GetBytes(buffer.Name);
                    WriteUInt32(body, (uint)name.Length);
                    body.Write(name);
                    WriteUInt32(body, (uint)buffer.Values.Length);
                    body.Write(MemoryMarshal.AsBytes(buffer.Values.AsSpan()));
                }

                var bytes = body.GetBuffer().AsSpan(0, (int)body.Length);
                BinaryPrimitives.WriteUInt64LittleEndian(bytes[(int)lengthAt..], (ulong)optimizerLength);
                file.Write(bytes);
                Span<byte> digest = stackalloc byte[8];
                BinaryPrimitives.WriteUInt64LittleEndian(digest, XxHash3.HashToUInt64(bytes));
                file.Write(digest);
            },
            1 << 20);
    }

    /// <summary>
    /// Deletes the temporary files a killed <see cref="Save"/> left beside <paramref name="path"/>
    /// (<c>{name}.tmp-{digits}</c>, nothing else) and returns their names.
    /// </summary>
    public static IReadOnlyList<string> RemoveStaleTemporaries(string path) => AtomicFile.RemoveStaleTemporaries(path);

    /// <summary>Reads and checks a checkpoint: magic, version, checksum, header, section lengths.</summary>
    public static CheckpointContents Read(string path)
    {
        if (!File.Exists(path))
        {
            throw new CheckpointException($"{path}: no such checkpoint.");
        }

        byte[] bytes = File.ReadAllBytes(path);
        int fixedPart = Magic.Length + 8;
        if (bytes.Length < fixedPart + 8 || !bytes.AsSpan(0, Magic.Length).SequenceEqual(Magic))
        {
            throw new CheckpointException($"{path}: not a FusedOpt checkpoint (bad magic or {bytes.Length} bytes).");
        }

        uint version = BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(Magic.Length));
        if (version is not (1 or Version))
        {
            throw new CheckpointException($"{path}: checkpoint version {version} is not supported; this build reads versions 1 and {Version}.");
        }

        var body = bytes.AsSpan(0, bytes.Length - 8);
        if (XxHash3.HashToUInt64(body) != BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(bytes.Length - 8)))
        {
            throw new CheckpointException($"{path}: checksum mismatch; the checkpoint is truncated or corrupt.");
        }

        int jsonLength = (int)BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(Magic.Length + 4));
        if (jsonLength < 2 || (long)fixedPart + jsonLength > body.Length)
        {
            throw new CheckpointException($"{path}: header length {jsonLength} does not fit in {body.Length} bytes.");
        }

        CheckpointHeader? header;
        try
        {
            header = JsonSerializer.Deserialize<CheckpointHeader>(Encoding.UTF8.GetString(bytes, fixedPart, jsonLength), Json);
        }
        catch (JsonException e)
        {
            throw new CheckpointException($"{path}: the header is not valid: {e.Message}", e);
        }

        if (header?.Options is null || header.Mean is null || header.Std is null)
        {
            throw new CheckpointException($"{path}: the header is empty or incomplete.");
        }

        int at = fixedPart + jsonLength;
        if (version == 1)
        {
            return new CheckpointContents(header, bytes.AsMemory(at, body.Length - at), [], version);
        }

        var reader = new SectionReader(path, bytes, at, body.Length);
        long optimizerLength = (long)reader.UInt64("optimizer state length");
        var optimizer = bytes.AsMemory(reader.Take(optimizerLength, "optimizer state"), (int)optimizerLength);
        uint count = reader.UInt32("buffer count");
        var buffers = new List<CheckpointBuffer>();
        for (uint i = 0; i < count; i++)
        {
            uint nameLength = reader.UInt32("buffer name length");
            string name = Encoding.UTF8.GetString(bytes, reader.Take(nameLength, "buffer name"), (int)nameLength);
            uint values = reader.UInt32($"length of buffer '{name}'");
            int start = reader.Take(4L * values, $"buffer '{name}'");
            buffers.Add(new CheckpointBuffer(name, MemoryMarshal.Cast<byte, float>(bytes.AsSpan(start, (int)(4L * values))).ToArray()));
        }

        if (reader.Position != body.Length)
        {
            throw new CheckpointException($"{path}: {body.Length - reader.Position} bytes follow the last section.");
        }

        return new CheckpointContents(header, optimizer, buffers, version);
    }

    private static void WriteUInt32(Stream stream, uint value)
    {
        Span<byte> word = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(word, value);
        stream.Write(word);
    }

    private static void WriteUInt64(Stream stream, ulong value)
    {
        Span<byte> word = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(word, value);
        stream.Write(word);
    }

    /// <summary>Reads the sections after the header, refusing any length that runs past the body.</summary>
    private sealed class SectionReader(string path, byte[] bytes, int start, int end)
    {
        public int Position { get; private set; } = start;

        public int Take(long length, string what)
        {
            if (length < 0 || length > end - Position)
            {
                throw new CheckpointException($"{path}: the {what} ({length} bytes) runs past the end of the checkpoint.");
            }

            int at = Position;
            Position += (int)length;
            return at;
        }

        public uint UInt32(string what) => BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(Take(4, what), 4));

        public ulong UInt64(string what) => BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(Take(8, what), 8));
    }
}

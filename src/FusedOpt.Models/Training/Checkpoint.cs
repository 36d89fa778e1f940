using System;
using System.Buffers.Binary;
using System.IO;
using System.IO.Hashing;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
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
public sealed record CheckpointHeader(TrainOptions Options, int Epoch, long Iteration, MinibatchState Batches, double[] Mean, double[] Std);

/// <summary>
/// Training checkpoints: one file, written to a temporary name and renamed, so a crash leaves the previous checkpoint
/// intact. Layout: <c>"FOPTCKPT"</c>, u32 version, u32 header length, the header as JSON, then the optimizer state
/// file (parameters, states, step counts, hyperparameters; it carries its own checksum), then XxHash3 of everything.
/// </summary>
public static class Checkpoint
{
    /// <summary>Current version.</summary>
    public const uint Version = 1;

    private static readonly byte[] Magic = "FOPTCKPT"u8.ToArray();

    private static readonly JsonSerializerOptions Json = new()
    {
        Converters = { new JsonStringEnumConverter() },
        IncludeFields = true,
    };

    /// <summary>Writes a checkpoint atomically.</summary>
    public static void Save(string path, CheckpointHeader header, Optimizer optimizer)
    {
        ArgumentNullException.ThrowIfNull(header);
        ArgumentNullException.ThrowIfNull(optimizer);
        string full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        string temp = full + $".tmp-{Environment.ProcessId}";
        try
        {
            using (var file = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
            {
                var body = new MemoryStream();
                byte[] json = JsonSerializer.SerializeToUtf8Bytes(header, Json);
                body.Write(Magic);
                Span<byte> word = stackalloc byte[4];
                BinaryPrimitives.WriteUInt32LittleEndian(word, Version);
                body.Write(word);
                BinaryPrimitives.WriteUInt32LittleEndian(word, (uint)json.Length);
                body.Write(word);
                body.Write(json);
                optimizer.Save(body);
                var bytes = body.GetBuffer().AsSpan(0, (int)body.Length);
                file.Write(bytes);
                Span<byte> digest = stackalloc byte[8];
                BinaryPrimitives.WriteUInt64LittleEndian(digest, XxHash3.HashToUInt64(bytes));
                file.Write(digest);
                file.Flush(flushToDisk: true);
            }

            File.Move(temp, full, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp))
            {
                File.Delete(temp);
            }
        }
    }

    /// <summary>Reads and checks a checkpoint; returns the header and the optimizer state bytes.</summary>
    public static (CheckpointHeader Header, ReadOnlyMemory<byte> Optimizer) Read(string path)
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
        if (version != Version)
        {
            throw new CheckpointException($"{path}: checkpoint version {version} is not supported; this build reads version {Version}.");
        }

        var body = bytes.AsSpan(0, bytes.Length - 8);
        if (XxHash3.HashToUInt64(body) != BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(bytes.Length - 8)))
        {
            throw new CheckpointException($"{path}: checksum mismatch; the checkpoint is truncated or corrupt.");
        }

        int jsonLength = (int)BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(Magic.Length + 4));
        if (jsonLength < 2 || fixedPart + jsonLength > body.Length)
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

        return header is null
            ? throw new CheckpointException($"{path}: the header is empty.")
            : (header, bytes.AsMemory(fixedPart + jsonLength, body.Length - fixedPart - jsonLength));
    }
}

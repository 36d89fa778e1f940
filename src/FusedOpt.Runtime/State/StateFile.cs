using System;
using System.Buffers;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.IO;
using System.IO.Hashing;
using System.Linq;
using System.Text;
using FusedOpt.IO;
using FusedOpt.Memory;

namespace FusedOpt.State;

/// <summary>A state file that cannot be loaded: truncated, corrupt, of another version or another optimizer/model.</summary>
public sealed class StateFileException : IOException
{
    /// <summary>Creates the exception.</summary>
    public StateFileException(string message)
        : base(message)
    {
    }
}

/// <summary>
/// The optimizer state format, version 2, little-endian:
/// <code>
/// "FOPTSTAT" u32 version
/// str optimizer  str typeName
/// u32 H  H×str hyperparameter     u32 S  S×str state     u32 Q  Q×str stepState
/// u32 groups  per group: i64 step, H×f64 hyperparameters, Q×f64 step states
/// i64 arenaLength  u32 tensors  per tensor: str name, u32 group, i64 offset, u32 rank, rank×i32 dims
/// u8 hasParameters  [f32×arenaLength parameters]
/// S× (u8 format [the state in that format])
///     format 0: absent; 1: f32×arenaLength; 2: bf16 (u16)×arenaLength;
///     3, 4: q8 with the signed/unsigned dynamic map: i64 minElements, u8×arenaLength codes, f32 absmax per
///     block of 256 elements of each tensor of at least minElements (blocks start at the tensor's offset; its last
///     block may be short), then f32 values of the smaller tensors, in tensor order
/// u64 XxHash3 of every byte above
/// </code>
/// Version 1 is the same with formats 0 and 1 only; it still loads. A state is loaded into whatever storage the
/// optimizer uses: a file written with fp32 states loads into a q8 optimizer (quantized on load) and the other way
/// round (dequantized). Strings are u16 length + UTF-8. A file is written to a temporary name and renamed, so a crash never leaves a
/// half-written state under the real name.
/// </summary>
public static class StateFile
{
    /// <summary>Current format version.</summary>
    public const uint Version = 2;

    /// <summary>The oldest format version this build reads.</summary>
    public const uint OldestVersion = 1;

    /// <summary>
    /// The largest step count a file may hold: the next step, one more, must still fit the rule's <c>int t</c>. A larger
    /// count (which no run reaches) would wrap to a negative t and turn every parameter into NaN.
    /// </summary>
    public const long MaxStepCount = int.MaxValue - 1L;

    private static readonly byte[] Magic = "FOPTSTAT"u8.ToArray();

    /// <summary>Writes <paramref name="optimizer"/>'s state to <paramref name="path"/> atomically.</summary>
    public static void Save(Optimizer optimizer, string path, bool includeParameters = true) => Save((IOptimizerStateStore)optimizer, path, includeParameters);

    /// <summary>Writes the state to <paramref name="stream"/> (the same bytes <see cref="Save(Optimizer, string, bool)"/> puts in a file).</summary>
    public static void Write(Optimizer optimizer, Stream stream, bool includeParameters = true) => Write((IOptimizerStateStore)optimizer, stream, includeParameters);

    /// <summary>
    /// Loads a state written by <see cref="Save(Optimizer, string, bool)"/> into <paramref name="optimizer"/>. Everything is read and checked
    /// (checksum, version, optimizer, hyperparameter names and ranges, tensor table) before anything is changed.
    /// </summary>
    public static void Load(Optimizer optimizer, string path) => Load((IOptimizerStateStore)optimizer, path);

    /// <summary>Loads a state from bytes; <paramref name="source"/> names them in error messages.</summary>
    public static void Load(Optimizer optimizer, ReadOnlySpan<byte> bytes, string source) => Load((IOptimizerStateStore)optimizer, bytes, source);

    /// <summary>Writes the state of any optimizer (CPU or device) to <paramref name="path"/> atomically.</summary>
    internal static void Save(IOptimizerStateStore optimizer, string path, bool includeParameters = true)
    {
        ArgumentNullException.ThrowIfNull(optimizer);
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        string full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        AtomicFile.Write(full, file => Write(optimizer, file, includeParameters), 1 << 20);
    }

    /// <summary>Writes the state of any optimizer to <paramref name="stream"/>.</summary>
    internal static void Write(IOptimizerStateStore optimizer, Stream stream, bool includeParameters = true)
    {
        ArgumentNullException.ThrowIfNull(optimizer);
        ArgumentNullException.ThrowIfNull(stream);
        var hash = new XxHash3();
        var header = new MemoryStream();
        WriteHeader(new BinaryWriter(header, Encoding.UTF8, leaveOpen: true), optimizer, includeParameters);
        Emit(stream, hash, header.GetBuffer().AsSpan(0, (int)header.Length));
        long length = optimizer.Arena.Length;
        if (includeParameters)
        {
            EmitChunks(stream, hash, checked(length * sizeof(float)), optimizer.ReadParameters);
        }

        for (int s = 0; s < optimizer.Descriptor.States.Count; s++)
        {
            // The format byte says how the state is stored (0: absent).
            var storage = optimizer.GetStateFormat(s);
            Emit(stream, hash, [(byte)storage]);
            if (storage != StateFormat.None)
            {
                int state = s;
                EmitChunks(stream, hash, optimizer.GetStateByteCount(s), (offset, chunk) => optimizer.ReadState(state, offset, chunk));
            }
        }

        Span<byte> digest = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(digest, hash.GetCurrentHashAsUInt64());
        stream.Write(digest);
    }

    /// <summary>Loads a state file into any optimizer (CPU or device), checking everything first.</summary>
    internal static void Load(IOptimizerStateStore optimizer, string path)
    {
        ArgumentNullException.ThrowIfNull(optimizer);
        if (!File.Exists(path))
        {
            throw new StateFileException($"{path}: no such state file.");
        }

        byte[] bytes = File.ReadAllBytes(path);
        Load(optimizer, bytes, path);
    }

    /// <summary>Loads a state from bytes into any optimizer; <paramref name="source"/> names them in error messages.</summary>
    internal static void Load(IOptimizerStateStore optimizer, ReadOnlySpan<byte> bytes, string source)
    {
        ArgumentNullException.ThrowIfNull(optimizer);
        if (bytes.Length < Magic.Length + 4 + 8 || !bytes[..Magic.Length].SequenceEqual(Magic))
        {
            throw new StateFileException($"{source}: not a FusedOpt state file (bad magic or too short: {bytes.Length} bytes).");
        }

        uint version = BinaryPrimitives.ReadUInt32LittleEndian(bytes[Magic.Length..]);
        if (version is < OldestVersion or > Version)
        {
            throw new StateFileException($"{source}: format version {version} is not supported; this build reads versions {OldestVersion} to {Version}.");
        }

        var body = bytes[..^8];
        ulong expected = BinaryPrimitives.ReadUInt64LittleEndian(bytes[^8..]);
        ulong actual = XxHash3.HashToUInt64(body);
        if (expected != actual)
        {
            throw new StateFileException($"{source}: checksum mismatch (stored {expected:x16}, computed {actual:x16}); the file is truncated or corrupt.");
        }

        var reader = new Reader(body, source) { Position = Magic.Length + 4 };
        var parsed = ReadHeader(ref reader, optimizer, source);
        long length = optimizer.Arena.Length;
        ReadOnlySpan<byte> parameters = default;
        if (parsed.HasParameters)
        {
            parameters = reader.Take(checked(length * 4), "parameters");
        }

        int stateCount = optimizer.Descriptor.States.Count;
        var slices = new (int Offset, int Length, StateFormat Format)[stateCount];
        byte newestFormat = version == 1 ? (byte)StateFormat.Float32 : (byte)StateFormat.Q8Unsigned;
        for (int s = 0; s < stateCount; s++)
        {
            string name = optimizer.Descriptor.States[s].Name;
            byte present = reader.Byte($"format of state '{name}'");
            if (present > newestFormat)
            {
                throw new StateFileException(version == 1
                    ? $"{source}: state '{name}' has presence byte {present}; expected 0 or 1."
                    : $"{source}: state '{name}' has format byte {present}; expected 0 (absent) to {newestFormat}.");
            }

            var format = (StateFormat)present;
            if (format != StateFormat.None)
            {
                int offset = reader.Position;
                int count;
                try
                {
                    var rest = body[offset..];
                    count = checked((int)Storage.StateFormats.ByteCount(format, optimizer.Arena, rest[..Math.Min(8, rest.Length)]));
                }
                catch (ArgumentException e)
                {
                    throw new StateFileException($"{source}: state '{name}' ({Storage.StateFormats.Name(format)}): {e.Message}");
                }

                reader.Take(count, $"state '{name}' ({Storage.StateFormats.Name(format)})");
                slices[s] = (offset, count, format);
            }
            else
            {
                slices[s] = (-1, 0, format);
            }
        }

        if (reader.Position != body.Length)
        {
            throw new StateFileException($"{source}: {body.Length - reader.Position} unexpected bytes after the last state.");
        }

        for (int s = 0; s < stateCount; s++)
        {
            bool needed = parsed.Rules.Any(r => r.IsStateNeeded(s));
            if (needed && slices[s].Offset < 0)
            {
                throw new StateFileException($"{source}: state '{optimizer.Descriptor.States[s].Name}' is needed by the saved hyperparameters but missing from the file.");
            }
        }

        // Everything is valid: apply.
        optimizer.Restore(parsed.Rules, parsed.Steps, parsed.StepStates);
        if (parsed.HasParameters)
        {
            optimizer.WriteParameters(parameters);
        }

        for (int s = 0; s < stateCount; s++)
        {
            if (slices[s].Offset >= 0)
            {
                optimizer.WriteState(s, slices[s].Format, body.Slice(slices[s].Offset, slices[s].Length));
            }
            else
            {
                // Not in the file: a buffer this optimizer already holds (AMSGrad's vMax from an earlier run) goes back to
                // its declared initial value, so that load-then-continue equals a fresh optimizer loading the same file.
                optimizer.ResetState(s);
            }
        }
    }

    private static void WriteHeader(BinaryWriter w, IOptimizerStateStore optimizer, bool includeParameters)
    {
        var d = optimizer.Descriptor;
        w.Write(Magic);
        w.Write(Version);
        WriteString(w, d.Name);
        WriteString(w, d.TypeName);
        w.Write((uint)d.Hyperparameters.Count);
        foreach (var h in d.Hyperparameters)
        {
            WriteString(w, h.Name);
        }

        w.Write((uint)d.States.Count);
        foreach (var s in d.States)
        {
            WriteString(w, s.Name);
        }

        w.Write((uint)d.StepStates.Count);
        foreach (var s in d.StepStates)
        {
            WriteString(w, s.Name);
        }

        w.Write((uint)optimizer.GroupCount);
        for (int g = 0; g < optimizer.GroupCount; g++)
        {
            w.Write(optimizer.GetStepCount(g));
            foreach (double v in optimizer.GetHyperparameterValues(g))
            {
                w.Write(v);
            }

            foreach (double v in optimizer.GetStepStates(g))
            {
                w.Write(v);
            }
        }

        var arena = optimizer.Arena;
        w.Write(arena.Length);
        w.Write((uint)arena.Tensors.Count);
        foreach (var t in arena.Tensors)
        {
            WriteString(w, t.Name);
            w.Write((uint)t.Group);
            w.Write(t.Offset);
            w.Write((uint)t.Shape.Length);
            foreach (int dim in t.Shape)
            {
                w.Write(dim);
            }
        }

        w.Write(includeParameters ? (byte)1 : (byte)0);
    }

    private sealed record Parsed(IOptimizerRule[] Rules, long[] Steps, double[][] StepStates, bool HasParameters);

    private static Parsed ReadHeader(ref Reader r, IOptimizerStateStore optimizer, string source)
    {
        var d = optimizer.Descriptor;
        string name = r.String("optimizer name");
        string typeName = r.String("type name");
        if (!string.Equals(name, d.Name, StringComparison.Ordinal))
        {
            throw new StateFileException($"{source}: the file holds a '{name}' state but the optimizer is '{d.Name}'.");
        }

        ExpectNames(ref r, source, "hyperparameters", d.Hyperparameters.Select(static h => h.Name).ToArray());
        ExpectNames(ref r, source, "states", d.States.Select(static s => s.Name).ToArray());
        ExpectNames(ref r, source, "step states", d.StepStates.Select(static s => s.Name).ToArray());
        _ = typeName;

        uint groups = r.UInt32("group count");
        if (groups != optimizer.GroupCount)
        {
            throw new StateFileException($"{source}: the file has {groups} parameter groups but the optimizer has {optimizer.GroupCount}.");
        }

        var rules = new IOptimizerRule[groups];
        var steps = new long[groups];
        var stepStates = new double[groups][];
        for (int g = 0; g < groups; g++)
        {
            steps[g] = r.Int64($"step count of group {g}");
            if (steps[g] < 0)
            {
                throw new StateFileException($"{source}: group {g} has a negative step count {steps[g]}.");
            }

            if (steps[g] > MaxStepCount)
            {
                throw new StateFileException($"{source}: group {g} has step count {steps[g]:N0}; at most {MaxStepCount:N0} is supported (the rule's step t is an int).");
            }

            var values = new double[d.Hyperparameters.Count];
            for (int h = 0; h < values.Length; h++)
            {
                values[h] = r.Double($"hyperparameter {d.Hyperparameters[h].Name} of group {g}");
            }

            try
            {
                rules[g] = d.Create(values);
                rules[g].Validate();
            }
            catch (HyperparameterException e)
            {
                throw new StateFileException($"{source}: group {g}: {e.Message}");
            }

            stepStates[g] = new double[d.StepStates.Count];
            for (int q = 0; q < stepStates[g].Length; q++)
            {
                stepStates[g][q] = r.Double($"step state {d.StepStates[q].Name} of group {g}");
            }
        }

        var arena = optimizer.Arena;
        long length = r.Int64("arena length");
        uint tensors = r.UInt32("tensor count");
        if (length != arena.Length || tensors != arena.Tensors.Count)
        {
            throw new StateFileException($"{source}: the file describes {tensors} tensors in {length} floats but the arena has {arena.Tensors.Count} tensors in {arena.Length} floats.");
        }

        for (int i = 0; i < tensors; i++)
        {
            var t = arena.Tensors[i];
            string tn = r.String($"name of tensor {i}");
            uint group = r.UInt32($"group of tensor {tn}");
            long offset = r.Int64($"offset of tensor {tn}");
            uint rank = r.UInt32($"rank of tensor {tn}");
            if (rank > 64)
            {
                throw new StateFileException($"{source}: tensor '{tn}' has rank {rank}; at most 64 is plausible.");
            }

            var shape = new int[rank];
            for (int k = 0; k < rank; k++)
            {
                shape[k] = r.Int32($"dimension {k} of tensor {tn}");
            }

            if (tn != t.Name || group != t.Group || offset != t.Offset || !shape.AsSpan().SequenceEqual(t.Shape.AsSpan()))
            {
                throw new StateFileException(
                    $"{source}: tensor {i} is '{tn}' [{string.Join("×", shape)}] group {group} @ {offset} in the file but '{t.Name}' [{string.Join("×", t.Shape)}] group {t.Group} @ {t.Offset} in the arena.");
            }
        }

        byte hasParameters = r.Byte("parameter flag");
        if (hasParameters > 1)
        {
            throw new StateFileException($"{source}: parameter flag is {hasParameters}; expected 0 or 1.");
        }

        return new Parsed(rules, steps, stepStates, hasParameters == 1);
    }

    private static void ExpectNames(ref Reader r, string source, string what, string[] expected)
    {
        uint count = r.UInt32($"number of {what}");
        if (count > 4096)
        {
            throw new StateFileException($"{source}: {count} {what} is implausible.");
        }

        var names = new string[count];
        for (int i = 0; i < count; i++)
        {
            names[i] = r.String($"{what} name {i}");
        }

        if (!names.SequenceEqual(expected))
        {
            throw new StateFileException($"{source}: the file's {what} are [{string.Join(", ", names)}] but the optimizer's are [{string.Join(", ", expected)}].");
        }
    }

    private static void WriteString(BinaryWriter w, string s)
    {
        byte[] b = Encoding.UTF8.GetBytes(s);
        w.Write(checked((ushort)b.Length));
        w.Write(b);
    }

    private static void Emit(Stream s, XxHash3 hash, ReadOnlySpan<byte> data)
    {
        hash.Append(data);
        s.Write(data);
    }

    /// <summary>Emits <paramref name="length"/> bytes read a chunk at a time (a 4 MiB pooled buffer) by <paramref name="read"/>.</summary>
    private static void EmitChunks(Stream s, XxHash3 hash, long length, ChunkReader read)
    {
        if (!BitConverter.IsLittleEndian)
        {
            throw new PlatformNotSupportedException("State files are little-endian; big-endian machines are not supported.");
        }

        const int Chunk = 4 << 20;
        byte[] buffer = ArrayPool<byte>.Shared.Rent((int)Math.Min(Chunk, Math.Max(1, length)));
        try
        {
            for (long offset = 0; offset < length; offset += Chunk)
            {
                var chunk = buffer.AsSpan(0, (int)Math.Min(Chunk, length - offset));
                read(offset, chunk);
                Emit(s, hash, chunk);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private delegate void ChunkReader(long byteOffset, Span<byte> destination);

    private ref struct Reader
    {
        private readonly ReadOnlySpan<byte> _data;
        private readonly string _source;

        public Reader(ReadOnlySpan<byte> data, string source)
        {
            _data = data;
            _source = source;
            Position = 0;
        }

        public int Position { get; set; }

        public ReadOnlySpan<byte> Take(long count, string what)
        {
            if (count < 0 || Position + count > _data.Length)
            {
                throw new StateFileException($"{_source}: truncated while reading {what} at byte {Position} ({count} bytes needed, {_data.Length - Position} left).");
            }

            var s = _data.Slice(Position, (int)count);
            Position += (int)count;
            return s;
        }

        public byte Byte(string what) => Take(1, what)[0];

        public uint UInt32(string what) => BinaryPrimitives.ReadUInt32LittleEndian(Take(4, what));

        public int Int32(string what) => BinaryPrimitives.ReadInt32LittleEndian(Take(4, what));

        public long Int64(string what) => BinaryPrimitives.ReadInt64LittleEndian(Take(8, what));

        public double Double(string what) => BinaryPrimitives.ReadDoubleLittleEndian(Take(8, what));

        public string String(string what)
        {
            int n = BinaryPrimitives.ReadUInt16LittleEndian(Take(2, what));
            return Encoding.UTF8.GetString(Take(n, what));
        }
    }
}

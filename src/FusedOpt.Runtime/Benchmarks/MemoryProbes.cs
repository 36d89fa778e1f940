using System;
using System.Collections.Generic;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using FusedOpt.Kernels;
using FusedOpt.Memory;
using FusedOpt.Threading;

namespace FusedOpt.Benchmarks;

/// <summary>
/// Memory-bandwidth probes measured beside an optimizer step, with the same threads and partition:
/// <list type="bullet">
/// <item><b>same-traffic</b>: reads exactly the buffers a rule reads and writes exactly those it writes, in place, with
/// one add per buffer — the fastest an in-place step over those buffers can be on this machine;</item>
/// <item><b>copy</b> (b ← a) and <b>triad</b> (a ← b + s·c), as in STREAM, for context. Their store streams pay a
/// read-for-ownership that an in-place update does not, so they understate an in-place step's limit.</item>
/// </list>
/// </summary>
internal sealed unsafe class MemoryProbes : IParallelWork, IDisposable
{
    private readonly WorkerPool _pool;
    private readonly bool _ownsPool;
    private readonly long _length;
    private readonly Isa _width;
    private float*[] _read = [];
    private float*[] _readWrite = [];
    private readonly float*[] _one = new float*[1];
    private readonly float*[] _two = new float*[2];
    private readonly float*[] _target = new float*[1];
    private IReadOnlyList<AlignedBuffer>? _lastReadOnly, _lastReadWrite;
    private Kind _kind;

    private Region[] _readRegions = [];
    private Region[] _writeRegions = [];
    private long[] _sink = [];
    private IReadOnlyList<(nint Pointer, long Bytes)>? _lastReadRegions, _lastWriteRegions;

    /// <summary>
    /// What the byte probe XORs into every byte it writes back: 0, read from a field so that the JIT cannot fold
    /// <c>x ^ 0</c> away and drop the stores; tests set it to see that every byte is written exactly once.
    /// </summary>
    internal byte RewriteMask { get; set; }

    private enum Kind { SameTraffic, Copy, Triad, SameTrafficBytes }

    /// <summary>A byte region of the byte probe and its bytes per block of <see cref="Storage.Q8.BlockSize"/> elements.</summary>
    private readonly record struct Region(nint Pointer, long Bytes, long BytesPerBlock);

    /// <summary>Creates probes over <paramref name="length"/> elements, run by <paramref name="threads"/> threads.</summary>
    public MemoryProbes(long length, int threads)
        : this(length, new WorkerPool(threads), ownsPool: true, Widest)
    {
    }

    /// <summary>As <see cref="MemoryProbes(long, int)"/> at a given register width (tests cover every width this way).</summary>
    internal MemoryProbes(long length, int threads, Isa width)
        : this(length, new WorkerPool(threads), ownsPool: true, IsaSupport.IsSupported(width) ? width : throw new PlatformNotSupportedException($"Memory probes at {IsaSupport.Name(width)} were requested but this machine supports at most {IsaSupport.Name(IsaSupport.Best)}."))
    {
    }

    private MemoryProbes(long length, WorkerPool pool, bool ownsPool, Isa width)
    {
        _length = length;
        _pool = pool;
        _ownsPool = ownsPool;
        _width = width;
    }

    /// <summary>The widest registers the JIT accelerates: what the probes use unless a test asks for another width.</summary>
    private static Isa Widest => Vector512.IsHardwareAccelerated ? Isa.Avx512 : Vector256.IsHardwareAccelerated ? Isa.Avx2 : Isa.Scalar;

    /// <summary>
    /// The buffers a step of <paramref name="optimizer"/> reads only (the gradients, read-only states) and reads and writes
    /// (the parameters, written states): what <see cref="SameTraffic(IReadOnlyList{AlignedBuffer}, IReadOnlyList{AlignedBuffer})"/> must touch to move the same bytes.
    /// </summary>
    public static (List<AlignedBuffer> ReadOnly, List<AlignedBuffer> ReadWrite) SameTrafficBuffers(Optimizer optimizer)
    {
        ArgumentNullException.ThrowIfNull(optimizer);
        var readOnly = new List<AlignedBuffer> { optimizer.Arena.Grads };
        var readWrite = new List<AlignedBuffer> { optimizer.Arena.Params };
        var states = optimizer.Descriptor.States;
        for (int s = 0; s < states.Count; s++)
        {
            if (optimizer.GetState(s) is { } buffer)
            {
                (states[s].IsWritten ? readWrite : readOnly).Add(buffer);
            }
        }

        return (readOnly, readWrite);
    }

    /// <summary>
    /// The memory a step of <paramref name="optimizer"/> reads only (the gradients, read-only states) and reads and
    /// writes (the parameters, written states), as byte regions: each state in its stored form
    /// (<see cref="Optimizer.StateRegions"/>: fp32 floats, bf16 words, q8 codes and their block absmax values). What
    /// <see cref="SameTraffic(IReadOnlyList{ValueTuple{nint, long}}, IReadOnlyList{ValueTuple{nint, long}})"/> must touch
    /// to move the bytes of a step with compressed states.
    /// </summary>
    public static (List<(nint Pointer, long Bytes)> ReadOnly, List<(nint Pointer, long Bytes)> ReadWrite) SameTrafficRegions(Optimizer optimizer)
    {
        ArgumentNullException.ThrowIfNull(optimizer);
        var arena = optimizer.Arena;
        var readOnly = new List<(nint, long)> { ((nint)arena.Grads.Pointer, arena.Length * sizeof(float)) };
        var readWrite = new List<(nint, long)> { ((nint)arena.Params.Pointer, arena.Length * sizeof(float)) };
        var states = optimizer.Descriptor.States;
        for (int s = 0; s < states.Count; s++)
        {
            foreach (var region in optimizer.StateRegions(s))
            {
                (states[s].IsWritten ? readWrite : readOnly).Add(region);
            }
        }

        return (readOnly, readWrite);
    }

    /// <summary>
    /// Bytes per parameter that <see cref="SameTraffic(IReadOnlyList{ValueTuple{nint, long}}, IReadOnlyList{ValueTuple{nint, long}})"/>
    /// moves over <paramref name="parameters"/> parameters: every read-only byte once, every read-write byte twice.
    /// </summary>
    public static double BytesPerParameter(IReadOnlyList<(nint Pointer, long Bytes)> readOnly, IReadOnlyList<(nint Pointer, long Bytes)> readWrite, long parameters)
    {
        ArgumentNullException.ThrowIfNull(readOnly);
        ArgumentNullException.ThrowIfNull(readWrite);
        long bytes = 0;
        foreach (var (_, b) in readOnly)
        {
            bytes += b;
        }

        foreach (var (_, b) in readWrite)
        {
            bytes += 2 * b;
        }

        return (double)bytes / parameters;
    }

    /// <summary>
    /// The byte form of the same-traffic probe, for states stored in fewer bytes than the parameters: reads every byte of
    /// <paramref name="readOnly"/> and <paramref name="readWrite"/> and writes back every byte of
    /// <paramref name="readWrite"/> unchanged, once. The probe's elements are cut into the blocks of 256 a compressed
    /// step uses, on its partition (threads own whole blocks); a block's bytes in each region are its share
    /// (regions of 4·n, 2·n, n or 4·⌈n/256⌉ bytes hold 1024, 512, 256 or 4 bytes per block), and each thread walks
    /// its blocks 16 at a time, every region in turn, so that all streams advance together as in a step.
    /// </summary>
    public void SameTraffic(IReadOnlyList<(nint Pointer, long Bytes)> readOnly, IReadOnlyList<(nint Pointer, long Bytes)> readWrite)
    {
        ArgumentNullException.ThrowIfNull(readOnly);
        ArgumentNullException.ThrowIfNull(readWrite);
        if (!ReferenceEquals(readOnly, _lastReadRegions) || !ReferenceEquals(readWrite, _lastWriteRegions) || _kind != Kind.SameTrafficBytes)
        {
            _readRegions = Regions(readOnly);
            _writeRegions = Regions(readWrite);
            _sink = new long[_pool.Count * 8];
            _lastReadRegions = readOnly;
            _lastWriteRegions = readWrite;
        }

        _kind = Kind.SameTrafficBytes;
        _pool.Run(this);
    }

    private Region[] Regions(IReadOnlyList<(nint Pointer, long Bytes)> regions)
    {
        var result = new Region[regions.Count];
        for (int i = 0; i < result.Length; i++)
        {
            var (pointer, bytes) = regions[i];
            ArgumentOutOfRangeException.ThrowIfNegative(bytes);
            // Rounded to the nearest whole byte count per block; the last block takes whatever is left, so every byte is
            // touched exactly once whatever the rounding.
            result[i] = new Region(pointer, bytes, Math.Max(1, (long)Math.Round((double)bytes * Storage.Q8.BlockSize / Math.Max(_length, 1))));
        }

        return result;
    }

    /// <summary>
    /// Reads every buffer of <paramref name="readOnly"/> and <paramref name="readWrite"/> and writes back every buffer of
    /// <paramref name="readWrite"/> (each element x ← x + 0·Σreads, so values stay unchanged), once.
    /// </summary>
    public void SameTraffic(IReadOnlyList<AlignedBuffer> readOnly, IReadOnlyList<AlignedBuffer> readWrite)
    {
        // Pointer tables are rebuilt only when other buffer lists are passed: a repeated call allocates nothing.
        if (!ReferenceEquals(readOnly, _lastReadOnly) || !ReferenceEquals(readWrite, _lastReadWrite) || _kind != Kind.SameTraffic)
        {
            _read = Pointers(readOnly);
            _readWrite = Pointers(readWrite);
            _lastReadOnly = readOnly;
            _lastReadWrite = readWrite;
        }

        _kind = Kind.SameTraffic;
        _pool.Run(this);
    }

    /// <summary>b ← a.</summary>
    public void Copy(AlignedBuffer a, AlignedBuffer b)
    {
        _one[0] = a.Pointer;
        _target[0] = b.Pointer;
        _read = _one;
        _readWrite = _target;
        _lastReadOnly = _lastReadWrite = null;
        _kind = Kind.Copy;
        _pool.Run(this);
    }

    /// <summary>a ← b + s·c with s = 0 (STREAM triad; the values stay finite).</summary>
    public void Triad(AlignedBuffer a, AlignedBuffer b, AlignedBuffer c)
    {
        _two[0] = b.Pointer;
        _two[1] = c.Pointer;
        _target[0] = a.Pointer;
        _read = _two;
        _readWrite = _target;
        _lastReadOnly = _lastReadWrite = null;
        _kind = Kind.Triad;
        _pool.Run(this);
    }

    void IParallelWork.Execute(int part)
    {
        if (_kind == Kind.SameTrafficBytes)
        {
            var (start, end) = Storage.CompressedAdam.PartOf(_length, part, _pool.Count);
            _sink[part * 8] = SameTrafficBytesRange(start, end);
            return;
        }

        var (s, e) = Partition.Of(_length, part, _pool.Count);
        switch (_kind)
        {
            case Kind.SameTraffic:
                SameTrafficRange(s, e);
                break;
            case Kind.Copy:
                new Span<float>(_read[0] + s, (int)(e - s)).CopyTo(new Span<float>(_readWrite[0] + s, (int)(e - s)));
                break;
            default:
                TriadRange(s, e);
                break;
        }
    }

    private void SameTrafficRange(long start, long end)
    {
        long i = _width switch
        {
            Isa.Avx512 => SameTraffic<Simd512, Vector512<float>>(_read, _readWrite, start, end),
            Isa.Avx2 => SameTraffic<Simd256, Vector256<float>>(_read, _readWrite, start, end),
            _ => start,
        };

        SameTraffic<SimdScalar, float>(_read, _readWrite, i, end);
    }

    /// <summary>
    /// The byte probe over elements [<paramref name="start"/>, <paramref name="end"/>) (whole blocks of 256 but for the
    /// arena's last): 16 blocks at a time, each region's share of them read (and written back unchanged). Returns a
    /// digest of the read-only bytes, kept by the caller so that their loads are not dead.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private long SameTrafficBytesRange(long start, long end)
    {
        const int BlocksPerChunk = 16;
        if (start >= end)
        {
            return 0;
        }

        long firstBlock = start / Storage.Q8.BlockSize, endBlock = Storage.Q8.BlockCount(end);
        long lastBlock = Storage.Q8.BlockCount(_length);
        byte zero = RewriteMask;
        ulong digest = 0;
        for (long b = firstBlock; b < endBlock; b += BlocksPerChunk)
        {
            long to = Math.Min(endBlock, b + BlocksPerChunk);
            foreach (var r in _readRegions)
            {
                var (lo, hi) = Share(r, b, to, lastBlock);
                digest ^= Read((byte*)r.Pointer + lo, hi - lo);
            }

            foreach (var r in _writeRegions)
            {
                var (lo, hi) = Share(r, b, to, lastBlock);
                Rewrite((byte*)r.Pointer + lo, hi - lo, zero);
            }
        }

        return (long)digest;
    }

    /// <summary>Bytes [lo, hi) of region <paramref name="r"/> that blocks [<paramref name="from"/>, <paramref name="to"/>) own.</summary>
    private static (long Lo, long Hi) Share(Region r, long from, long to, long lastBlock) =>
        (Math.Min(r.Bytes, from * r.BytesPerBlock), to >= lastBlock ? r.Bytes : Math.Min(r.Bytes, to * r.BytesPerBlock));

    /// <summary>XOR of <paramref name="n"/> bytes from <paramref name="p"/>, folded to 64 bits.</summary>
    private ulong Read(byte* p, long n)
    {
        long i = 0;
        ulong digest = 0;
        if (_width == Isa.Avx512)
        {
            var sum = Vector512<ulong>.Zero;
            for (; i + 64 <= n; i += 64)
            {
                sum ^= Vector512.Load(p + i).AsUInt64();
            }

            digest = sum.GetElement(0) ^ sum.GetElement(7);
        }
        else if (_width == Isa.Avx2)
        {
            var sum = Vector256<ulong>.Zero;
            for (; i + 32 <= n; i += 32)
            {
                sum ^= Vector256.Load(p + i).AsUInt64();
            }

            digest = sum.GetElement(0) ^ sum.GetElement(3);
        }

        for (; i < n; i++)
        {
            digest ^= p[i];
        }

        return digest;
    }

    /// <summary>Writes each of <paramref name="n"/> bytes from <paramref name="p"/> back as itself ^ <paramref name="zero"/> (<see cref="RewriteMask"/>: 0).</summary>
    private void Rewrite(byte* p, long n, byte zero)
    {
        long i = 0;
        if (_width == Isa.Avx512)
        {
            var z = Vector512.Create(zero);
            for (; i + 64 <= n; i += 64)
            {
                (Vector512.Load(p + i) ^ z).Store(p + i);
            }
        }
        else if (_width == Isa.Avx2)
        {
            var z = Vector256.Create(zero);
            for (; i + 32 <= n; i += 32)
            {
                (Vector256.Load(p + i) ^ z).Store(p + i);
            }
        }

        for (; i < n; i++)
        {
            p[i] ^= zero;
        }
    }

    private void TriadRange(long start, long end)
    {
        float* a = _readWrite[0], b = _read[0], c = _read[1];
        long i = _width switch
        {
            Isa.Avx512 => Triad<Simd512, Vector512<float>>(a, b, c, start, end),
            Isa.Avx2 => Triad<Simd256, Vector256<float>>(a, b, c, start, end),
            _ => start,
        };

        Triad<SimdScalar, float>(a, b, c, i, end);
    }

    /// <summary>
    /// The same-traffic body at one width, over whole registers from <paramref name="i"/> while they fit before
    /// <paramref name="end"/>: each element x of <paramref name="readWrite"/> ← x + 0·Σreads. Returns where it stopped;
    /// the scalar instantiation (one lane) finishes the range.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static long SameTraffic<TSimd, TVector>(float*[] read, float*[] readWrite, long i, long end)
        where TSimd : struct, ISimd<TVector>
        where TVector : struct
    {
        for (; i + TSimd.Lanes <= end; i += TSimd.Lanes)
        {
            var sum = TSimd.Zero;
            foreach (var r in read)
            {
                sum = TSimd.Add(sum, TSimd.Load(r + i));
            }

            sum = TSimd.Multiply(sum, TSimd.Zero);
            foreach (var w in readWrite)
            {
                TSimd.Store(TSimd.Add(TSimd.Load(w + i), sum), w + i);
            }
        }

        return i;
    }

    /// <summary>The triad body at one width, as <see cref="SameTraffic{TSimd, TVector}"/>: a ← b + 0·c.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static long Triad<TSimd, TVector>(float* a, float* b, float* c, long i, long end)
        where TSimd : struct, ISimd<TVector>
        where TVector : struct
    {
        for (; i + TSimd.Lanes <= end; i += TSimd.Lanes)
        {
            TSimd.Store(TSimd.Add(TSimd.Load(b + i), TSimd.Multiply(TSimd.Zero, TSimd.Load(c + i))), a + i);
        }

        return i;
    }

    private static float*[] Pointers(IReadOnlyList<AlignedBuffer> buffers)
    {
        var result = new float*[buffers.Count];
        for (int i = 0; i < result.Length; i++)
        {
            result[i] = buffers[i].Pointer;
        }

        return result;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (_ownsPool)
        {
            _pool.Dispose();
        }
    }
}

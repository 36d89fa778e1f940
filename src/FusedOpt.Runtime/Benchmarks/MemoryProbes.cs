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

    private enum Kind { SameTraffic, Copy, Triad }

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
    /// (the parameters, written states): what <see cref="SameTraffic"/> must touch to move the same bytes.
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

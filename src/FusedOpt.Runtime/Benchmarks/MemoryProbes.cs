using System;
using System.Collections.Generic;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
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
public sealed unsafe class MemoryProbes : IParallelWork, IDisposable
{
    private readonly WorkerPool _pool;
    private readonly bool _ownsPool;
    private readonly long _length;
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
        : this(length, new WorkerPool(threads), ownsPool: true)
    {
    }

    private MemoryProbes(long length, WorkerPool pool, bool ownsPool)
    {
        _length = length;
        _pool = pool;
        _ownsPool = ownsPool;
    }

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

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void SameTrafficRange(long start, long end)
    {
        float*[] read = _read, rw = _readWrite;
        long i = start;
        if (Vector512.IsHardwareAccelerated)
        {
            for (; i + 16 <= end; i += 16)
            {
                var sum = Vector512<float>.Zero;
                foreach (var r in read)
                {
                    sum += Vector512.Load(r + i);
                }

                sum *= Vector512<float>.Zero;
                foreach (var w in rw)
                {
                    (Vector512.Load(w + i) + sum).Store(w + i);
                }
            }
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            for (; i + 8 <= end; i += 8)
            {
                var sum = Vector256<float>.Zero;
                foreach (var r in read)
                {
                    sum += Vector256.Load(r + i);
                }

                sum *= Vector256<float>.Zero;
                foreach (var w in rw)
                {
                    (Vector256.Load(w + i) + sum).Store(w + i);
                }
            }
        }

        for (; i < end; i++)
        {
            float sum = 0;
            foreach (var r in read)
            {
                sum += r[i];
            }

            sum *= 0;
            foreach (var w in rw)
            {
                w[i] += sum;
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void TriadRange(long start, long end)
    {
        float* a = _readWrite[0], b = _read[0], c = _read[1];
        long i = start;
        if (Vector512.IsHardwareAccelerated)
        {
            for (; i + 16 <= end; i += 16)
            {
                (Vector512.Load(b + i) + (Vector512<float>.Zero * Vector512.Load(c + i))).Store(a + i);
            }
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            for (; i + 8 <= end; i += 8)
            {
                (Vector256.Load(b + i) + (Vector256<float>.Zero * Vector256.Load(c + i))).Store(a + i);
            }
        }

        for (; i < end; i++)
        {
            a[i] = b[i] + (0 * c[i]);
        }
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

using System;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using FusedOpt.Memory;
using FusedOpt.Storage;
using FusedOpt.Threading;

namespace FusedOpt.Benchmarks;

/// <summary>
/// The same-traffic probe of an Adam step with compressed states: reads the gradients, and reads and writes in place
/// the parameters, both states in their stored form (bf16 words or q8 codes) and, for q8, every block's absmax — the
/// bytes <see cref="StateStorages.AdamBytesPerParameter"/> counts — with one add each and nothing else, on the same
/// threads and block-aligned partition as <see cref="CompressedAdam"/>. The fastest such a step can be on this machine.
/// </summary>
internal sealed unsafe class StorageProbes : IParallelWork, IDisposable
{
    private readonly WorkerPool _pool;
    private float* _p, _g;
    private StateBuffer? _m, _v;

    /// <summary>Creates the probe run by <paramref name="threads"/> threads.</summary>
    public StorageProbes(int threads) => _pool = new WorkerPool(threads);

    /// <summary>Reads <paramref name="g"/>, and reads and writes back <paramref name="p"/>, <paramref name="m"/> and <paramref name="v"/> (values unchanged), once.</summary>
    public void SameTraffic(AlignedBuffer p, AlignedBuffer g, StateBuffer m, StateBuffer v)
    {
        ArgumentNullException.ThrowIfNull(p);
        ArgumentNullException.ThrowIfNull(g);
        _p = p.Pointer;
        _g = g.Pointer;
        _m = m ?? throw new ArgumentNullException(nameof(m));
        _v = v ?? throw new ArgumentNullException(nameof(v));
        _pool.Run(this);
    }

    void IParallelWork.Execute(int part)
    {
        var m = _m!;
        var (start, end) = CompressedAdam.PartOf(m.Length, part, _pool.Count);
        if (m.Storage == StateStorage.Bf16)
        {
            Bf16Range(start, end);
        }
        else
        {
            Q8Range(start, end);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Bf16Range(long start, long end)
    {
        float* p = _p, g = _g;
        ushort* m = (ushort*)_m!.Data, v = (ushort*)_v!.Data;
        long i = start;
        for (; Vector512.IsHardwareAccelerated && i + 32 <= end; i += 32)
        {
            var zero = (Vector512.Load(g + i) + Vector512.Load(g + i + 16)) * Vector512<float>.Zero;
            (Vector512.Load(p + i) + zero).Store(p + i);
            (Vector512.Load(p + i + 16) + zero).Store(p + i + 16);
            var z = zero.AsUInt16();
            (Vector512.Load(m + i) + z).Store(m + i);
            (Vector512.Load(v + i) + z).Store(v + i);
        }

        for (; i < end; i++)
        {
            float zero = g[i] * 0;
            p[i] += zero;
            m[i] = (ushort)(m[i] + (ushort)zero);
            v[i] = (ushort)(v[i] + (ushort)zero);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Q8Range(long start, long end)
    {
        float* p = _p, g = _g;
        byte* m = _m!.Data, v = _v!.Data;
        float* am = _m.AbsMax, av = _v.AbsMax;
        for (long b = start; b < end; b += Q8.BlockSize)
        {
            long blockEnd = Math.Min(end, b + Q8.BlockSize);
            long i = b;
            var zero = Vector512<float>.Zero;
            for (; Vector512.IsHardwareAccelerated && i + 64 <= blockEnd; i += 64)
            {
                zero = (Vector512.Load(g + i) + Vector512.Load(g + i + 16) + Vector512.Load(g + i + 32) + Vector512.Load(g + i + 48)) * Vector512<float>.Zero;
                (Vector512.Load(p + i) + zero).Store(p + i);
                (Vector512.Load(p + i + 16) + zero).Store(p + i + 16);
                (Vector512.Load(p + i + 32) + zero).Store(p + i + 32);
                (Vector512.Load(p + i + 48) + zero).Store(p + i + 48);
                var z = zero.AsByte();
                (Vector512.Load(m + i) + z).Store(m + i);
                (Vector512.Load(v + i) + z).Store(v + i);
            }

            for (; i < blockEnd; i++)
            {
                float z = g[i] * 0;
                p[i] += z;
                m[i] = (byte)(m[i] + (byte)z);
                v[i] = (byte)(v[i] + (byte)z);
            }

            long block = b / Q8.BlockSize;
            am[block] += zero.ToScalar();
            av[block] += zero.ToScalar();
        }
    }

    /// <summary>
    /// Dequantizes with the gather form of the table lookup (<see cref="Q8.Decode512Gather"/>), single-threaded: the
    /// alternative to <see cref="Q8.Dequantize"/>'s permutes, kept to measure one against the other.
    /// </summary>
    public static void DequantizeWithGather(ReadOnlySpan<byte> codes, ReadOnlySpan<float> absmax, Span<float> destination, DynamicMap map)
    {
        var t = Q8.TablesOf(map);
        fixed (byte* c = codes)
        fixed (float* d = destination)
        {
            for (int b = 0; b < absmax.Length; b++)
            {
                int start = b * Q8.BlockSize, n = Math.Min(Q8.BlockSize, codes.Length - start);
                var a = Vector512.Create(absmax[b]);
                int i = 0;
                for (; i + 16 <= n; i += 16)
                {
                    (Q8.Decode512Gather(Q8.LoadCodes512(ref c[start + i]), t) * a).Store(d + start + i);
                }

                for (; i < n; i++)
                {
                    d[start + i] = Q8.Decode(c[start + i], absmax[b], map);
                }
            }
        }
    }

    /// <summary>
    /// Quantizes with the bucket lookup on both halves (<see cref="Q8.Encode512Bucket"/>), single-threaded: the
    /// alternative to <see cref="Q8.Quantize"/>'s per-decade arithmetic bucket on AVX-512, kept to measure one against the other.
    /// </summary>
    public static void QuantizeWithBuckets(ReadOnlySpan<float> source, Span<byte> codes, Span<float> absmax, DynamicMap map)
    {
        var t = Q8.TablesOf(map);
        fixed (float* s = source)
        fixed (byte* c = codes)
        {
            for (int b = 0; b < absmax.Length; b++)
            {
                int start = b * Q8.BlockSize, n = Math.Min(Q8.BlockSize, source.Length - start);
                float a = Q8.AbsMax(source.Slice(start, n), Kernels.Isa.Avx512);
                absmax[b] = a;
                var inv = Vector512.Create(Q8.InverseScale(a));
                int i = 0;
                for (; i + 16 <= n; i += 16)
                {
                    Q8.StoreCodes512(Q8.Encode512Bucket(Vector512.Load(s + start + i) * inv, t), ref c[start + i]);
                }

                for (; i < n; i++)
                {
                    c[start + i] = Q8.Encode(s[start + i] * inv.ToScalar(), map);
                }
            }
        }
    }

    /// <inheritdoc />
    public void Dispose() => _pool.Dispose();
}

using System;
using System.Collections.Generic;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using BenchmarkDotNet.Attributes;
using FusedOpt.Benchmarks;
using FusedOpt.Kernels;
using FusedOpt.Memory;
using FusedOpt.Storage;

namespace FusedOpt.Bench;

/// <summary>
/// Adam at 16M parameters on 2 threads with its states stored as fp32 (the catalogue's generated kernel through
/// <see cref="Optimizer"/>), bf16 or q8 (the hand-written <see cref="CompressedAdam"/>), each beside a same-traffic
/// probe that moves its own byte count (28, 20, 16 B/param). Run all of them in one run and compare the means:
/// <c>dotnet run -c Release --project bench/FusedOpt.Bench -- --filter '*AdamStates*' --job short</c>.
/// </summary>
public abstract class AdamStates : IStepBenchmark, IDisposable
{
    private AlignedBuffer _p = null!, _g = null!;
    private ParameterArena? _arena;
    private Optimizer? _fp32;
    private MemoryProbes? _memoryProbes;
    private List<AlignedBuffer>? _readOnly, _readWrite;
    private CompressedAdam? _compressed;
    private StorageProbes? _storageProbes;

    /// <summary>How m and v are stored.</summary>
    protected abstract StateStorage Storage { get; }

    /// <summary>bf16 only: stochastic rounding.</summary>
    protected virtual bool Stochastic => false;

    [Params(16 << 20)]
    public int Size { get; set; }

    [Params(2)]
    public int Threads { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(1);
        if (Storage == StateStorage.Fp32)
        {
            _arena = new ParameterArena();
            _arena.Add("x", Size);
            _arena.Build();
            _p = _arena.Params;
            _g = _arena.Grads;
        }
        else
        {
            _p = new AlignedBuffer(Size);
            _g = new AlignedBuffer(Size);
        }

        var p = _p.Span;
        var g = _g.Span;
        for (int i = 0; i < Size; i++)
        {
            p[i] = (float)(rng.NextDouble() - 0.5);
            g[i] = (float)(rng.NextDouble() - 0.5) * 1e-2f;
        }

        if (Storage == StateStorage.Fp32)
        {
            _fp32 = new Optimizer(_arena!, OptimizerCatalog.Create("adam", null), new OptimizerOptions { Threads = Threads });
            _memoryProbes = new MemoryProbes(_arena!.Length, Threads);
            (_readOnly, _readWrite) = MemoryProbes.SameTrafficBuffers(_fp32);
        }
        else
        {
            _compressed = new CompressedAdam(Size, Storage, Threads) { StochasticRounding = Stochastic, Seed = 1 };
            _storageProbes = new StorageProbes(Threads);
        }

        Console.WriteLine($"// {GetType().Name}: {StateStorages.Name(Storage)} states, ISA {IsaSupport.Name(_compressed?.Isa ?? IsaSupport.Resolve())}, {Threads} threads.");
    }

    [GlobalCleanup]
    public void Dispose()
    {
        _fp32?.Dispose();
        _memoryProbes?.Dispose();
        _compressed?.Dispose();
        _storageProbes?.Dispose();
        if (_arena is null)
        {
            _p?.Dispose();
            _g?.Dispose();
        }

        _arena?.Dispose();
        GC.SuppressFinalize(this);
    }

    [Benchmark]
    public void Step()
    {
        if (_fp32 is not null)
        {
            _fp32.Step();
        }
        else
        {
            _compressed!.Step(_p, _g);
        }
    }

    [Benchmark]
    public void SameTrafficProbe()
    {
        if (_memoryProbes is not null)
        {
            _memoryProbes.SameTraffic(_readOnly!, _readWrite!);
        }
        else
        {
            _storageProbes!.SameTraffic(_p, _g, _compressed!.M, _compressed.V);
        }
    }

    public int BytesPerParameter(string method) => (int)StateStorages.AdamBytesPerParameter(Storage);
}

#pragma warning disable CS1591
public class AdamFp32States : AdamStates
{
    protected override StateStorage Storage => StateStorage.Fp32;
}

public class AdamBf16States : AdamStates
{
    protected override StateStorage Storage => StateStorage.Bf16;
}

public class AdamBf16StochasticStates : AdamStates
{
    protected override StateStorage Storage => StateStorage.Bf16;

    protected override bool Stochastic => true;
}

public class AdamQ8States : AdamStates
{
    protected override StateStorage Storage => StateStorage.Q8;
}
#pragma warning restore CS1591

/// <summary>
/// The q8 table lookups, one thread over 16M elements: dequantize with permutes (<see cref="Q8.Decode512"/>) or gathers
/// (<see cref="Q8.Decode512Gather"/>); quantize (absmax + codes) with the bucket arithmetic (<see cref="Q8.Encode512"/>,
/// used on AVX-512, signed and unsigned map), the eight-level search over permuted bound tables it replaced
/// (<see cref="Q8.Encode512Search"/>, one vector at a time as <see cref="Q8.Quantize"/> ran it, and two vectors
/// interleaved with the tables held in registers), or the bucket table (<see cref="Q8.Encode512Bucket"/>); on AVX2 the
/// bucket arithmetic (<see cref="Q8.Encode256"/>, used) or the bucket table (<see cref="Q8.Encode256Bucket"/>).
/// <c>--filter '*Q8Lookups*' --job short --inProcess</c>.
/// </summary>
public unsafe class Q8Lookups : IDisposable
{
    private float[] _x = null!, _back = null!, _absmax = null!;
    private byte[] _codes = null!;

    [Params(16 << 20)]
    public int Size { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(2);
        _x = new float[Size];
        for (int i = 0; i < Size; i++)
        {
            _x[i] = (float)((rng.NextDouble() - 0.5) * Math.Pow(10, -4 * rng.NextDouble()));
        }

        _back = new float[Size];
        _codes = new byte[Size];
        _absmax = new float[Q8.BlockCount(Size)];
        foreach (var map in new[] { DynamicMap.Signed, DynamicMap.Unsigned })
        {
            // The variants compared must give the same codes (the used path is tested against the scalar search).
            Q8.Quantize(_x, _codes, _absmax, map, IsaSupport.Best);
            var codes = new byte[Size];
            foreach (bool interleaved in new[] { false, true })
            {
                QuantizeWithSearch(_x, codes, _absmax, map, interleaved);
                Check(codes, $"the permuted search (interleaved: {interleaved})");
            }

            QuantizeWithBucketsAvx2(_x, codes, _absmax, map);
            Check(codes, "the AVX2 bucket table");
        }
    }

    private void Check(byte[] codes, string variant)
    {
        if (!codes.AsSpan().SequenceEqual(_codes))
        {
            throw new InvalidOperationException($"{variant} gives other codes than Q8.Quantize.");
        }
    }

    [Benchmark(Baseline = true)]
    public void DequantizePermute() => Q8.Dequantize(_codes, _absmax, _back, DynamicMap.Signed, Isa.Avx512);

    [Benchmark]
    public void DequantizeGather() => StorageProbes.DequantizeWithGather(_codes, _absmax, _back, DynamicMap.Signed);

    [Benchmark]
    public void QuantizeArithmetic() => Q8.Quantize(_x, _codes, _absmax, DynamicMap.Signed, Isa.Avx512);

    [Benchmark]
    public void QuantizeArithmeticUnsigned() => Q8.Quantize(_x, _codes, _absmax, DynamicMap.Unsigned, Isa.Avx512);

    [Benchmark]
    public void QuantizePermuteSearch() => QuantizeWithSearch(_x, _codes, _absmax, DynamicMap.Signed, interleaved: false);

    [Benchmark]
    public void QuantizePermuteSearchUnsigned() => QuantizeWithSearch(_x, _codes, _absmax, DynamicMap.Unsigned, interleaved: false);

    [Benchmark]
    public void QuantizePermuteSearchInterleaved() => QuantizeWithSearch(_x, _codes, _absmax, DynamicMap.Signed, interleaved: true);

    [Benchmark]
    public void QuantizeBucket() => StorageProbes.QuantizeWithBuckets(_x, _codes, _absmax, DynamicMap.Signed);

    [Benchmark]
    public void QuantizeArithmeticAvx2() => Q8.Quantize(_x, _codes, _absmax, DynamicMap.Signed, Isa.Avx2);

    [Benchmark]
    public void QuantizeBucketAvx2() => QuantizeWithBucketsAvx2(_x, _codes, _absmax, DynamicMap.Signed);

    public void Dispose() => GC.SuppressFinalize(this);

    /// <summary>
    /// <see cref="Q8.Quantize"/> as it ran before the bucket arithmetic: per block the absmax, then the permuted search
    /// (<see cref="Q8.Encode512Search"/>) per vector, or two vectors interleaved level by level with the level tables
    /// loaded once per block (<see cref="EncodeSearchPair"/>).
    /// </summary>
    private static void QuantizeWithSearch(ReadOnlySpan<float> source, Span<byte> codes, Span<float> absmax, DynamicMap map, bool interleaved)
    {
        var t = Q8.TablesOf(map);
        fixed (float* s = source)
        fixed (byte* c = codes)
        {
            for (int b = 0; b < absmax.Length; b++)
            {
                int start = b * Q8.BlockSize, n = Math.Min(Q8.BlockSize, source.Length - start);
                float a = Q8.AbsMax(source.Slice(start, n), Isa.Avx512);
                absmax[b] = a;
                float inverse = Q8.InverseScale(a);
                int i = interleaved ? EncodeSearchPair(s + start, c + start, n, inverse, t) : 0;
                var inv = Vector512.Create(inverse);
                for (; i + 16 <= n; i += 16)
                {
                    Q8.StoreCodes512(Q8.Encode512Search(Vector512.Load(s + start + i) * inv, t), ref c[start + i]);
                }

                for (; i < n; i++)
                {
                    c[start + i] = Q8.Encode(s[start + i] * inverse, map);
                }
            }
        }
    }

    /// <summary><see cref="Q8.Quantize"/> on AVX2 as it ran before the bucket arithmetic: the bucket table (<see cref="Q8.Encode256Bucket"/>).</summary>
    private static void QuantizeWithBucketsAvx2(ReadOnlySpan<float> source, Span<byte> codes, Span<float> absmax, DynamicMap map)
    {
        var t = Q8.TablesOf(map);
        fixed (float* s = source)
        fixed (byte* c = codes)
        {
            for (int b = 0; b < absmax.Length; b++)
            {
                int start = b * Q8.BlockSize, n = Math.Min(Q8.BlockSize, source.Length - start);
                float a = Q8.AbsMax(source.Slice(start, n), Isa.Avx2);
                absmax[b] = a;
                float inverse = Q8.InverseScale(a);
                var inv = Vector256.Create(inverse);
                int i = 0;
                for (; i + 8 <= n; i += 8)
                {
                    Q8.StoreCodes256(Q8.Encode256Bucket(Vector256.Load(s + start + i) * inv, t), ref c[start + i]);
                }

                for (; i < n; i++)
                {
                    c[start + i] = Q8.Encode(s[start + i] * inverse, map);
                }
            }
        }
    }

    /// <summary>The permuted search on two vectors at a time, level by level, tables in registers; returns the elements done.</summary>
    private static int EncodeSearchPair(float* s, byte* c, int n, float inverse, Q8.Tables t)
    {
        float* l = t.Levels;
        var root = Vector512.Create(t.Bounds[128]);
        Vector512<float> l1 = Vector512.Load(l), l2 = Vector512.Load(l + 16), l3 = Vector512.Load(l + 32), l4 = Vector512.Load(l + 48);
        Vector512<float> l5a = Vector512.Load(l + 64), l5b = Vector512.Load(l + 80);
        Vector512<float> l6a = Vector512.Load(l + 96), l6b = Vector512.Load(l + 112), l6c = Vector512.Load(l + 128), l6d = Vector512.Load(l + 144);
        Vector512<float> l70 = Vector512.Load(l + 160), l71 = Vector512.Load(l + 176), l72 = Vector512.Load(l + 192), l73 = Vector512.Load(l + 208);
        Vector512<float> l74 = Vector512.Load(l + 224), l75 = Vector512.Load(l + 240), l76 = Vector512.Load(l + 256), l77 = Vector512.Load(l + 272);
        var inv = Vector512.Create(inverse);
        int i = 0;
        for (; i + 32 <= n; i += 32)
        {
            var y0 = Vector512.Load(s + i) * inv;
            var y1 = Vector512.Load(s + i + 16) * inv;
            var x0 = Vector512.GreaterThan(y0, root).AsInt32() & Vector512.Create(128);
            var x1 = Vector512.GreaterThan(y1, root).AsInt32() & Vector512.Create(128);
            x0 = Step(y0, x0, Avx512F.PermuteVar16x32(l1, x0 >> 7), 64);
            x1 = Step(y1, x1, Avx512F.PermuteVar16x32(l1, x1 >> 7), 64);
            x0 = Step(y0, x0, Avx512F.PermuteVar16x32(l2, x0 >> 6), 32);
            x1 = Step(y1, x1, Avx512F.PermuteVar16x32(l2, x1 >> 6), 32);
            x0 = Step(y0, x0, Avx512F.PermuteVar16x32(l3, x0 >> 5), 16);
            x1 = Step(y1, x1, Avx512F.PermuteVar16x32(l3, x1 >> 5), 16);
            x0 = Step(y0, x0, Avx512F.PermuteVar16x32(l4, x0 >> 4), 8);
            x1 = Step(y1, x1, Avx512F.PermuteVar16x32(l4, x1 >> 4), 8);
            x0 = Step(y0, x0, Table32(l5a, l5b, x0 >> 3), 4);
            x1 = Step(y1, x1, Table32(l5a, l5b, x1 >> 3), 4);
            var n0 = x0 >> 2;
            var n1 = x1 >> 2;
            x0 = Step(y0, x0, Select(n0, 32, Table32(l6a, l6b, n0), Table32(l6c, l6d, n0)), 2);
            x1 = Step(y1, x1, Select(n1, 32, Table32(l6a, l6b, n1), Table32(l6c, l6d, n1)), 2);
            n0 = x0 >> 1;
            n1 = x1 >> 1;
            x0 = Step(y0, x0, Select(n0, 64, Select(n0, 32, Table32(l70, l71, n0), Table32(l72, l73, n0)), Select(n0, 32, Table32(l74, l75, n0), Table32(l76, l77, n0))), 1);
            x1 = Step(y1, x1, Select(n1, 64, Select(n1, 32, Table32(l70, l71, n1), Table32(l72, l73, n1)), Select(n1, 32, Table32(l74, l75, n1), Table32(l76, l77, n1))), 1);
            Q8.StoreCodes512(x0, ref c[i]);
            Q8.StoreCodes512(x1, ref c[i + 16]);
        }

        return i;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> Step(Vector512<float> y, Vector512<int> idx, Vector512<float> candidate, int s) =>
        idx + (Vector512.GreaterThan(y, candidate).AsInt32() & Vector512.Create(s));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Table32(Vector512<float> lo, Vector512<float> hi, Vector512<int> index) => Avx512F.PermuteVar16x32x2(lo, index, hi);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Select(Vector512<int> index, int bit, Vector512<float> ifClear, Vector512<float> ifSet) =>
        Vector512.ConditionalSelect(Avx512F.CompareNotEqual(index & Vector512.Create(bit), Vector512<int>.Zero).AsSingle(), ifSet, ifClear);
}

using System;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using FusedOpt.Kernels;
using FusedOpt.Memory;
using FusedOpt.Threading;

namespace FusedOpt.Storage;

/// <summary>
/// A hand-written fused Adam step (torch.optim.Adam without weight decay or AMSGrad) over float32 parameters and
/// gradients with m and v stored as fp32, bf16 or q8: in one pass over memory each element's states are widened or
/// dequantized, updated, and narrowed or requantized. It is the reference the generated kernels are held to once the
/// generator can emit other storages: the same arithmetic, in the same order, as the generated Adam kernel
/// (m ← β₁m + (1−β₁)g; v ← β₂v + (1−β₂)g·g; p ← p − (lr / (1−β₁ᵗ))·m / (√v / √(1−β₂ᵗ) + ε), step-invariant factors in
/// float64 rounded once), so with fp32 states it gives the generated kernel's bits.
/// </summary>
/// <remarks>
/// <para>Threads own whole blocks of <see cref="Q8.BlockSize"/> elements (only the last part has a short block), so a q8
/// block is dequantized, updated and requantized by one thread and the same thread count gives the same bits.
/// Within a block of a q8 state, the updated values are kept in a 1 KB stack buffer (L1) until the block's new absmax is
/// known, then coded; bf16 with round-to-nearest-even is stored directly; bf16 with stochastic rounding goes through the
/// same buffer so that the random bits of a 64-element group are drawn in one Philox call.</para>
/// </remarks>
public sealed unsafe class CompressedAdam : IParallelWork, IDisposable
{
    private readonly WorkerPool _pool;
    private readonly Isa _isa;
    private float* _p, _g;
    private float _beta1, _c2, _beta2, _c4, _c5, _eps, _c7;
    private StochasticKey _keyM, _keyV;

    /// <summary>Creates the step over <paramref name="length"/> elements with states stored as <paramref name="storage"/>.</summary>
    public CompressedAdam(long length, StateStorage storage, int threads, Isa? isa = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        Length = length;
        Storage = storage;
        _isa = IsaSupport.Resolve(isa);
        _pool = new WorkerPool(threads);
        M = new StateBuffer(length, storage, DynamicMap.Signed);
        V = new StateBuffer(length, storage, DynamicMap.Unsigned);
    }

    /// <summary>Elements.</summary>
    public long Length { get; }

    /// <summary>How m and v are stored.</summary>
    public StateStorage Storage { get; }

    /// <summary>The instruction-set path the step runs.</summary>
    public Isa Isa => _isa;

    /// <summary>Learning rate.</summary>
    public float Lr { get; init; } = 1e-3f;

    /// <summary>β₁.</summary>
    public float Beta1 { get; init; } = 0.9f;

    /// <summary>β₂.</summary>
    public float Beta2 { get; init; } = 0.999f;

    /// <summary>ε, added outside the root.</summary>
    public float Eps { get; init; } = 1e-8f;

    /// <summary>bf16 only: round stores stochastically (Philox keyed by <see cref="Seed"/>, counted by step and element) instead of to nearest even.</summary>
    public bool StochasticRounding { get; init; }

    /// <summary>The seed of stochastic rounding.</summary>
    public ulong Seed { get; init; }

    /// <summary>
    /// q8 only: a positive v is never stored as code 0 (<see cref="OptimizerOptions.Q8KeepPositive"/>). Applied here as
    /// its own step after bitsandbytes' codes (code 0 → 1 where v·(1/absmax) &gt; 0), not through the encoder's option,
    /// so that it checks the encoder.
    /// </summary>
    public bool Q8KeepPositive { get; init; }

    /// <summary>The first moment.</summary>
    public StateBuffer M { get; }

    /// <summary>The second moment.</summary>
    public StateBuffer V { get; }

    /// <summary>Steps taken (t of the last step).</summary>
    public long StepCount { get; private set; }

    /// <summary>One step: <paramref name="parameters"/> updated in place from <paramref name="gradients"/>.</summary>
    public void Step(AlignedBuffer parameters, AlignedBuffer gradients)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        ArgumentNullException.ThrowIfNull(gradients);
        if (parameters.Length != Length || gradients.Length != Length)
        {
            throw new ArgumentException($"The step is over {Length} elements; got {parameters.Length} parameters and {gradients.Length} gradients.");
        }

        if (Q8KeepPositive && Storage != StateStorage.Q8)
        {
            throw new InvalidOperationException($"Q8KeepPositive applies to q8 states only; this step stores them as {StateStorages.Name(Storage)}.");
        }

        long t = StepCount + 1;
        _beta1 = Beta1;
        _c2 = (float)(1 - (double)Beta1);
        _beta2 = Beta2;
        _c4 = (float)(1 - (double)Beta2);
        _c5 = (float)(1.0 / Math.Sqrt(1 - Math.Pow(Beta2, t)));
        _eps = Eps;
        _c7 = (float)(Lr / (1 - Math.Pow(Beta1, t)));
        _keyM = Bf16.KeyFor(Seed, 0);
        _keyV = Bf16.KeyFor(Seed, 1);
        _p = parameters.Pointer;
        _g = gradients.Pointer;
        StepCount = t;
        _pool.Run(this);
        _p = _g = null;
    }

    /// <summary>The slice [start, end) of part <paramref name="part"/>: whole blocks of 256, only the last part's last block short.</summary>
    public static (long Start, long End) PartOf(long length, int part, int parts)
    {
        long blocks = Q8.BlockCount(length);
        long per = (blocks + parts - 1) / parts;
        return (Math.Min(length, per * part * Q8.BlockSize), Math.Min(length, per * (part + 1) * Q8.BlockSize));
    }

    void IParallelWork.Execute(int part)
    {
        var (start, end) = PartOf(Length, part, _pool.Count);
        switch (Storage)
        {
            case StateStorage.Fp32: Run<Fp32Kind>(start, end); break;
            case StateStorage.Bf16 when StochasticRounding: Run<Bf16StochasticKind>(start, end); break;
            case StateStorage.Bf16: Run<Bf16Kind>(start, end); break;
            default: Run<Q8Kind>(start, end); break;
        }
    }

    private void Run<TKind>(long start, long end) where TKind : struct, IKind
    {
        float* mNew = stackalloc float[Q8.BlockSize];
        float* vNew = stackalloc float[Q8.BlockSize];
        for (long b = start; b < end; b += Q8.BlockSize)
        {
            int n = (int)Math.Min(Q8.BlockSize, end - b);
            if (_isa == Isa.Avx512)
            {
                Block512<TKind>(b, n, mNew, vNew);
            }
            else if (_isa == Isa.Avx2)
            {
                Block256<TKind>(b, n, mNew, vNew);
            }
            else
            {
                BlockScalar<TKind>(b, 0, n, mNew, vNew);
            }

            if (TKind.Kind != Kind.Fp32 && TKind.Kind != Kind.Bf16)
            {
                Commit<TKind>(b, n, mNew, vNew);
            }
        }
    }

    /// <summary>Codes (q8) or rounds stochastically (bf16) the block's updated states kept in the stack buffers.</summary>
    private void Commit<TKind>(long b, int n, float* mNew, float* vNew) where TKind : struct, IKind
    {
        if (TKind.Kind == Kind.Q8)
        {
            long block = b / Q8.BlockSize;
            float am = Q8.AbsMax(new ReadOnlySpan<float>(mNew, n), _isa);
            float av = Q8.AbsMax(new ReadOnlySpan<float>(vNew, n), _isa);
            M.AbsMax[block] = am;
            V.AbsMax[block] = av;
            Q8.EncodeBlock(new ReadOnlySpan<float>(mNew, n), new Span<byte>(M.Data + b, n), Q8.InverseScale(am), DynamicMap.Signed, _isa);
            Q8.EncodeBlock(new ReadOnlySpan<float>(vNew, n), new Span<byte>(V.Data + b, n), Q8.InverseScale(av), DynamicMap.Unsigned, _isa);
            if (Q8KeepPositive)
            {
                // The rule written out: the scaled value y as the encoder computes it; a positive y coded 0 takes code 1.
                float inverse = Q8.InverseScale(av);
                byte* codes = V.Data + b;
                for (int i = 0; i < n; i++)
                {
                    if (codes[i] == 0 && vNew[i] * inverse > 0f)
                    {
                        codes[i] = 1;
                    }
                }
            }
        }
        else
        {
            Bf16.NarrowStochastic(new ReadOnlySpan<float>(mNew, n), new Span<ushort>((ushort*)M.Data + b, n), _keyM, StepCount, b, _isa);
            Bf16.NarrowStochastic(new ReadOnlySpan<float>(vNew, n), new Span<ushort>((ushort*)V.Data + b, n), _keyV, StepCount, b, _isa);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Block512<TKind>(long b, int n, float* mNew, float* vNew) where TKind : struct, IKind
    {
        float* p = _p + b, g = _g + b;
        byte* md = M.Data, vd = V.Data;
        var tm = Q8.TablesOf(DynamicMap.Signed);
        var tv = Q8.TablesOf(DynamicMap.Unsigned);
        var am = Vector512.Create(TKind.Kind == Kind.Q8 ? M.AbsMax[b / Q8.BlockSize] : 0f);
        var av = Vector512.Create(TKind.Kind == Kind.Q8 ? V.AbsMax[b / Q8.BlockSize] : 0f);
        var beta1 = Vector512.Create(_beta1);
        var c2 = Vector512.Create(_c2);
        var beta2 = Vector512.Create(_beta2);
        var c4 = Vector512.Create(_c4);
        var c5 = Vector512.Create(_c5);
        var eps = Vector512.Create(_eps);
        var c7 = Vector512.Create(_c7);
        int i = 0;
        for (; i <= n - 16; i += 16)
        {
            long e = b + i;
            var pv = Vector512.Load(p + i);
            var gv = Vector512.Load(g + i);
            Vector512<float> m, v;
            if (TKind.Kind == Kind.Fp32)
            {
                m = Vector512.Load((float*)md + e);
                v = Vector512.Load((float*)vd + e);
            }
            else if (TKind.Kind == Kind.Q8)
            {
                m = Q8.Decode512(Q8.LoadCodes512(ref md[e]), tm) * am;
                v = Q8.Decode512(Q8.LoadCodes512(ref vd[e]), tv) * av;
            }
            else
            {
                m = Bf16.Load512(ref ((ushort*)md)[e]);
                v = Bf16.Load512(ref ((ushort*)vd)[e]);
            }

            m = (beta1 * m) + (c2 * gv);
            v = (beta2 * v) + (c4 * gv * gv);
            var denom = (Vector512.Sqrt(v) * c5) + eps;
            pv -= c7 * (m / denom);
            pv.Store(p + i);
            if (TKind.Kind == Kind.Fp32)
            {
                m.Store((float*)md + e);
                v.Store((float*)vd + e);
            }
            else if (TKind.Kind == Kind.Bf16)
            {
                Bf16.Store512(m, ref ((ushort*)md)[e]);
                Bf16.Store512(v, ref ((ushort*)vd)[e]);
            }
            else
            {
                m.Store(mNew + i);
                v.Store(vNew + i);
            }
        }

        BlockScalar<TKind>(b, i, n, mNew, vNew);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Block256<TKind>(long b, int n, float* mNew, float* vNew) where TKind : struct, IKind
    {
        float* p = _p + b, g = _g + b;
        byte* md = M.Data, vd = V.Data;
        var tm = Q8.TablesOf(DynamicMap.Signed);
        var tv = Q8.TablesOf(DynamicMap.Unsigned);
        var am = Vector256.Create(TKind.Kind == Kind.Q8 ? M.AbsMax[b / Q8.BlockSize] : 0f);
        var av = Vector256.Create(TKind.Kind == Kind.Q8 ? V.AbsMax[b / Q8.BlockSize] : 0f);
        var beta1 = Vector256.Create(_beta1);
        var c2 = Vector256.Create(_c2);
        var beta2 = Vector256.Create(_beta2);
        var c4 = Vector256.Create(_c4);
        var c5 = Vector256.Create(_c5);
        var eps = Vector256.Create(_eps);
        var c7 = Vector256.Create(_c7);
        int i = 0;
        for (; i <= n - 8; i += 8)
        {
            long e = b + i;
            var pv = Vector256.Load(p + i);
            var gv = Vector256.Load(g + i);
            Vector256<float> m, v;
            if (TKind.Kind == Kind.Fp32)
            {
                m = Vector256.Load((float*)md + e);
                v = Vector256.Load((float*)vd + e);
            }
            else if (TKind.Kind == Kind.Q8)
            {
                m = Q8.Decode256(Q8.LoadCodes256(ref md[e]), tm) * am;
                v = Q8.Decode256(Q8.LoadCodes256(ref vd[e]), tv) * av;
            }
            else
            {
                m = Bf16.Load256(ref ((ushort*)md)[e]);
                v = Bf16.Load256(ref ((ushort*)vd)[e]);
            }

            m = (beta1 * m) + (c2 * gv);
            v = (beta2 * v) + (c4 * gv * gv);
            var denom = (Vector256.Sqrt(v) * c5) + eps;
            pv -= c7 * (m / denom);
            pv.Store(p + i);
            if (TKind.Kind == Kind.Fp32)
            {
                m.Store((float*)md + e);
                v.Store((float*)vd + e);
            }
            else if (TKind.Kind == Kind.Bf16)
            {
                Bf16.Store256(m, ref ((ushort*)md)[e]);
                Bf16.Store256(v, ref ((ushort*)vd)[e]);
            }
            else
            {
                m.Store(mNew + i);
                v.Store(vNew + i);
            }
        }

        BlockScalar<TKind>(b, i, n, mNew, vNew);
    }

    /// <summary>Elements [from, n) of the block at <paramref name="b"/>, one at a time: the tail of the vector loops and the scalar path.</summary>
    private void BlockScalar<TKind>(long b, int from, int n, float* mNew, float* vNew) where TKind : struct, IKind
    {
        float* p = _p + b, g = _g + b;
        byte* md = M.Data, vd = V.Data;
        float am = TKind.Kind == Kind.Q8 ? M.AbsMax[b / Q8.BlockSize] : 0f;
        float av = TKind.Kind == Kind.Q8 ? V.AbsMax[b / Q8.BlockSize] : 0f;
        for (int i = from; i < n; i++)
        {
            long e = b + i;
            float gi = g[i];
            float m, v;
            if (TKind.Kind == Kind.Fp32)
            {
                m = ((float*)md)[e];
                v = ((float*)vd)[e];
            }
            else if (TKind.Kind == Kind.Q8)
            {
                m = Q8.Decode(md[e], am, DynamicMap.Signed);
                v = Q8.Decode(vd[e], av, DynamicMap.Unsigned);
            }
            else
            {
                m = Bf16.ToFloat(((ushort*)md)[e]);
                v = Bf16.ToFloat(((ushort*)vd)[e]);
            }

            m = (_beta1 * m) + (_c2 * gi);
            v = (_beta2 * v) + (_c4 * gi * gi);
            float denom = (MathF.Sqrt(v) * _c5) + _eps;
            p[i] -= _c7 * (m / denom);
            if (TKind.Kind == Kind.Fp32)
            {
                ((float*)md)[e] = m;
                ((float*)vd)[e] = v;
            }
            else if (TKind.Kind == Kind.Bf16)
            {
                ((ushort*)md)[e] = Bf16.FromFloat(m);
                ((ushort*)vd)[e] = Bf16.FromFloat(v);
            }
            else
            {
                mNew[i] = m;
                vNew[i] = v;
            }
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _pool.Dispose();
        M.Dispose();
        V.Dispose();
    }

    private enum Kind { Fp32, Bf16, Bf16Stochastic, Q8 }

    /// <summary>The storage as a type, so that the JIT folds every storage test in the element loops.</summary>
    private interface IKind
    {
        static abstract Kind Kind { get; }
    }

    private struct Fp32Kind : IKind
    {
        public static Kind Kind => Kind.Fp32;
    }

    private struct Bf16Kind : IKind
    {
        public static Kind Kind => Kind.Bf16;
    }

    private struct Bf16StochasticKind : IKind
    {
        public static Kind Kind => Kind.Bf16Stochastic;
    }

    private struct Q8Kind : IKind
    {
        public static Kind Kind => Kind.Q8;
    }
}

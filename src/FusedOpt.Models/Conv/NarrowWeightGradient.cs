using System;
using System.Numerics;
using System.Runtime.CompilerServices;
using FusedOpt.Threading;

namespace FusedOpt.Models.Layers;

/// <summary>
/// The weight gradient of a convolution with few values per im2col row (K = k·k·Cin ≤ <see cref="MaxDepth"/>, VGG's
/// first layer: K = 27): dWp [Cout, K] = dYᵀ [Cout, P] · col [P, K] summed over P = batch·H·W pixels. The packed GEMM
/// runs such a product (M = Cout, N = K = 27, depth P = 131,072) at a few % of peak; here two output channel vectors
/// (<see cref="Vector{T}"/>.Count channels each) and four columns k keep eight sums in registers while one pass walks
/// the pixels: per pixel two loads of dY[p, o…], four broadcasts of col[p, k] and eight FMAs (one vector for an odd
/// remainder).
/// </summary>
/// <remarks>
/// Sums run over blocks of <see cref="Block"/> pixels in registers, then add into a running total [K, Cout] in block
/// order (two-level summation: the rounding error grows with Block + P/Block terms rather than with P). The pixel
/// blocks are the outer loop, so dY and col are read from memory once. The output channel vectors are split over the
/// pool, each summing over all pixels in the same order, so the bits do not depend on the thread count.
/// </remarks>
/// <typeparam name="T"><see cref="float"/> or <see cref="double"/>.</typeparam>
internal sealed unsafe class NarrowWeightGradient<T> : IParallelWork
    where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Largest K this kernel takes; wider products go to the GEMM.</summary>
    public const int MaxDepth = 32;

    /// <summary>Pixels summed in registers before adding into the running total.</summary>
    private const int Block = 256;

    private T* _dy;
    private T* _col;
    private T* _grad;
    private int _pixels;
    private int _cout;
    private int _depth;
    private int _parts = 1;
    private T[] _totals = [];
    private T* _total;

    /// <summary>Whether the kernel applies: K ≤ <see cref="MaxDepth"/> and Cout a multiple of the vector width.</summary>
    public static bool Supports(int cout, int depth) =>
        Vector.IsHardwareAccelerated && depth <= MaxDepth && cout % Vector<T>.Count == 0;

    /// <summary>
    /// grad [cout, depth] = dyᵀ · col (overwritten), with dy [pixels, cout] and col [pixels, depth] row-major.
    /// </summary>
    public void Run(WorkerPool? pool, ReadOnlySpan<T> dy, ReadOnlySpan<T> col, int pixels, int cout, int depth, Span<T> grad)
    {
        if (!Supports(cout, depth) || dy.Length < (long)pixels * cout || col.Length < (long)pixels * depth || grad.Length < cout * depth)
        {
            throw new ArgumentException($"weight gradient: {pixels} pixels × {cout} channels × depth {depth} need dy ≥ {(long)pixels * cout}, col ≥ {(long)pixels * depth}, grad ≥ {cout * depth} values, depth ≤ {MaxDepth} and channels a multiple of {Vector<T>.Count}; got {dy.Length}, {col.Length}, {grad.Length}.", nameof(grad));
        }

        if (_totals.Length < cout * depth)
        {
            _totals = new T[cout * depth]; // once per layer: the shapes do not change
        }

        fixed (T* pdy = dy, pcol = col, pgrad = grad, ptotal = _totals)
        {
            _total = ptotal;
            _dy = pdy;
            _col = pcol;
            _grad = pgrad;
            _pixels = pixels;
            _cout = cout;
            _depth = depth;
            _parts = LayerParallel.Parts(pool);
            LayerParallel.Run(pool, this);
            _dy = _col = _grad = _total = null;
        }
    }

    /// <inheritdoc />
    void IParallelWork.Execute(int part)
    {
        int vc = Vector<T>.Count, cout = _cout, depth = _depth;
        var (first, end) = LayerParallel.Split(cout / vc, part, _parts);
        T* total = _total;
        for (int v = first; v < end; v++)
        {
            for (int k = 0; k < depth; k++)
            {
                Vector.Store(Vector<T>.Zero, total + ((long)k * cout) + (v * vc));
            }
        }

        // Pixel blocks outermost: a block of dY and col (Block rows) stays in cache while every channel vector of
        // this part and every k sums over it; the totals (K × Cout) stay in L1.
        for (int p0 = 0; p0 < _pixels; p0 += Block)
        {
            int p1 = Math.Min(_pixels, p0 + Block);
            int v = first;
            for (; v + 2 <= end; v += 2)
            {
                SumPair(p0, p1, v * vc, total);
            }

            if (v < end)
            {
                SumOne(p0, p1, v * vc, total);
            }
        }

        // total [K, Cout] → grad [Cout, K], this part's channels.
        for (int o = first * vc; o < end * vc; o++)
        {
            for (int k = 0; k < depth; k++)
            {
                _grad[((long)o * depth) + k] = total[((long)k * cout) + o];
            }
        }
    }

    /// <summary>
    /// Adds Σ over pixels [p0, p1) of dY[p, o0 … o0 + 2·vc) · col[p, k] into total[k, ·] for every k: two channel vectors
    /// and four columns (eight independent sums, enough to cover the FMA latency) per pass, one column at a time for the
    /// rest. Each (o, k) sum runs over the pixels in the same order as in <see cref="SumOne"/>, so pairing changes no bit.
    /// </summary>
    private void SumPair(int p0, int p1, int o0, T* total)
    {
        int vc = Vector<T>.Count, cout = _cout, depth = _depth;
        int k = 0;
        for (; k + 4 <= depth; k += 4)
        {
            Vector<T> a0 = Vector<T>.Zero, a1 = Vector<T>.Zero, a2 = Vector<T>.Zero, a3 = Vector<T>.Zero;
            Vector<T> b0 = Vector<T>.Zero, b1 = Vector<T>.Zero, b2 = Vector<T>.Zero, b3 = Vector<T>.Zero;
            T* d = _dy + ((long)p0 * cout) + o0;
            T* c = _col + ((long)p0 * depth) + k;
            for (int p = p0; p < p1; p++, d += cout, c += depth)
            {
                Vector<T> g = Vector.Load(d), h = Vector.Load(d + vc);
                Vector<T> c0 = new(c[0]), c1 = new(c[1]), c2 = new(c[2]), c3 = new(c[3]);
                a0 = MultiplyAdd(g, c0, a0);
                b0 = MultiplyAdd(h, c0, b0);
                a1 = MultiplyAdd(g, c1, a1);
                b1 = MultiplyAdd(h, c1, b1);
                a2 = MultiplyAdd(g, c2, a2);
                b2 = MultiplyAdd(h, c2, b2);
                a3 = MultiplyAdd(g, c3, a3);
                b3 = MultiplyAdd(h, c3, b3);
            }

            T* t = total + ((long)k * cout) + o0;
            AddInto(t, a0, b0, vc);
            AddInto(t + cout, a1, b1, vc);
            AddInto(t + (2 * cout), a2, b2, vc);
            AddInto(t + (3 * cout), a3, b3, vc);
        }

        for (; k < depth; k++)
        {
            Vector<T> a0 = Vector<T>.Zero, b0 = Vector<T>.Zero;
            T* d = _dy + ((long)p0 * cout) + o0;
            T* c = _col + ((long)p0 * depth) + k;
            for (int p = p0; p < p1; p++, d += cout, c += depth)
            {
                Vector<T> c0 = new(c[0]);
                a0 = MultiplyAdd(Vector.Load(d), c0, a0);
                b0 = MultiplyAdd(Vector.Load(d + vc), c0, b0);
            }

            AddInto(total + ((long)k * cout) + o0, a0, b0, vc);
        }
    }

    /// <summary>As <see cref="SumPair"/> for one channel vector (a part with an odd number of them).</summary>
    private void SumOne(int p0, int p1, int o0, T* total)
    {
        int cout = _cout, depth = _depth;
        int k = 0;
        for (; k + 4 <= depth; k += 4)
        {
            Vector<T> a0 = Vector<T>.Zero, a1 = Vector<T>.Zero, a2 = Vector<T>.Zero, a3 = Vector<T>.Zero;
            T* d = _dy + ((long)p0 * cout) + o0;
            T* c = _col + ((long)p0 * depth) + k;
            for (int p = p0; p < p1; p++, d += cout, c += depth)
            {
                Vector<T> g = Vector.Load(d);
                a0 = MultiplyAdd(g, new Vector<T>(c[0]), a0);
                a1 = MultiplyAdd(g, new Vector<T>(c[1]), a1);
                a2 = MultiplyAdd(g, new Vector<T>(c[2]), a2);
                a3 = MultiplyAdd(g, new Vector<T>(c[3]), a3);
            }

            T* t = total + ((long)k * cout) + o0;
            Vector.Store(Vector.Load(t) + a0, t);
            Vector.Store(Vector.Load(t + cout) + a1, t + cout);
            Vector.Store(Vector.Load(t + (2 * cout)) + a2, t + (2 * cout));
            Vector.Store(Vector.Load(t + (3 * cout)) + a3, t + (3 * cout));
        }

        for (; k < depth; k++)
        {
            Vector<T> a0 = Vector<T>.Zero;
            T* d = _dy + ((long)p0 * cout) + o0;
            T* c = _col + ((long)p0 * depth) + k;
            for (int p = p0; p < p1; p++, d += cout, c += depth)
            {
                a0 = MultiplyAdd(Vector.Load(d), new Vector<T>(c[0]), a0);
            }

            T* t = total + ((long)k * cout) + o0;
            Vector.Store(Vector.Load(t) + a0, t);
        }
    }

    /// <summary>total[0 … 2·vc) += (a, b).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AddInto(T* t, Vector<T> a, Vector<T> b, int vc)
    {
        Vector.Store(Vector.Load(t) + a, t);
        Vector.Store(Vector.Load(t + vc) + b, t + vc);
    }

    /// <summary>
    /// a·b + c, fused (one rounding) where the processor has FMA (x64 FMA3, Arm64), else multiply then add: the choice
    /// is fixed per machine, so results are reproducible on it.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector<T> MultiplyAdd(Vector<T> a, Vector<T> b, Vector<T> c)
    {
        if (System.Runtime.Intrinsics.X86.Fma.IsSupported || System.Runtime.Intrinsics.Arm.AdvSimd.IsSupported)
        {
            if (typeof(T) == typeof(float))
            {
                return Vector.FusedMultiplyAdd(a.As<T, float>(), b.As<T, float>(), c.As<T, float>()).As<float, T>();
            }

            if (typeof(T) == typeof(double))
            {
                return Vector.FusedMultiplyAdd(a.As<T, double>(), b.As<T, double>(), c.As<T, double>()).As<double, T>();
            }
        }

        return (a * b) + c;
    }
}

using System;
using System.Numerics;
using System.Runtime.CompilerServices;

namespace FusedOpt.Models.Layers;

/// <summary>
/// A 3×3, stride 1, padding 1 convolution of channels-last images by Winograd's minimal filtering F(4×4, 3×3)
/// (Lavin &amp; Gray, "Fast Algorithms for Convolutional Neural Networks", CVPR 2016, §4.2, interpolation points 0, ±1,
/// ±2 and ∞): each 4×4 output tile is Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A from its 6×6 input tile d, 36 multiplications per tile
/// and channel pair instead of 144 (4× fewer; F(2×2, 3×3), <see cref="Winograd3x3{T}"/>, saves 2.25×). Over a batch
/// the element-wise products become 36 GEMMs V[e] [tiles, Cin] · U[e] [Cin, Cout] on the packed GEMM.
/// </summary>
/// <remarks>
/// <para>The matrices (the paper's, rows listed):</para>
/// <code>
/// Bᵀ (6×6) = [ 4   0  −5   0   1   0 ]    G (6×3) = [  1/4     0     0  ]    Aᵀ (4×6) = [ 1  1   1  1   1  0 ]
///            [ 0  −4  −4   1   1   0 ]              [ −1/6  −1/6  −1/6 ]               [ 0  1  −1  2  −2  0 ]
///            [ 0   4  −4  −1   1   0 ]              [ −1/6   1/6  −1/6 ]               [ 0  1   1  4   4  0 ]
///            [ 0  −2  −1   2   1   0 ]              [ 1/24  1/12   1/6 ]               [ 0  1  −1  8  −8  1 ]
///            [ 0   2  −1  −2   1   0 ]              [ 1/24 −1/12   1/6 ]
///            [ 0   4   0  −5   0   1 ]              [   0     0     1  ]
/// </code>
/// <para>Unlike F(2×2, 3×3) these are not additions and halvings only: Bᵀ and Aᵀ multiply by up to 5 and 8 and G
/// divides by 6 and 24, so rounding errors grow. All transforms run in <typeparamref name="T"/> on vectors (the
/// kernel transform over j after <see cref="WinogradConvolution{T}.TransformWeights"/> repacks the weights). In
/// float32 the max error relative to the output's largest magnitude measures at most 1.3·10⁻⁶·√C for C channels summed
/// (3.7·10⁻⁶ at C = 8, 1.4·10⁻⁵ at C = 256), 10–30× F(2×2)'s and im2col's; Winograd4x4Tests bounds it at 4·10⁻⁶·√C.
/// The PyTorch VGG reference case passes with every eligible layer forced to it.</para>
/// <para>Images whose sides are not multiples of 4 get partial tiles: the input tile reads zeros past the image, and
/// the outputs past it are not written. The transforms run on channel vectors (<see cref="Vector{T}"/>), so both
/// channel counts must be multiples of its width (<see cref="WinogradConvolution{T}.Supports"/>); the images of the
/// batch are split over the pool (<see cref="WinogradConvolution{T}"/>). Backward-data is the same routine on dL/dy
/// with the kernel rotated by 180° and its channel axes swapped; backward-weights is its adjoint in the kernel,
/// Gᵀ[Σ_tiles (A dY Aᵀ) ⊙ (Bᵀ d B)]G (<see cref="WinogradConvolution{T}.WeightGradient"/>).</para>
/// </remarks>
/// <typeparam name="T"><see cref="float"/> or <see cref="double"/>.</typeparam>
internal sealed unsafe class Winograd4x4<T> : WinogradConvolution<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <inheritdoc />
    public override int TileSize => 4;

    /// <inheritdoc />
    protected override void TransformKernels(T* g, int cols, T* u, long plane)
    {
        Vector<T> quarter = new(T.CreateTruncating(0.25)), sixth = new(T.CreateTruncating(1.0 / 6)), twelfth = new(T.CreateTruncating(1.0 / 12)), twentyFourth = new(T.CreateTruncating(1.0 / 24));
        Vector<T>* gg = stackalloc Vector<T>[18];
        for (int j = 0; j < cols; j += Vector<T>.Count)
        {
            // G·g: 6×3, column by column.
            for (int k = 0; k < 3; k++)
            {
                G(Vector.Load(g + (k * cols) + j), Vector.Load(g + ((3 + k) * cols) + j), Vector.Load(g + ((6 + k) * cols) + j), quarter, sixth, twelfth, twentyFourth,
                    out gg[k], out gg[3 + k], out gg[6 + k], out gg[9 + k], out gg[12 + k], out gg[15 + k]);
            }

            // (G·g)·Gᵀ: 6×6, row by row.
            for (int r = 0; r < 6; r++)
            {
                G(gg[r * 3], gg[(r * 3) + 1], gg[(r * 3) + 2], quarter, sixth, twelfth, twentyFourth, out var e0, out var e1, out var e2, out var e3, out var e4, out var e5);
                T* target = u + ((r * 6) * plane) + j;
                Store6(target, plane, e0, e1, e2, e3, e4, e5);
            }
        }
    }

    /// <inheritdoc />
    protected override void InputTransform(int n)
    {
        int h = Height, w = Width, cin = InChannels, vc = Vector<T>.Count;
        TileGrid grid = Grid;
        long stride = VStride;
        T* image = Input + ((long)n * h * w * cin);
        Vector<T>* d = stackalloc Vector<T>[36];
        Vector<T> four = new(T.CreateTruncating(4)), five = new(T.CreateTruncating(5));
        for (int ty = 0; ty < grid.Down; ty++)
        {
            for (int tx = 0; tx < grid.Across; tx++)
            {
                long tile = grid.Index(n, ty, tx);
                T* v = V + (tile * cin);
                int iy0 = (4 * ty) - 1, ix0 = (4 * tx) - 1;
                bool inside = iy0 >= 0 && ix0 >= 0 && iy0 + 6 <= h && ix0 + 6 <= w;
                for (int j = 0; j < cin; j += vc)
                {
                    if (inside)
                    {
                        for (int r = 0; r < 6; r++)
                        {
                            T* line = image + ((((long)(iy0 + r) * w) + ix0) * cin) + j;
                            for (int c = 0; c < 6; c++)
                            {
                                d[(r * 6) + c] = Vector.Load(line + ((long)c * cin));
                            }
                        }
                    }
                    else
                    {
                        for (int r = 0; r < 6; r++)
                        {
                            int iy = iy0 + r;
                            for (int c = 0; c < 6; c++)
                            {
                                int ix = ix0 + c;
                                d[(r * 6) + c] = (uint)iy < (uint)h && (uint)ix < (uint)w
                                    ? Vector.Load(image + ((((long)iy * w) + ix) * cin) + j)
                                    : Vector<T>.Zero;
                            }
                        }
                    }

                    // Bᵀ·d: each column c of the tile, in place.
                    for (int c = 0; c < 6; c++)
                    {
                        Bt(d[c], d[6 + c], d[12 + c], d[18 + c], d[24 + c], d[30 + c], four, five,
                            out d[c], out d[6 + c], out d[12 + c], out d[18 + c], out d[24 + c], out d[30 + c]);
                    }

                    // (Bᵀ·d)·B: each row r, stored at e = 6r + c.
                    for (int r = 0; r < 6; r++)
                    {
                        Vector<T>* row = d + (r * 6);
                        Bt(row[0], row[1], row[2], row[3], row[4], row[5], four, five,
                            out var e0, out var e1, out var e2, out var e3, out var e4, out var e5);
                        T* target = v + ((r * 6) * stride) + j;
                        Store6(target, stride, e0, e1, e2, e3, e4, e5);
                    }
                }
            }
        }
    }

    /// <inheritdoc />
    protected override void OutputTransform(int n)
    {
        int h = Height, w = Width, cout = OutChannels, vc = Vector<T>.Count;
        TileGrid grid = Grid;
        long stride = MStride;
        T* image = Output + ((long)n * h * w * cout);
        Vector<T>* s = stackalloc Vector<T>[24];
        Vector<T>* o = stackalloc Vector<T>[4];
        Vector<T> two = new(T.CreateTruncating(2)), four = new(T.CreateTruncating(4)), eight = new(T.CreateTruncating(8));
        for (int ty = 0; ty < grid.Down; ty++)
        {
            int rowsOut = Math.Min(4, h - (4 * ty));
            for (int tx = 0; tx < grid.Across; tx++)
            {
                int colsOut = Math.Min(4, w - (4 * tx));
                long tile = grid.Index(n, ty, tx);
                T* source = M + (tile * cout);
                for (int j = 0; j < cout; j += vc)
                {
                    // Aᵀ·m: each column c of the 6×6 product, into s (4×6).
                    T* column = source + j;
                    for (int c = 0; c < 6; c++)
                    {
                        At(
                            Vector.Load(column + (c * stride)), Vector.Load(column + ((6 + c) * stride)), Vector.Load(column + ((12 + c) * stride)),
                            Vector.Load(column + ((18 + c) * stride)), Vector.Load(column + ((24 + c) * stride)), Vector.Load(column + ((30 + c) * stride)),
                            two, four, eight, out s[c], out s[6 + c], out s[12 + c], out s[18 + c]);
                    }

                    var b = BiasValues is null ? Vector<T>.Zero : Vector.Load(BiasValues + j);

                    // (Aᵀ·m)·A: each row r of s gives output row 4·ty + r; outputs past the image are dropped.
                    for (int r = 0; r < rowsOut; r++)
                    {
                        Vector<T>* row = s + (r * 6);
                        At(row[0], row[1], row[2], row[3], row[4], row[5], two, four, eight, out o[0], out o[1], out o[2], out o[3]);
                        T* target = image + ((((long)((4 * ty) + r) * w) + (4 * tx)) * cout) + j;
                        for (int c = 0; c < colsOut; c++)
                        {
                            Vector.Store(o[c] + b, target + ((long)c * cout));
                        }
                    }
                }
            }
        }
    }

    /// <inheritdoc />
    protected override void OutputGradientTransform(int n)
    {
        int h = Height, w = Width, cout = OutChannels, vc = Vector<T>.Count;
        TileGrid grid = Grid;
        long stride = MStride;
        T* image = Input + ((long)n * h * w * cout);
        Vector<T>* x = stackalloc Vector<T>[24];
        Vector<T>* d = stackalloc Vector<T>[4];
        Vector<T> two = new(T.CreateTruncating(2)), four = new(T.CreateTruncating(4)), eight = new(T.CreateTruncating(8));
        for (int ty = 0; ty < grid.Down; ty++)
        {
            int rowsIn = Math.Min(4, h - (4 * ty));
            for (int tx = 0; tx < grid.Across; tx++)
            {
                int colsIn = Math.Min(4, w - (4 * tx));
                long tile = grid.Index(n, ty, tx);
                T* target = M + (tile * cout);
                for (int j = 0; j < cout; j += vc)
                {
                    // A·dY: each column c of the 4×4 dY tile (zeros past the image) into x (6×4).
                    for (int c = 0; c < 4; c++)
                    {
                        for (int r = 0; r < 4; r++)
                        {
                            d[r] = r < rowsIn && c < colsIn
                                ? Vector.Load(image + ((((long)((4 * ty) + r) * w) + (4 * tx) + c) * cout) + j)
                                : Vector<T>.Zero;
                        }

                        Ay(d[0], d[1], d[2], d[3], two, four, eight, out x[c], out x[4 + c], out x[8 + c], out x[12 + c], out x[16 + c], out x[20 + c]);
                    }

                    // (A·dY)·Aᵀ: each row r of x, stored at e = 6r + c.
                    for (int r = 0; r < 6; r++)
                    {
                        Vector<T>* row = x + (r * 4);
                        Ay(row[0], row[1], row[2], row[3], two, four, eight, out var e0, out var e1, out var e2, out var e3, out var e4, out var e5);
                        T* m = target + ((r * 6) * stride) + j;
                        Vector.Store(e0, m);
                        Vector.Store(e1, m + stride);
                        Vector.Store(e2, m + (2 * stride));
                        Vector.Store(e3, m + (3 * stride));
                        Vector.Store(e4, m + (4 * stride));
                        Vector.Store(e5, m + (5 * stride));
                    }
                }
            }
        }
    }

    /// <inheritdoc />
    protected override void KernelGradient(T* p, long plane, int c, T* grad)
    {
        int cin = InChannels, cout = OutChannels, vc = Vector<T>.Count;
        Vector<T> quarter = new(T.CreateTruncating(0.25)), sixth = new(T.CreateTruncating(1.0 / 6)), twelfth = new(T.CreateTruncating(1.0 / 12)), twentyFourth = new(T.CreateTruncating(1.0 / 24));
        Vector<T>* h = stackalloc Vector<T>[18];
        for (int j = 0; j < cout; j += vc)
        {
            // Gᵀ·P: each column f of the 6×6 P (over e = 6r + f) into h (3×6).
            for (int f = 0; f < 6; f++)
            {
                T* column = p + j + (f * plane);
                Gt(Vector.Load(column), Vector.Load(column + (6 * plane)), Vector.Load(column + (12 * plane)), Vector.Load(column + (18 * plane)),
                    Vector.Load(column + (24 * plane)), Vector.Load(column + (30 * plane)), quarter, sixth, twelfth, twentyFourth, out h[f], out h[6 + f], out h[12 + f]);
            }

            // (Gᵀ·P)·G: each row ky of h gives dW[o, c, ky, 0…2] for the vector of o.
            for (int ky = 0; ky < 3; ky++)
            {
                Vector<T>* row = h + (ky * 6);
                Gt(row[0], row[1], row[2], row[3], row[4], row[5], quarter, sixth, twelfth, twentyFourth, out var k0, out var k1, out var k2);
                AddKernelRow(grad, cin, j, c, ky, k0, k1, k2);
            }
        }
    }

    /// <summary>A·(x0 … x3), A = (Aᵀ)ᵀ (6×4): the adjoint of the output transform, with the shared terms x0 + x2, x1 + x3, x0 + 4x2 and 2x1 + 8x3.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Ay(
        Vector<T> x0, Vector<T> x1, Vector<T> x2, Vector<T> x3, Vector<T> two, Vector<T> four, Vector<T> eight,
        out Vector<T> r0, out Vector<T> r1, out Vector<T> r2, out Vector<T> r3, out Vector<T> r4, out Vector<T> r5)
    {
        Vector<T> even = x0 + x2, odd = x1 + x3, evenScaled = x0 + (four * x2), oddScaled = (two * x1) + (eight * x3);
        r0 = x0;
        r1 = even + odd;
        r2 = even - odd;
        r3 = evenScaled + oddScaled;
        r4 = evenScaled - oddScaled;
        r5 = x3;
    }

    /// <summary>Gᵀ·(x0 … x5) (3×6): the adjoint of the kernel transform.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Gt(
        Vector<T> x0, Vector<T> x1, Vector<T> x2, Vector<T> x3, Vector<T> x4, Vector<T> x5, Vector<T> quarter, Vector<T> sixth, Vector<T> twelfth, Vector<T> twentyFourth,
        out Vector<T> r0, out Vector<T> r1, out Vector<T> r2)
    {
        Vector<T> sum12 = x1 + x2, sum34 = x3 + x4;
        r0 = (x0 * quarter) - (sum12 * sixth) + (sum34 * twentyFourth);
        r1 = ((x2 - x1) * sixth) + ((x3 - x4) * twelfth);
        r2 = ((sum34 - sum12) * sixth) + x5;
    }

    /// <summary>Stores six vectors <paramref name="stride"/> values apart: one row or column of a 6×6 transform into its planes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store6(T* target, long stride, Vector<T> e0, Vector<T> e1, Vector<T> e2, Vector<T> e3, Vector<T> e4, Vector<T> e5)
    {
        Vector.Store(e0, target);
        Vector.Store(e1, target + stride);
        Vector.Store(e2, target + (2 * stride));
        Vector.Store(e3, target + (3 * stride));
        Vector.Store(e4, target + (4 * stride));
        Vector.Store(e5, target + (5 * stride));
    }

    /// <summary>G·(g0, g1, g2): the kernel transform of one column (or row), with the shared terms g0 + g2 and g0/24 + g2/6.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void G(
        Vector<T> g0, Vector<T> g1, Vector<T> g2, Vector<T> quarter, Vector<T> sixth, Vector<T> twelfth, Vector<T> twentyFourth,
        out Vector<T> t0, out Vector<T> t1, out Vector<T> t2, out Vector<T> t3, out Vector<T> t4, out Vector<T> t5)
    {
        Vector<T> outer = g0 + g2, ends = (g0 * twentyFourth) + (g2 * sixth), middle = g1 * twelfth;
        t0 = g0 * quarter;
        t1 = -(outer + g1) * sixth;
        t2 = (g1 - outer) * sixth;
        t3 = ends + middle;
        t4 = ends - middle;
        t5 = g2;
    }

    /// <summary>Bᵀ·(d0 … d5), with the shared terms d4 − 4d2, d3 − 4d1, d4 − d2 and 2(d3 − d1).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Bt(
        Vector<T> d0, Vector<T> d1, Vector<T> d2, Vector<T> d3, Vector<T> d4, Vector<T> d5, Vector<T> four, Vector<T> five,
        out Vector<T> r0, out Vector<T> r1, out Vector<T> r2, out Vector<T> r3, out Vector<T> r4, out Vector<T> r5)
    {
        Vector<T> a = d4 - (four * d2), b = d3 - (four * d1), c = d4 - d2, e = d3 - d1;
        e += e;
        r0 = (four * d0) - (five * d2) + d4;
        r1 = a + b;
        r2 = a - b;
        r3 = c + e;
        r4 = c - e;
        r5 = (four * d1) - (five * d3) + d5;
    }

    /// <summary>Aᵀ·(m0 … m5), with the shared terms m1 ± m2 and m3 ± m4.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void At(
        Vector<T> m0, Vector<T> m1, Vector<T> m2, Vector<T> m3, Vector<T> m4, Vector<T> m5, Vector<T> two, Vector<T> four, Vector<T> eight,
        out Vector<T> o0, out Vector<T> o1, out Vector<T> o2, out Vector<T> o3)
    {
        Vector<T> sum12 = m1 + m2, diff12 = m1 - m2, sum34 = m3 + m4, diff34 = m3 - m4;
        o0 = m0 + sum12 + sum34;
        o1 = diff12 + (two * diff34);
        o2 = sum12 + (four * sum34);
        o3 = diff12 + (eight * diff34) + m5;
    }
}

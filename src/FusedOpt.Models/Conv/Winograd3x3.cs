using System;
using System.Numerics;

namespace FusedOpt.Models.Layers;

/// <summary>
/// A 3×3, stride 1, padding 1 convolution of channels-last images by Winograd's minimal filtering F(2×2, 3×3)
/// (Lavin &amp; Gray, 2016): each 2×2 output tile is Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A from its 4×4 input tile d, 16
/// multiplications per tile and channel pair instead of 36. Over a batch the element-wise products become 16 GEMMs
/// V[e] [tiles, Cin] · U[e] [Cin, Cout] on the packed GEMM.
/// </summary>
/// <remarks>
/// <para>Bᵀ = [[1, 0, −1, 0], [0, 1, 1, 0], [0, −1, 1, 0], [0, 1, 0, −1]], G = [[1, 0, 0], [½, ½, ½], [½, −½, ½],
/// [0, 0, 1]], Aᵀ = [[1, 1, 1, 0], [0, 1, −1, −1]]: additions and halvings only, so float32 keeps its accuracy (the
/// PyTorch reference case passes with every eligible layer forced to Winograd).</para>
/// <para>The same routine computes backward-data: dL/dx is the convolution of dL/dy with the kernel rotated by 180°
/// and its channel axes swapped, again 3×3, stride 1, padding 1. Backward-weights is the adjoint in the kernel,
/// Gᵀ[Σ_tiles (A dY Aᵀ) ⊙ (Bᵀ d B)]G, from the forward's transformed tiles.</para>
/// <para>The transforms run on channel vectors (<see cref="Vector{T}"/>), so both channel counts must be multiples of
/// its width (<see cref="WinogradConvolution{T}.Supports"/>); the images of the batch are split over the pool
/// (<see cref="WinogradConvolution{T}"/>). <see cref="Winograd4x4{T}"/> is F(4×4, 3×3).</para>
/// </remarks>
/// <typeparam name="T"><see cref="float"/> or <see cref="double"/>.</typeparam>
internal sealed unsafe class Winograd3x3<T> : WinogradConvolution<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <inheritdoc />
    public override int TileSize => 2;

    /// <inheritdoc />
    protected override void TransformKernels(T* g, int cols, T* u, long plane)
    {
        var half = new Vector<T>(T.One / (T.One + T.One));
        Vector<T>* gg = stackalloc Vector<T>[12];
        for (int j = 0; j < cols; j += Vector<T>.Count)
        {
            // G·g: 4×3.
            for (int k = 0; k < 3; k++)
            {
                Vector<T> a = Vector.Load(g + (k * cols) + j), b = Vector.Load(g + ((3 + k) * cols) + j), d = Vector.Load(g + ((6 + k) * cols) + j);
                gg[k] = a;
                gg[3 + k] = (a + b + d) * half;
                gg[6 + k] = (a - b + d) * half;
                gg[9 + k] = d;
            }

            // (G·g)·Gᵀ: 4×4.
            for (int r = 0; r < 4; r++)
            {
                Vector<T> a = gg[r * 3], b = gg[(r * 3) + 1], d = gg[(r * 3) + 2];
                T* target = u + ((r * 4) * plane) + j;
                Vector.Store(a, target);
                Vector.Store((a + b + d) * half, target + plane);
                Vector.Store((a - b + d) * half, target + (2 * plane));
                Vector.Store(d, target + (3 * plane));
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
        Span<Vector<T>> d = stackalloc Vector<T>[16];
        for (int ty = 0; ty < grid.Down; ty++)
        {
            for (int tx = 0; tx < grid.Across; tx++)
            {
                long tile = grid.Index(n, ty, tx);
                T* v = V + (tile * cin);
                for (int j = 0; j < cin; j += vc)
                {
                    for (int r = 0; r < 4; r++)
                    {
                        int iy = (2 * ty) - 1 + r;
                        for (int c = 0; c < 4; c++)
                        {
                            int ix = (2 * tx) - 1 + c;
                            d[(r * 4) + c] = (uint)iy < (uint)h && (uint)ix < (uint)w
                                ? Vector.Load(image + ((((long)iy * w) + ix) * cin) + j)
                                : Vector<T>.Zero;
                        }
                    }

                    // Bᵀ·d (rows), then ·B (columns).
                    for (int c = 0; c < 4; c++)
                    {
                        Vector<T> d0 = d[c], d1 = d[4 + c], d2 = d[8 + c], d3 = d[12 + c];
                        d[c] = d0 - d2;
                        d[4 + c] = d1 + d2;
                        d[8 + c] = d2 - d1;
                        d[12 + c] = d1 - d3;
                    }

                    for (int r = 0; r < 4; r++)
                    {
                        Vector<T> d0 = d[r * 4], d1 = d[(r * 4) + 1], d2 = d[(r * 4) + 2], d3 = d[(r * 4) + 3];
                        Vector.Store(d0 - d2, v + ((((r * 4) + 0) * stride) + j));
                        Vector.Store(d1 + d2, v + ((((r * 4) + 1) * stride) + j));
                        Vector.Store(d2 - d1, v + ((((r * 4) + 2) * stride) + j));
                        Vector.Store(d1 - d3, v + ((((r * 4) + 3) * stride) + j));
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
        Span<Vector<T>> m = stackalloc Vector<T>[16];
        for (int ty = 0; ty < grid.Down; ty++)
        {
            for (int tx = 0; tx < grid.Across; tx++)
            {
                long tile = grid.Index(n, ty, tx);
                T* source = M + (tile * cout);
                for (int j = 0; j < cout; j += vc)
                {
                    for (int e = 0; e < 16; e++)
                    {
                        m[e] = Vector.Load(source + (e * stride) + j);
                    }

                    var b = BiasValues is null ? Vector<T>.Zero : Vector.Load(BiasValues + j);

                    // Aᵀ·m: 2×4, then ·A: 2×2.
                    for (int c = 0; c < 4; c++)
                    {
                        Vector<T> m0 = m[c], m1 = m[4 + c], m2 = m[8 + c], m3 = m[12 + c];
                        m[c] = m0 + m1 + m2;
                        m[4 + c] = m1 - m2 - m3;
                    }

                    for (int r = 0; r < 2; r++)
                    {
                        int oy = (2 * ty) + r;
                        if (oy >= h)
                        {
                            continue;
                        }

                        Vector<T> a0 = m[r * 4], a1 = m[(r * 4) + 1], a2 = m[(r * 4) + 2], a3 = m[(r * 4) + 3];
                        T* row = image + ((long)oy * w * cout) + j;
                        Vector.Store(a0 + a1 + a2 + b, row + ((long)2 * tx * cout));
                        if ((2 * tx) + 1 < w)
                        {
                            Vector.Store(a1 - a2 - a3 + b, row + ((long)((2 * tx) + 1) * cout));
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
        Span<Vector<T>> x = stackalloc Vector<T>[8];
        for (int ty = 0; ty < grid.Down; ty++)
        {
            bool lower = (2 * ty) + 1 < h;
            for (int tx = 0; tx < grid.Across; tx++)
            {
                bool right = (2 * tx) + 1 < w;
                long tile = grid.Index(n, ty, tx);
                T* target = M + (tile * cout);
                T* top = image + ((((long)2 * ty * w) + (2 * tx)) * cout);
                for (int j = 0; j < cout; j += vc)
                {
                    // The 2×2 dY tile (zeros past the image).
                    Vector<T> d00 = Vector.Load(top + j);
                    Vector<T> d01 = right ? Vector.Load(top + cout + j) : Vector<T>.Zero;
                    Vector<T> d10 = lower ? Vector.Load(top + ((long)w * cout) + j) : Vector<T>.Zero;
                    Vector<T> d11 = lower && right ? Vector.Load(top + ((long)(w + 1) * cout) + j) : Vector<T>.Zero;

                    // A·dY (4×2): A = (Aᵀ)ᵀ = [[1, 0], [1, 1], [1, −1], [0, −1]], column by column.
                    x[0] = d00;
                    x[1] = d01;
                    x[2] = d00 + d10;
                    x[3] = d01 + d11;
                    x[4] = d00 - d10;
                    x[5] = d01 - d11;
                    x[6] = -d10;
                    x[7] = -d11;

                    // (A·dY)·Aᵀ (4×4), row by row, stored at e = 4r + c.
                    for (int r = 0; r < 4; r++)
                    {
                        Vector<T> a = x[2 * r], b = x[(2 * r) + 1];
                        T* m = target + ((r * 4) * stride) + j;
                        Vector.Store(a, m);
                        Vector.Store(a + b, m + stride);
                        Vector.Store(a - b, m + (2 * stride));
                        Vector.Store(-b, m + (3 * stride));
                    }
                }
            }
        }
    }

    /// <inheritdoc />
    protected override void KernelGradient(T* p, long plane, int c, T* grad)
    {
        int cin = InChannels, cout = OutChannels, vc = Vector<T>.Count;
        var half = new Vector<T>(T.One / (T.One + T.One));
        Span<Vector<T>> hrow = stackalloc Vector<T>[12];
        for (int j = 0; j < cout; j += vc)
        {
            // Gᵀ·P (3×4): Gᵀ = [[1, ½, ½, 0], [0, ½, −½, 0], [0, ½, ½, 1]], column by column.
            for (int f = 0; f < 4; f++)
            {
                T* column = p + j + (f * plane);
                Vector<T> x0 = Vector.Load(column), x1 = Vector.Load(column + (4 * plane)), x2 = Vector.Load(column + (8 * plane)), x3 = Vector.Load(column + (12 * plane));
                hrow[f] = x0 + ((x1 + x2) * half);
                hrow[4 + f] = (x1 - x2) * half;
                hrow[8 + f] = ((x1 + x2) * half) + x3;
            }

            // (Gᵀ·P)·G: each row ky gives dW[o, c, ky, 0…2] for the vector of o.
            for (int ky = 0; ky < 3; ky++)
            {
                Vector<T> x0 = hrow[ky * 4], x1 = hrow[(ky * 4) + 1], x2 = hrow[(ky * 4) + 2], x3 = hrow[(ky * 4) + 3];
                Vector<T> k0 = x0 + ((x1 + x2) * half), k1 = (x1 - x2) * half, k2 = ((x1 + x2) * half) + x3;
                AddKernelRow(grad, cin, j, c, ky, k0, k1, k2);
            }
        }
    }
}

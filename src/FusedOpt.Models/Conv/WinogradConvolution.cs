using System;
using System.Numerics;
using FusedOpt.Models.Linalg;
using FusedOpt.Threading;

namespace FusedOpt.Models.Layers;

/// <summary>
/// What the Winograd convolutions F(m×m, 3×3) share: a 3×3, stride 1, padding 1 convolution of channels-last images
/// computed per m×m output tile as Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A from its (m+2)×(m+2) input tile d. Over a batch the
/// element-wise products become <see cref="Points"/> GEMMs V[e] [tiles, Cin] · U[e] [Cin, Cout] on the packed GEMM,
/// between an input transform (image → V) and an output transform (M → image), each split over the images of the
/// batch on the pool. Subclasses give the tile size, the weight transform and the two data transforms.
/// </summary>
/// <remarks>
/// The same routine computes backward-data: dL/dx is the convolution of dL/dy with the kernel rotated by 180° and its
/// channel axes swapped, again 3×3, stride 1, padding 1 (<see cref="TransformWeights"/> with backwardData).
/// </remarks>
/// <typeparam name="T"><see cref="float"/> or <see cref="double"/>.</typeparam>
internal abstract unsafe class WinogradConvolution<T> : IParallelWork
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private int _parts = 1;
    private bool _outputPhase;

    /// <summary>Outputs per tile side, m.</summary>
    public abstract int TileSize { get; }

    /// <summary>Points of the transformed tile, (m + 2)²: the number of GEMMs per run.</summary>
    public int Points => (TileSize + 2) * (TileSize + 2);

    /// <summary>The input (image or dL/dy) of the current run.</summary>
    protected T* Input { get; private set; }

    /// <summary>The output (image or dL/dx) of the current run.</summary>
    protected T* Output { get; private set; }

    /// <summary>V [Points, tiles, Cin]: the transformed input tiles.</summary>
    protected T* V { get; private set; }

    /// <summary>M [Points, tiles, Cout]: the GEMM products.</summary>
    protected T* M { get; private set; }

    /// <summary>Bias [Cout] added by the output transform, or null.</summary>
    protected T* BiasValues { get; private set; }

    /// <summary>Images in the current run.</summary>
    protected int Batch { get; private set; }

    /// <summary>Image height.</summary>
    protected int Height { get; private set; }

    /// <summary>Image width.</summary>
    protected int Width { get; private set; }

    /// <summary>Channels of <see cref="Input"/>.</summary>
    protected int InChannels { get; private set; }

    /// <summary>Channels of <see cref="Output"/>.</summary>
    protected int OutChannels { get; private set; }

    /// <summary>Whether channel counts <paramref name="cin"/> and <paramref name="cout"/> suit the vectorized transforms.</summary>
    public static bool Supports(int cin, int cout) =>
        Vector.IsHardwareAccelerated && cin % Vector<T>.Count == 0 && cout % Vector<T>.Count == 0;

    /// <summary>Tiles of a batch: batch · ⌈H/m⌉ · ⌈W/m⌉.</summary>
    public int Tiles(int batch, int height, int width) =>
        batch * ((height + TileSize - 1) / TileSize) * ((width + TileSize - 1) / TileSize);

    /// <summary>Values <see cref="Run"/> needs as workspace: Points · tiles · (cin + cout).</summary>
    public long WorkspaceLength(int batch, int height, int width, int cin, int cout) =>
        (long)Points * Tiles(batch, height, width) * (cin + cout);

    /// <summary>
    /// U[e][i][j] (e = (m+2)·r + c of the transformed kernel) from PyTorch weights W [cout, cin, 3, 3]: forward maps
    /// i = input channel, j = output channel; <paramref name="backwardData"/> maps i = output channel, j = input channel
    /// with the kernel rotated by 180°. <paramref name="u"/> holds Points · cin · cout values, <paramref name="scratch"/>
    /// 9 · cin · cout (the weights repacked to [i, 3×3, j], so the transform runs on vectors of j).
    /// </summary>
    public void TransformWeights(ReadOnlySpan<T> weight, int cout, int cin, Span<T> u, bool backwardData, Span<T> scratch)
    {
        long plane = (long)cin * cout;
        if (weight.Length < 9 * plane || u.Length < Points * plane || scratch.Length < 9 * plane)
        {
            throw new ArgumentException($"winograd F({TileSize}×{TileSize}, 3×3): {cout}×{cin} kernels need {9 * plane} weights, {Points * plane} transformed values and {9 * plane} scratch values; got {weight.Length}, {u.Length} and {scratch.Length}.", nameof(u));
        }

        int rows = backwardData ? cout : cin, cols = backwardData ? cin : cout;
        if (backwardData)
        {
            // packed[(o·9 + k)·cin + c] = W[o, c, 8 − k]: W read in order, nine contiguous streams written.
            for (int o = 0; o < cout; o++)
            {
                for (int c = 0; c < cin; c++)
                {
                    ReadOnlySpan<T> w = weight.Slice(((o * cin) + c) * 9, 9);
                    for (int k = 0; k < 9; k++)
                    {
                        scratch[(((o * 9) + k) * cin) + c] = w[8 - k];
                    }
                }
            }
        }
        else
        {
            // packed[(c·9 + k)·cout + o] = W[o, c, k].
            for (int c = 0; c < cin; c++)
            {
                for (int o = 0; o < cout; o++)
                {
                    ReadOnlySpan<T> w = weight.Slice(((o * cin) + c) * 9, 9);
                    for (int k = 0; k < 9; k++)
                    {
                        scratch[(((c * 9) + k) * cout) + o] = w[k];
                    }
                }
            }
        }

        fixed (T* packed = scratch, target = u)
        {
            for (int i = 0; i < rows; i++)
            {
                TransformKernels(packed + ((long)i * 9 * cols), cols, target + ((long)i * cols), plane);
            }
        }
    }

    /// <summary>
    /// output [batch, H, W, cout] = conv3×3(input [batch, H, W, cin]) (+ bias), with transformed weights
    /// <paramref name="u"/> [Points, cin, cout]; <paramref name="workspace"/> holds <see cref="WorkspaceLength"/> values.
    /// </summary>
    public void Run(
        MatMul<T> matMul, WorkerPool? pool, T* input, int batch, int height, int width, int cin,
        ReadOnlySpan<T> u, int cout, T* output, T* bias, Span<T> workspace)
    {
        int tiles = Tiles(batch, height, width), points = Points;
        long need = WorkspaceLength(batch, height, width, cin, cout);
        if (workspace.Length < need)
        {
            throw new ArgumentException($"winograd F({TileSize}×{TileSize}, 3×3): the workspace holds {workspace.Length} values, {need} needed.", nameof(workspace));
        }

        if (u.Length < points * cin * cout)
        {
            throw new ArgumentException($"winograd F({TileSize}×{TileSize}, 3×3): the transformed weights hold {u.Length} values, {points * cin * cout} needed.", nameof(u));
        }

        fixed (T* ws = workspace)
        {
            Input = input;
            Output = output;
            BiasValues = bias;
            V = ws;
            M = ws + ((long)points * tiles * cin);
            Batch = batch;
            Height = height;
            Width = width;
            InChannels = cin;
            OutChannels = cout;
            _parts = LayerParallel.Parts(pool);

            _outputPhase = false;
            LayerParallel.Run(pool, this);
            for (int e = 0; e < points; e++)
            {
                var v = new ReadOnlySpan<T>(V + ((long)e * tiles * cin), tiles * cin);
                var m = new Span<T>(M + ((long)e * tiles * cout), tiles * cout);
                matMul.Multiply(Transpose.N, Transpose.N, tiles, cout, cin, T.One, v, cin, u.Slice(e * cin * cout, cin * cout), cout, T.Zero, m, cout);
            }

            _outputPhase = true;
            LayerParallel.Run(pool, this);
            Input = null;
            Output = null;
            BiasValues = null;
            V = null;
            M = null;
        }
    }

    /// <inheritdoc />
    void IParallelWork.Execute(int part)
    {
        var (first, end) = LayerParallel.Split(Batch, part, _parts);
        for (int n = first; n < end; n++)
        {
            if (_outputPhase)
            {
                OutputTransform(n);
            }
            else
            {
                InputTransform(n);
            }
        }
    }

    /// <summary>
    /// One row i of U: g[k·cols + j] (k = 3·ky + kx, already rotated for backward-data) → u[e·plane + j] = (G g Gᵀ)[e]
    /// for every j, <see cref="Vector{T}"/>.Count kernels at a time (cols is a multiple of it).
    /// </summary>
    protected abstract void TransformKernels(T* g, int cols, T* u, long plane);

    /// <summary>V[e][tile][c] = (Bᵀ d B)[e] for every tile of image <paramref name="n"/>.</summary>
    protected abstract void InputTransform(int n);

    /// <summary>y[m×m tile] = Aᵀ M A (+ bias) for every tile of image <paramref name="n"/>.</summary>
    protected abstract void OutputTransform(int n);
}

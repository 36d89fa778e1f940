using System;
using System.Numerics;
using System.Runtime.CompilerServices;
using FusedOpt.Models.Linalg;
using FusedOpt.Threading;

namespace FusedOpt.Models.Layers;

/// <summary>
/// What the Winograd convolutions F(m×m, 3×3) share: a 3×3, stride 1, padding 1 convolution of channels-last images
/// computed per m×m output tile as Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A from its (m+2)×(m+2) input tile d. Over a batch the
/// element-wise products become <see cref="Points"/> GEMMs V[e] [tiles, Cin] · U[e] [Cin, Cout] on the packed GEMM,
/// between an input transform (image → V) and an output transform (M → image), each split over the images of the
/// batch on the pool (the weight transform over kernel rows, the weight gradient's kernel transform over input
/// channels). Subclasses give the tile size, the weight transform and the two data transforms.
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
    private Phase _phase;

    // The weight transform (Phase.Weights), set by TransformWeights for its run only.
    private T* _weights;
    private T* _repacked; // the weights repacked to [i, 3×3, j], the caller's scratch
    private T* _u;
    private int _kernelIn;
    private int _kernelOut;
    private bool _backwardData;

    // The weight gradient's kernel transform (Phase.KernelGradient), set by WeightGradient for that phase only.
    private T* _products; // P [Points, cin, cout], the GEMMs' sums over the tiles
    private T* _grad;

    private enum Phase
    {
        Input,
        Output,
        Weights,
        OutputGradient,
        KernelGradient,
    }

    /// <summary>Outputs per tile side, m.</summary>
    public abstract int TileSize { get; }

    /// <summary>Points of the transformed tile, (m + 2)²: the number of GEMMs per run.</summary>
    public int Points => (TileSize + 2) * (TileSize + 2);

    /// <summary>The input (image or dL/dy) of the current run.</summary>
    protected T* Input { get; private set; }

    /// <summary>The output (image or dL/dx) of the current run.</summary>
    protected T* Output { get; private set; }

    /// <summary>V [Points, tiles, Cin]: the transformed input tiles, one plane every <see cref="VStride"/> values.</summary>
    protected T* V { get; private set; }

    /// <summary>M [Points, tiles, Cout]: the GEMM products, one plane every <see cref="MStride"/> values.</summary>
    protected T* M { get; private set; }

    /// <summary>Values from one plane of <see cref="V"/> to the next: tiles · Cin + <see cref="PlanePad"/>.</summary>
    protected long VStride { get; private set; }

    /// <summary>Values from one plane of <see cref="M"/> to the next: tiles · Cout + <see cref="PlanePad"/>.</summary>
    protected long MStride { get; private set; }

    /// <summary>
    /// One cache line of values between consecutive planes of V, M and U. A transform touches the same offset of all
    /// Points planes; with plane sizes of powers of two (tiles · C usually is) those addresses fall in one L1 set
    /// and evict each other (16 or 36 lines against 8 or 12 ways); the pad moves each plane to the next set.
    /// </summary>
    protected static int PlanePad => 64 / sizeof(T);

    /// <summary>Bias [Cout] added by the output transform, or null.</summary>
    protected T* BiasValues { get; private set; }

    /// <summary>Images in the current run.</summary>
    protected int Batch { get; private set; }

    /// <summary>How the current run's images split into tiles (made once per run by <see cref="Bind"/>).</summary>
    protected TileGrid Grid { get; private set; }

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

    /// <summary>The m×m tiles of a batch of <paramref name="height"/>×<paramref name="width"/> images.</summary>
    private TileGrid Tiling(int batch, int height, int width) => new(TileSize, batch, height, width);

    /// <summary>Values <see cref="Run"/> needs as workspace: Points · (tiles · (cin + cout) + 2 pads).</summary>
    public long WorkspaceLength(int batch, int height, int width, int cin, int cout) =>
        WorkspaceLengthOf(Tiling(batch, height, width), cin, cout);

    /// <summary>Values of the transformed weights U: Points planes of cin · cout, each followed by a pad.</summary>
    public long TransformedWeightsLength(int cin, int cout) => (long)Points * UStride(cin, cout);

    /// <summary>
    /// U[e][i][j] (e = (m+2)·r + c of the transformed kernel) from PyTorch weights W [cout, cin, 3, 3]: forward maps
    /// i = input channel, j = output channel; <paramref name="backwardData"/> maps i = output channel, j = input channel
    /// with the kernel rotated by 180°. <paramref name="u"/> holds <see cref="TransformedWeightsLength"/> values, <paramref name="scratch"/>
    /// 9 · cin · cout (the weights repacked to [i, 3×3, j], so the transform runs on vectors of j). The rows i are
    /// split over <paramref name="pool"/>.
    /// </summary>
    public void TransformWeights(ReadOnlySpan<T> weight, int cout, int cin, Span<T> u, bool backwardData, Span<T> scratch, WorkerPool? pool = null)
    {
        long plane = (long)cin * cout, uStride = UStride(cin, cout);
        if (weight.Length < 9 * plane || u.Length < Points * uStride || scratch.Length < 9 * plane)
        {
            throw new ArgumentException($"winograd F({TileSize}×{TileSize}, 3×3): {cout}×{cin} kernels need {9 * plane} weights, {Points * uStride} transformed values and {9 * plane} scratch values; got {weight.Length}, {u.Length} and {scratch.Length}.", nameof(u));
        }

        fixed (T* w = weight, packed = scratch, target = u)
        {
            _weights = w;
            _repacked = packed;
            _u = target;
            _kernelIn = cin;
            _kernelOut = cout;
            _backwardData = backwardData;
            _parts = LayerParallel.Parts(pool);
            _phase = Phase.Weights;
            LayerParallel.Run(pool, this);
            _weights = null;
            _repacked = null;
            _u = null;
        }
    }

    /// <summary>
    /// Rows [first, end) of U: each row i is repacked (packed[(i·9 + k)·cols + j], j contiguous) and then
    /// transformed, so rows are independent and the split over the pool does not change a bit.
    /// </summary>
    private void TransformWeightRows(int first, int end)
    {
        int cin = _kernelIn, cout = _kernelOut, cols = _backwardData ? cin : cout;
        long uStride = UStride(cin, cout);
        for (int i = first; i < end; i++)
        {
            T* row = _repacked + ((long)i * 9 * cols);
            for (int j = 0; j < cols; j++)
            {
                // Forward: i = c, j = o, packed = W[o, c, k]; backward-data: i = o, j = c, packed = W[o, c, 8 − k].
                T* w = _weights + ((((long)(_backwardData ? i : j) * cin) + (_backwardData ? j : i)) * 9);
                for (int k = 0; k < 9; k++)
                {
                    row[((long)k * cols) + j] = w[_backwardData ? 8 - k : k];
                }
            }

            TransformKernels(row, cols, _u + ((long)i * cols), uStride);
        }
    }

    /// <summary>
    /// output [batch, H, W, cout] = conv3×3(input [batch, H, W, cin]) (+ bias), with transformed weights
    /// <paramref name="u"/> [Points, cin, cout] (<see cref="TransformWeights"/>); <paramref name="workspace"/> holds
    /// <see cref="WorkspaceLength"/> values.
    /// </summary>
    public void Run(
        MatMul<T> matMul, WorkerPool? pool, T* input, int batch, int height, int width, int cin,
        ReadOnlySpan<T> u, int cout, T* output, T* bias, Span<T> workspace)
    {
        TileGrid grid = Tiling(batch, height, width);
        int tiles = grid.Count, points = Points;
        long need = WorkspaceLengthOf(grid, cin, cout), uStride = UStride(cin, cout);
        if (workspace.Length < need)
        {
            throw new ArgumentException($"winograd F({TileSize}×{TileSize}, 3×3): the workspace holds {workspace.Length} values, {need} needed.", nameof(workspace));
        }

        if (u.Length < points * uStride)
        {
            throw new ArgumentException($"winograd F({TileSize}×{TileSize}, 3×3): the transformed weights hold {u.Length} values, {points * uStride} needed.", nameof(u));
        }

        fixed (T* ws = workspace)
        {
            Input = input;
            Output = output;
            BiasValues = bias;
            Bind(ws, pool, grid, batch, height, width, cin, cout);

            _phase = Phase.Input;
            LayerParallel.Run(pool, this);
            for (int e = 0; e < points; e++)
            {
                var v = new ReadOnlySpan<T>(V + (e * VStride), tiles * cin);
                var m = new Span<T>(M + (e * MStride), tiles * cout);
                matMul.Multiply(Transpose.N, Transpose.N, tiles, cout, cin, T.One, v, cin, u.Slice((int)(e * uStride), cin * cout), cout, T.Zero, m, cout);
            }

            _phase = Phase.Output;
            LayerParallel.Run(pool, this);
            Input = null;
            Output = null;
            BiasValues = null;
            V = null;
            M = null;
        }
    }

    /// <summary>
    /// Points the V and M planes into <paramref name="workspace"/> (each plane one cache line longer than its tiles, see
    /// <see cref="PlanePad"/>) and records the shapes, the tile grid and the pool's part count for the phases that follow.
    /// </summary>
    private void Bind(T* workspace, WorkerPool? pool, TileGrid grid, int batch, int height, int width, int cin, int cout)
    {
        Grid = grid;
        VStride = ((long)grid.Count * cin) + PlanePad;
        MStride = ((long)grid.Count * cout) + PlanePad;
        V = workspace;
        M = workspace + (Points * VStride);
        Batch = batch;
        Height = height;
        Width = width;
        InChannels = cin;
        OutChannels = cout;
        _parts = LayerParallel.Parts(pool);
    }

    /// <summary>
    /// dW [cout, cin, 3, 3] += Gᵀ[Σ_tiles (A dY Aᵀ) ⊙ (Bᵀ d B)]G: the adjoint of the forward in the weights (y = Aᵀ[(G g Gᵀ)
    /// ⊙ (Bᵀ d B)]A is linear in g), with the transformed input tiles V that the forward <see cref="Run"/> on the same
    /// input and batch left in <paramref name="workspace"/>. dY [batch, H, W, cout] is transformed into the M planes
    /// (outputs past the image count as 0, as the forward dropped them), then per point e the GEMM
    /// P[e] [cin, cout] = V[e]ᵀ · (A dY Aᵀ)[e] sums over the tiles, and each 6×6 (4×4) of P maps back to 3×3.
    /// <paramref name="products"/> holds Points · cin · cout values (P).
    /// </summary>
    public void WeightGradient(
        MatMul<T> matMul, WorkerPool? pool, T* dy, int batch, int height, int width, int cin, int cout, Span<T> workspace, Span<T> products, Span<T> grad)
    {
        TileGrid grid = Tiling(batch, height, width);
        int tiles = grid.Count, points = Points;
        long plane = (long)cin * cout, need = WorkspaceLengthOf(grid, cin, cout);
        if (workspace.Length < need || products.Length < points * plane || grad.Length < 9 * plane)
        {
            throw new ArgumentException($"winograd F({TileSize}×{TileSize}, 3×3) weight gradient: needs a workspace of {need}, products of {points * plane} and a gradient of {9 * plane} values; got {workspace.Length}, {products.Length} and {grad.Length}.", nameof(workspace));
        }

        fixed (T* ws = workspace, p = products, g = grad)
        {
            Input = dy;
            Bind(ws, pool, grid, batch, height, width, cin, cout);

            _phase = Phase.OutputGradient;
            LayerParallel.Run(pool, this);
            for (int e = 0; e < points; e++)
            {
                var v = new ReadOnlySpan<T>(V + (e * VStride), tiles * cin);
                var m = new ReadOnlySpan<T>(M + (e * MStride), tiles * cout);
                matMul.Multiply(Transpose.T, Transpose.N, cin, cout, tiles, T.One, v, cin, m, cout, T.Zero, products.Slice((int)(e * plane), (int)plane), cout);
            }

            _products = p;
            _grad = g;
            _phase = Phase.KernelGradient;
            LayerParallel.Run(pool, this);
            _products = null;
            _grad = null;
            Input = null;
            V = null;
            M = null;
        }
    }

    /// <inheritdoc />
    void IParallelWork.Execute(int part)
    {
        if (_phase == Phase.Weights)
        {
            var (rowFirst, rowEnd) = LayerParallel.Split(_backwardData ? _kernelOut : _kernelIn, part, _parts);
            TransformWeightRows(rowFirst, rowEnd);
            return;
        }

        if (_phase == Phase.KernelGradient)
        {
            var (cFirst, cEnd) = LayerParallel.Split(InChannels, part, _parts);
            long plane = (long)InChannels * OutChannels;
            for (int c = cFirst; c < cEnd; c++)
            {
                KernelGradient(_products + ((long)c * OutChannels), plane, c, _grad);
            }

            return;
        }

        var (first, end) = LayerParallel.Split(Batch, part, _parts);
        for (int n = first; n < end; n++)
        {
            switch (_phase)
            {
                case Phase.Output:
                    OutputTransform(n);
                    break;
                case Phase.OutputGradient:
                    OutputGradientTransform(n);
                    break;
                default:
                    InputTransform(n);
                    break;
            }
        }
    }

    /// <summary>M[e][tile][o] = (A dY Aᵀ)[e] for every tile of image <paramref name="n"/> of dY (<see cref="Input"/>, Cout channels).</summary>
    protected abstract void OutputGradientTransform(int n);

    /// <summary>
    /// grad[o, c, 3×3] += (Gᵀ P G) for input channel <paramref name="c"/> and every output channel o, with
    /// P[e] at <paramref name="p"/> + e·<paramref name="plane"/> + o.
    /// </summary>
    protected abstract void KernelGradient(T* p, long plane, int c, T* grad);

    /// <summary>
    /// grad[o + lane, c, ky, 0…2] += (k0, k1, k2)[lane] for each lane of the vectors: row <paramref name="ky"/> of the
    /// 3×3 kernel gradient of input channel <paramref name="c"/> and the <see cref="Vector{T}"/>.Count output channels
    /// from <paramref name="o"/>, scattered into PyTorch's layout [cout, <paramref name="cin"/>, 3, 3] (the lanes are
    /// 9·cin values apart there). Both tile sizes end their <see cref="KernelGradient"/> with it.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    protected static void AddKernelRow(T* grad, int cin, int o, int c, int ky, Vector<T> k0, Vector<T> k1, Vector<T> k2)
    {
        for (int lane = 0; lane < Vector<T>.Count; lane++)
        {
            T* g = grad + ((((long)(o + lane) * cin) + c) * 9) + (ky * 3);
            g[0] += k0[lane];
            g[1] += k1[lane];
            g[2] += k2[lane];
        }
    }

    /// <summary>
    /// One row i of U: g[k·cols + j] (k = 3·ky + kx, already rotated for backward-data) → u[e·plane + j] = (G g Gᵀ)[e]
    /// for every j, <see cref="Vector{T}"/>.Count kernels at a time (cols is a multiple of it); plane is the stride
    /// between U's planes.
    /// </summary>
    protected abstract void TransformKernels(T* g, int cols, T* u, long plane);

    /// <summary>V[e][tile][c] = (Bᵀ d B)[e] for every tile of image <paramref name="n"/>.</summary>
    protected abstract void InputTransform(int n);

    private static long UStride(int cin, int cout) => ((long)cin * cout) + PlanePad;

    private long WorkspaceLengthOf(TileGrid grid, int cin, int cout) => (long)Points * ((grid.Count * ((long)cin + cout)) + (2 * PlanePad));

    /// <summary>y[m×m tile] = Aᵀ M A (+ bias) for every tile of image <paramref name="n"/>.</summary>
    protected abstract void OutputTransform(int n);

    /// <summary>
    /// How a batch of H×W images splits into m×m output tiles: <see cref="Down"/> rows of <see cref="Across"/> tiles
    /// per image (the last row and column partial where m does not divide H or W), numbered image by image and row by
    /// row (<see cref="Index"/>); tile t's values sit at t·C in each plane of V (C = Cin) and M (C = Cout).
    /// </summary>
    protected readonly struct TileGrid
    {
        /// <summary>The tiles of <paramref name="batch"/> images of <paramref name="height"/>×<paramref name="width"/> in <paramref name="tileSize"/>² tiles.</summary>
        public TileGrid(int tileSize, int batch, int height, int width)
        {
            Down = (height + tileSize - 1) / tileSize;
            Across = (width + tileSize - 1) / tileSize;
            Count = batch * Down * Across;
        }

        /// <summary>Tile rows per image, ⌈H/m⌉.</summary>
        public int Down { get; }

        /// <summary>Tiles per row, ⌈W/m⌉.</summary>
        public int Across { get; }

        /// <summary>Tiles of the batch, batch · <see cref="Down"/> · <see cref="Across"/>: the rows of each GEMM.</summary>
        public int Count { get; }

        /// <summary>The number of tile (<paramref name="ty"/>, <paramref name="tx"/>) of image <paramref name="n"/>.</summary>
        public long Index(int n, int ty, int tx) => ((((long)n * Down) + ty) * Across) + tx;
    }
}

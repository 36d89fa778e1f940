using System;
using System.Collections.Generic;
using System.Diagnostics;
using FusedOpt.Threading;
using System.Numerics;
using FusedOpt.Memory;
using FusedOpt.Models.Initialization;
using FusedOpt.Models.Linalg;

namespace FusedOpt.Models.Layers;

/// <summary>
/// A 2-D convolution over channels-last images (each row is one sample, [H, W, C]): out[o] = b[o] + Σ W[o, c, ky, kx]·x,
/// with a square kernel, a stride and zero padding, as PyTorch's <c>nn.Conv2d</c> (cross-correlation). The weight
/// keeps PyTorch's layout [out, in, k, k] in the arena (<c>{name}.weight</c>, <c>{name}.bias</c>), so a state_dict
/// loads as is.
/// </summary>
/// <remarks>
/// <para>Algorithm: im2col + the packed GEMM. With P = batch·Hout·Wout output pixels and K = k·k·Cin:</para>
/// <list type="bullet">
/// <item>forward: col [P, K] gathers, for each output pixel, its k×k window of input pixels (Cin contiguous values each,
/// zeros outside the image); Y [P, Cout] = col · Wpᵀ + b, where Wp [Cout, K] is W reordered to (ky, kx, c) — the
/// output is channels-last with no transpose;</item>
/// <item>backward-weights: dWp [Cout, K] = dYᵀ · col (the col of the forward pass, kept), added to dW in PyTorch order;
/// db += column sums of dY. With K ≤ 32 (VGG's first layer, K = 27) and Cout a multiple of the vector width this
/// product runs on <see cref="NarrowWeightGradient{T}"/> instead of the GEMM;</item>
/// <item>backward-data: dcol [P, K] = dY · Wp (into the col buffer, no longer needed), then col2im adds each window
/// back into dX.</item>
/// </list>
/// <para>All three are one GEMM over the whole batch (M = P ≥ batch), so even the 2×2 layers of VGG get tall, well
/// shaped products. Workspaces (col, Wp, dWp) are sized for the largest batch seen; nothing is allocated per batch
/// after the first, except that a Winograd layer's backward without its forward (which falls back to columns) grows the
/// workspace once to the columns' size. A backward must follow the forward of the same batch (it fails otherwise).</para>
/// <para>With <see cref="UsesWinograd"/> (3×3, stride 1, padding 1; see <see cref="ConvAlgorithm.Auto"/>) forward and
/// backward-data run as Winograd F(2×2, 3×3) or F(4×4, 3×3) instead (<see cref="Winograd3x3{T}"/>,
/// <see cref="Winograd4x4{T}"/>; <see cref="Implementation"/> says which), with the col buffer as their workspace,
/// and so does backward-weights: dW = Gᵀ[Σ_tiles (A dY Aᵀ) ⊙ V]G from the transformed input tiles V that the forward
/// left in that workspace (<see cref="WinogradConvolution{T}.WeightGradient"/>; without a Winograd forward since the
/// last backward it falls back to im2col + GEMM). im2col, col2im and the Winograd transforms split the samples over
/// the model's pool.</para>
/// </remarks>
/// <typeparam name="T"><see cref="float"/> or <see cref="double"/>.</typeparam>
public sealed unsafe class Conv2d<T> : Layer<T>, IParallelWork
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private TensorSlot? _weight;
    private TensorSlot? _bias;
    private ParameterStore<T>? _store;
    private T[] _col = [];

    // im2col only: Wp [Cout, K], the weights reordered to (ky, kx, c) (forward and backward-data).
    private T[] _packed = [];

    // dWp [Cout, K] from the GEMM or NarrowWeightGradient: im2col, and a Winograd layer's fallback to columns.
    private T[] _packedGrad = [];

    // Winograd only: the weights repacked to [i, 3×3, j] (9·Cin·Cout), TransformWeights' scratch.
    private T[] _transformScratch = [];

    // Winograd only: U, the forward's transformed weights.
    private T[] _winograd = [];

    // Winograd only, two things in turn within one backward: first the weight gradient's products P [Points, Cin, Cout],
    // then backward-data's transformed weights U (which overwrite them). One buffer for both: a separate P would add
    // Points·Cin·Cout values per layer, 26.4 M in all for VGG11's seven Winograd layers (105 MB in float32).
    private T[] _winogradBack = [];
    private readonly WinogradConvolution<T>? _wino;
    private readonly NarrowWeightGradient<T>? _narrow;
    private bool _colValid;
    private bool _winogradInputValid;
    private bool _toColumns;
    private int _batch;
    private int _forwardBatch;
    private int _parts = 1;
    private T* _image;
    private T* _columns;

    /// <summary>Creates a convolution from <paramref name="input"/> to <paramref name="outChannels"/> channels.</summary>
    /// <param name="name">Prefix of the tensor names.</param>
    /// <param name="input">Input shape (C, H, W).</param>
    /// <param name="outChannels">Output channels.</param>
    /// <param name="kernel">Kernel size k (k × k).</param>
    /// <param name="stride">Stride, ≥ 1.</param>
    /// <param name="padding">Zero padding on every side, ≥ 0.</param>
    /// <param name="bias">Whether the layer has a bias.</param>
    /// <param name="algorithm">How the three passes run; <see cref="ConvAlgorithm.Auto"/> picks by image size (<see cref="AutoAlgorithm"/>).</param>
    public Conv2d(string name, ImageShape input, int outChannels, int kernel = 3, int stride = 1, int padding = 1, bool bias = true, ConvAlgorithm algorithm = ConvAlgorithm.Auto)
        : base(name, input.Validate(name).Size, OutputShape(name, input, outChannels, kernel, stride, padding).Size)
    {
        if (!Enum.IsDefined(algorithm))
        {
            throw new ArgumentOutOfRangeException(nameof(algorithm), algorithm, $"Conv2d '{name}': unknown convolution algorithm {(int)algorithm}; expected Auto, Im2Col, Winograd or Winograd4x4.");
        }

        bool winogradFits = WinogradApplies(input, outChannels, kernel, stride, padding);
        if ((algorithm is ConvAlgorithm.Winograd or ConvAlgorithm.Winograd4x4) && !winogradFits)
        {
            string tile = algorithm == ConvAlgorithm.Winograd ? "2×2" : "4×4";
            throw new ArgumentException($"Conv2d '{name}': Winograd F({tile}, 3×3) ({algorithm}) needs a 3×3 kernel, stride 1, padding 1 and channel counts that are multiples of {Vector<T>.Count}; got k {kernel}, s {stride}, p {padding}, {input.Channels} → {outChannels}.", nameof(algorithm));
        }

        Algorithm = algorithm;
        Implementation = algorithm == ConvAlgorithm.Auto ? (winogradFits ? AutoAlgorithm(input) : ConvAlgorithm.Im2Col) : algorithm;
        _wino = Implementation switch
        {
            ConvAlgorithm.Winograd => new Winograd3x3<T>(),
            ConvAlgorithm.Winograd4x4 => new Winograd4x4<T>(),
            _ => null,
        };
        _narrow = NarrowWeightGradient<T>.Supports(outChannels, kernel * kernel * input.Channels) ? new NarrowWeightGradient<T>() : null;
        InputShape = input;
        Output = OutputShape(name, input, outChannels, kernel, stride, padding);
        Kernel = kernel;
        Stride = stride;
        Padding = padding;
        HasBias = bias;
    }

    /// <summary>Input shape (C, H, W).</summary>
    public ImageShape InputShape { get; }

    /// <summary>Output shape (Cout, Hout, Wout).</summary>
    public ImageShape Output { get; }

    /// <summary>Kernel size k.</summary>
    public int Kernel { get; }

    /// <summary>Stride.</summary>
    public int Stride { get; }

    /// <summary>Zero padding per side.</summary>
    public int Padding { get; }

    /// <summary>Whether the layer adds a bias.</summary>
    public bool HasBias { get; }

    /// <summary>
    /// <see cref="ConvAlgorithm.Auto"/> uses Winograd F(2×2, 3×3) on images at least this tall and wide (and smaller
    /// than <see cref="AutoWinograd4x4MinSize"/>). Measured with <c>fusedopt bench train --model vgg11 --compare-conv</c>
    /// (docs/benchmarks.md): since the kernel transform runs on channel vectors and the transform planes are padded,
    /// F(2×2) is faster than im2col on VGG's 2×2 layers too (forward + backward-data in 0.65–0.92× im2col's time, four
    /// runs); before that it was slower there and this was 4.
    /// </summary>
    public const int AutoWinogradMinSize = 2;

    /// <summary>
    /// <see cref="ConvAlgorithm.Auto"/> uses Winograd F(4×4, 3×3) on images at least this tall and wide. Measured with
    /// <c>fusedopt bench train --model vgg11 --compare-conv</c> (docs/benchmarks.md), F(4×4), F(2×2) and im2col timed
    /// interleaved in one run (four runs, busy machine): F(4×4) is the fastest on VGG's 16×16, 8×8 and 4×4 layers
    /// (conv2…conv6: forward + backward-data in 0.45–0.93× F(2×2)'s time and 0.35–0.76× im2col's; all three passes in
    /// the last run 0.54–0.83× and 0.39–0.51×) and the slowest on its 2×2 ones, where one 6×6 tile covers a whole 2×2
    /// image: 36 products per channel pair for 4 outputs, 9 per output like a direct convolution, so only its
    /// transforms are left (F(2×2): 16 for 4).
    /// </summary>
    public const int AutoWinograd4x4MinSize = 4;

    /// <summary>The algorithm asked for.</summary>
    public ConvAlgorithm Algorithm { get; }

    /// <summary>
    /// What forward, backward-data and backward-weights run: <see cref="ConvAlgorithm.Im2Col"/>, <see cref="ConvAlgorithm.Winograd"/>
    /// (F(2×2, 3×3)) or <see cref="ConvAlgorithm.Winograd4x4"/> (F(4×4, 3×3)); <see cref="ConvAlgorithm.Auto"/> resolved.
    /// </summary>
    public ConvAlgorithm Implementation { get; }

    /// <summary>Whether forward, backward-data and backward-weights run as Winograd, F(2×2, 3×3) or F(4×4, 3×3) (else im2col + GEMM).</summary>
    public bool UsesWinograd => _wino is not null;

    /// <summary>Whether backward-weights runs on <see cref="NarrowWeightGradient{T}"/> (K ≤ 32) instead of the GEMM.</summary>
    internal bool UsesNarrowWeightGradient => _narrow is not null;

    /// <summary>Values per im2col row, k·k·Cin.</summary>
    public int Depth => Kernel * Kernel * InputShape.Channels;

    /// <inheritdoc />
    public override bool HasParameters => true;

    /// <inheritdoc />
    public override LayerSpec Spec => new Conv2dSpec(Name, InputShape, Output.Channels, Kernel, Stride, Padding, HasBias, Algorithm);

    /// <summary>The weight tensor [out, in, k, k], once registered.</summary>
    public TensorSlot Weight => _weight ?? throw NotRegistered();

    /// <summary>The bias tensor [out], once registered (null without bias).</summary>
    public TensorSlot? Bias => _weight is null ? throw NotRegistered() : _bias;

    /// <inheritdoc />
    public override IReadOnlyList<TensorSlot> Parameters => _weight is null ? [] : _bias is null ? [_weight] : [_weight, _bias];

    /// <summary>
    /// What <see cref="ConvAlgorithm.Auto"/> picks for a layer Winograd applies to (3×3, stride 1, padding 1,
    /// vector-multiple channel counts), by its image size: F(4×4, 3×3) from <see cref="AutoWinograd4x4MinSize"/>
    /// up, F(2×2, 3×3) from <see cref="AutoWinogradMinSize"/> up, else im2col.
    /// </summary>
    public static ConvAlgorithm AutoAlgorithm(ImageShape input)
    {
        int side = Math.Min(input.Height, input.Width);
        return side >= AutoWinograd4x4MinSize ? ConvAlgorithm.Winograd4x4 : side >= AutoWinogradMinSize ? ConvAlgorithm.Winograd : ConvAlgorithm.Im2Col;
    }

    /// <summary>Whether Winograd (either tile size) applies: a 3×3 kernel, stride 1, padding 1, channel counts that are multiples of the vector width.</summary>
    public static bool WinogradApplies(ImageShape input, int outChannels, int kernel, int stride, int padding) =>
        kernel == 3 && stride == 1 && padding == 1 && WinogradConvolution<T>.Supports(input.Channels, outChannels);

    /// <summary>The output size of a convolution, validating every argument.</summary>
    public static ImageShape OutputShape(string name, ImageShape input, int outChannels, int kernel, int stride, int padding)
    {
        input.Validate(name);
        if (outChannels < 1 || kernel < 1 || stride < 1 || padding < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(kernel), $"Conv2d '{name}': need outChannels ≥ 1, kernel ≥ 1, stride ≥ 1, padding ≥ 0; got {outChannels}, {kernel}, {stride}, {padding}.");
        }

        int h = ((input.Height + (2 * padding) - kernel) / stride) + 1, w = ((input.Width + (2 * padding) - kernel) / stride) + 1;
        if (input.Height + (2 * padding) < kernel || input.Width + (2 * padding) < kernel)
        {
            throw new ArgumentException($"Conv2d '{name}': a {kernel}×{kernel} kernel does not fit a {input.Height}×{input.Width} input padded by {padding}.", nameof(kernel));
        }

        return new ImageShape(outChannels, h, w);
    }

    /// <inheritdoc />
    public override void Register(ParameterArena arena, Func<string, int> groupOf)
    {
        ArgumentNullException.ThrowIfNull(arena);
        ArgumentNullException.ThrowIfNull(groupOf);
        if (_weight is not null)
        {
            throw new InvalidOperationException($"Layer '{Name}' is already registered in an arena.");
        }

        string w = Name + ".weight", b = Name + ".bias";
        _weight = arena.Add(w, [Output.Channels, InputShape.Channels, Kernel, Kernel], groupOf(w));
        _bias = HasBias ? arena.Add(b, [Output.Channels], groupOf(b)) : null;
    }

    /// <inheritdoc />
    public override void Bind(ParameterStore<T> store)
    {
        ArgumentNullException.ThrowIfNull(store);
        _ = Weight;
        _store = store;
    }

    /// <summary>Kaiming-normal weights over fan_in = Cin·k·k (He), zero bias.</summary>
    public override void Initialize(ulong seed)
    {
        var store = Store();
        Initializers.Fill(InitScheme.HeNormal, store.Param(Weight), Depth, Output.Channels, Rng.Derive(seed, Weight.Name));
        if (_bias is not null)
        {
            store.Param(_bias).Clear();
        }
    }

    /// <inheritdoc />
    public override void Forward(MatMul<T> matMul, ReadOnlySpan<T> x, Span<T> y, int batch, bool training)
    {
        var store = Store();
        int pixels = batch * Output.Pixels, depth = Depth, cout = Output.Channels;
        Ensure(batch);
        _forwardBatch = batch;
        if (_wino is not null)
        {
            _wino.TransformWeights(store.Param(Weight), cout, InputShape.Channels, _winograd, backwardData: false, _transformScratch, Pool);
            fixed (T* px = x, py = y, pb = _bias is null ? default : store.Param(_bias))
            {
                _wino.Run(matMul, Pool, px, batch, InputShape.Height, InputShape.Width, InputShape.Channels, _winograd, cout, py, pb, _col);
            }

            _colValid = false;
            _winogradInputValid = true; // the transformed input tiles stay in _col for the weight gradient
            return;
        }

        Pack(store.Param(Weight), _packed);
        Span<T> col = _col.AsSpan(0, pixels * depth);
        fixed (T* px = x, pc = col)
        {
            Columns(px, pc, batch, toColumns: true);
        }

        _colValid = true;

        if (_bias is not null)
        {
            ReadOnlySpan<T> bias = store.Param(_bias);
            for (int r = 0; r < pixels; r++)
            {
                bias.CopyTo(y.Slice(r * cout, cout));
            }
        }

        // Y [P, Cout] = col [P, K] · Wpᵀ (+ Y holding the bias).
        matMul.Multiply(Transpose.N, Transpose.T, pixels, cout, depth, T.One, col, depth, _packed, depth, _bias is null ? T.Zero : T.One, y, cout);
    }

    /// <inheritdoc />
    public override void Backward(MatMul<T> matMul, ReadOnlySpan<T> x, ReadOnlySpan<T> y, ReadOnlySpan<T> dy, Span<T> dx, int batch, bool inputGradient)
    {
        var store = Store();
        int pixels = batch * Output.Pixels, depth = Depth, cout = Output.Channels;
        long start = Stopwatch.GetTimestamp();
        if ((_winogradInputValid || _colValid) && batch != _forwardBatch)
        {
            throw new InvalidOperationException($"Conv2d '{Name}': backward of a batch of {batch} after a forward of {_forwardBatch}; the weight gradient reads what the forward of the same batch left (its columns or Winograd tiles).");
        }

        if (_winogradInputValid && _wino is not null)
        {
            // dW += Gᵀ[Σ_tiles (A dY Aᵀ) ⊙ V]G with the forward's V; _winogradBack is free until backward-data.
            fixed (T* pdy = dy)
            {
                _wino.WeightGradient(matMul, Pool, pdy, batch, InputShape.Height, InputShape.Width, InputShape.Channels, cout, _col, _winogradBack, store.Grad(Weight));
            }
        }
        else
        {
            // Only a Winograd layer whose forward did not run since the last backward gets here with a workspace
            // sized for Winograd alone: it grows once to the columns' size, checked as the forward's is.
            EnsureWorkspace(batch, (long)pixels * depth, "im2col");

            Span<T> col = _col.AsSpan(0, pixels * depth);
            if (!_colValid)
            {
                // No columns from the forward (a Winograd one built none): build them now for the weight gradient.
                fixed (T* px = x, pc = col)
                {
                    Columns(px, pc, batch, toColumns: true);
                }
            }

            // dWp [Cout, K] = dYᵀ [Cout, P] · col [P, K], then dW += dWp in PyTorch order.
            if (_narrow is not null)
            {
                _narrow.Run(Pool, dy, col, pixels, cout, depth, _packedGrad);
            }
            else
            {
                matMul.Multiply(Transpose.T, Transpose.N, cout, depth, pixels, T.One, dy, cout, col, depth, T.Zero, _packedGrad, depth);
            }

            UnpackAdd(_packedGrad, store.Grad(Weight));
        }

        _winogradInputValid = false;
        if (_bias is not null)
        {
            BiasGradient.AddColumnSums(dy, pixels, cout, store.Grad(_bias));
        }

        Timings.AddBackwardWeights(Stopwatch.GetTimestamp() - start);
        if (inputGradient && _wino is not null)
        {
            // dX = conv3×3(dY, W rotated 180° with its channel axes swapped), by Winograd; the columns are spent.
            _wino.TransformWeights(store.Param(Weight), cout, InputShape.Channels, _winogradBack, backwardData: true, _transformScratch, Pool);
            fixed (T* pdy = dy, pdx = dx)
            {
                _wino.Run(matMul, Pool, pdy, batch, InputShape.Height, InputShape.Width, cout, _winogradBack, InputShape.Channels, pdx, null, _col);
            }
        }
        else if (inputGradient)
        {
            Span<T> col = _col.AsSpan(0, pixels * depth);
            Pack(store.Param(Weight), _packed);

            // dcol [P, K] = dY [P, Cout] · Wp [Cout, K], then col2im.
            matMul.Multiply(Transpose.N, Transpose.N, pixels, depth, cout, T.One, dy, cout, _packed, depth, T.Zero, col, depth);
            fixed (T* pdx = dx, pc = col)
            {
                Columns(pdx, pc, batch, toColumns: false);
            }

            _colValid = false; // the columns now hold dcol: another backward rebuilds them
        }
    }

    /// <summary>Wp[o, (ky·k + kx)·Cin + c] = W[o, c, ky, kx].</summary>
    private void Pack(ReadOnlySpan<T> weight, Span<T> packed)
    {
        int cin = InputShape.Channels, kk = Kernel * Kernel, depth = Depth;
        for (int o = 0; o < Output.Channels; o++)
        {
            ReadOnlySpan<T> w = weight.Slice(o * depth, depth);
            Span<T> p = packed.Slice(o * depth, depth);
            for (int c = 0; c < cin; c++)
            {
                for (int t = 0; t < kk; t++)
                {
                    p[(t * cin) + c] = w[(c * kk) + t];
                }
            }
        }
    }

    /// <summary>dW[o, c, ky, kx] += dWp[o, (ky·k + kx)·Cin + c].</summary>
    private void UnpackAdd(ReadOnlySpan<T> packed, Span<T> grad)
    {
        int cin = InputShape.Channels, kk = Kernel * Kernel, depth = Depth;
        for (int o = 0; o < Output.Channels; o++)
        {
            ReadOnlySpan<T> p = packed.Slice(o * depth, depth);
            Span<T> g = grad.Slice(o * depth, depth);
            for (int c = 0; c < cin; c++)
            {
                for (int t = 0; t < kk; t++)
                {
                    g[(c * kk) + t] += p[(t * cin) + c];
                }
            }
        }
    }

    /// <summary>col[(n, oy, ox), (ky, kx, c)] = x[n, oy·s − p + ky, ox·s − p + kx, c], 0 outside the image.</summary>
    private void Im2Col(ReadOnlySpan<T> image, Span<T> col)
    {
        int cin = InputShape.Channels, h = InputShape.Height, w = InputShape.Width, k = Kernel, depth = Depth;
        int ho = Output.Height, wo = Output.Width;
        int row = 0;
        {
            for (int oy = 0; oy < ho; oy++)
            {
                for (int ox = 0; ox < wo; ox++, row++)
                {
                    Span<T> dest = col.Slice(row * depth, depth);
                    int iy0 = (oy * Stride) - Padding, ix0 = (ox * Stride) - Padding;
                    for (int ky = 0; ky < k; ky++)
                    {
                        int iy = iy0 + ky;
                        Span<T> line = dest.Slice(ky * k * cin, k * cin);
                        if ((uint)iy >= (uint)h)
                        {
                            line.Clear();
                            continue;
                        }

                        int first = Math.Max(0, -ix0), last = Math.Min(k, w - ix0); // kx in [first, last) lies inside
                        if (first > 0)
                        {
                            line[..(first * cin)].Clear();
                        }

                        if (last > first)
                        {
                            image.Slice(((iy * w) + ix0 + first) * cin, (last - first) * cin).CopyTo(line[(first * cin)..]);
                        }

                        if (last < k)
                        {
                            line[(Math.Max(last, first) * cin)..].Clear();
                        }
                    }
                }
            }
        }
    }

    /// <summary>dx = Σ over windows of dcol (the adjoint of <see cref="Im2Col"/>).</summary>
    private void Col2Im(ReadOnlySpan<T> col, Span<T> image)
    {
        int cin = InputShape.Channels, h = InputShape.Height, w = InputShape.Width, k = Kernel, depth = Depth;
        int ho = Output.Height, wo = Output.Width;
        image.Clear();
        int row = 0;
        {
            for (int oy = 0; oy < ho; oy++)
            {
                for (int ox = 0; ox < wo; ox++, row++)
                {
                    ReadOnlySpan<T> source = col.Slice(row * depth, depth);
                    int iy0 = (oy * Stride) - Padding, ix0 = (ox * Stride) - Padding;
                    for (int ky = 0; ky < k; ky++)
                    {
                        int iy = iy0 + ky;
                        if ((uint)iy >= (uint)h)
                        {
                            continue;
                        }

                        int first = Math.Max(0, -ix0), last = Math.Min(k, w - ix0);
                        if (last > first)
                        {
                            Span<T> target = image.Slice(((iy * w) + ix0 + first) * cin, (last - first) * cin);
                            ReadOnlySpan<T> values = source.Slice(((ky * k) + first) * cin, (last - first) * cin);
                            System.Numerics.Tensors.TensorPrimitives.Add(target, values, target);
                        }
                    }
                }
            }
        }
    }

    /// <summary>im2col (or col2im) of every sample, the samples split over the layer's pool.</summary>
    private void Columns(T* image, T* columns, int batch, bool toColumns)
    {
        _image = image;
        _columns = columns;
        _batch = batch;
        _toColumns = toColumns;
        _parts = LayerParallel.Parts(Pool);
        LayerParallel.Run(Pool, this);
    }

    /// <inheritdoc />
    void IParallelWork.Execute(int part)
    {
        var (first, end) = LayerParallel.Split(_batch, part, _parts);
        int sample = InputShape.Size, block = Output.Pixels * Depth;
        for (int n = first; n < end; n++)
        {
            var image = new Span<T>(_image + ((long)n * sample), sample);
            var col = new Span<T>(_columns + ((long)n * block), block);
            if (_toColumns)
            {
                Im2Col(image, col);
            }
            else
            {
                Col2Im(col, image);
            }
        }
    }

    private void Ensure(int batch)
    {
        // im2col keeps its columns [P, K] in _col; the Winograd passes (forward, backward-weights, backward-data) their
        // transformed tiles and products, and need columns only for the weight gradient's fallback (Backward).
        if (_wino is null)
        {
            EnsureWorkspace(batch, (long)batch * Output.Pixels * Depth, "im2col");
        }
        else
        {
            EnsureWorkspace(batch, _wino.WorkspaceLength(batch, InputShape.Height, InputShape.Width, InputShape.Channels, Output.Channels), "Winograd");
        }

        if (_packedGrad.Length == 0)
        {
            _packedGrad = new T[Output.Channels * Depth];
            if (_wino is null)
            {
                _packed = new T[Output.Channels * Depth];
            }
            else
            {
                _transformScratch = new T[Output.Channels * Depth];
                _winograd = new T[_wino.TransformedWeightsLength(InputShape.Channels, Output.Channels)];
                _winogradBack = new T[_wino.TransformedWeightsLength(InputShape.Channels, Output.Channels)];
            }
        }
    }

    /// <summary>
    /// Grows the workspace <c>_col</c> to <paramref name="need"/> values (it never shrinks), or fails naming the batch
    /// where one array cannot hold them. Every allocation of <c>_col</c> goes through here.
    /// </summary>
    private void EnsureWorkspace(int batch, long need, string algorithm)
    {
        if (need > int.MaxValue)
        {
            throw new ArgumentOutOfRangeException(nameof(batch), batch, $"Conv2d '{Name}': the {algorithm} workspace for a batch of {batch} would hold {need} values, more than one array can; use a smaller batch.");
        }

        if (_col.Length < need)
        {
            _col = new T[need];
        }
    }

    private ParameterStore<T> Store() =>
        _store ?? throw new InvalidOperationException($"Layer '{Name}' has no parameter store: register the model, build the arena, then use it (Sequential binds it).");

    private InvalidOperationException NotRegistered() => new($"Layer '{Name}' is not registered in an arena yet.");
}

using System;
using System.Numerics;
using FusedOpt.Threading;

namespace FusedOpt.Models.Layers;

/// <summary>
/// Max pooling over channels-last images with a k×k window and a stride, no padding, floor output size (PyTorch's
/// <c>nn.MaxPool2d(k, s)</c>): each output is the largest value of its window; a tie goes to the first value in
/// row-major window order, as PyTorch's CPU kernel. Backward routes dL/dy to that value's position.
/// </summary>
/// <remarks>Nothing is recorded: backward finds the winner again by comparing the window with the output. Samples
/// run in parallel on the layer's pool.</remarks>
/// <typeparam name="T"><see cref="float"/> or <see cref="double"/>.</typeparam>
public sealed unsafe class MaxPool2d<T> : Layer<T>, IParallelWork
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private bool[] _taken = [];
    private int _batch;
    private int _parts = 1;
    private bool _forward;
    private T* _x;
    private T* _y;
    private T* _dy;
    private T* _dx;

    /// <summary>Creates a k×k max pool with stride <paramref name="stride"/> over <paramref name="input"/>.</summary>
    public MaxPool2d(string name, ImageShape input, int kernel = 2, int stride = 2)
        : base(name, input.Validate(name).Size, OutputShape(name, input, kernel, stride).Size)
    {
        InputShape = input;
        Output = OutputShape(name, input, kernel, stride);
        Kernel = kernel;
        Stride = stride;
    }

    /// <summary>Input shape.</summary>
    public ImageShape InputShape { get; }

    /// <summary>Output shape: (C, ⌊(H − k)/s⌋ + 1, ⌊(W − k)/s⌋ + 1).</summary>
    public ImageShape Output { get; }

    /// <summary>Window size k.</summary>
    public int Kernel { get; }

    /// <summary>Stride.</summary>
    public int Stride { get; }

    /// <inheritdoc />
    public override LayerSpec Spec => new MaxPool2dSpec(Name, InputShape, Kernel, Stride);

    /// <summary>The output size of a pool, validating every argument.</summary>
    public static ImageShape OutputShape(string name, ImageShape input, int kernel, int stride)
    {
        input.Validate(name);
        if (kernel < 1 || stride < 1 || kernel > input.Height || kernel > input.Width)
        {
            throw new ArgumentOutOfRangeException(nameof(kernel), $"MaxPool2d '{name}': need 1 ≤ kernel ≤ {Math.Min(input.Height, input.Width)} (the input is {input}) and stride ≥ 1; got kernel {kernel}, stride {stride}.");
        }

        return new ImageShape(input.Channels, ((input.Height - kernel) / stride) + 1, ((input.Width - kernel) / stride) + 1);
    }

    /// <inheritdoc />
    public override void Forward(MatMul<T> matMul, ReadOnlySpan<T> x, Span<T> y, int batch, bool training)
    {
        fixed (T* px = x, py = y)
        {
            Begin(px, py, null, null, batch, forward: true);
        }
    }

    /// <inheritdoc />
    public override void Backward(MatMul<T> matMul, ReadOnlySpan<T> x, ReadOnlySpan<T> y, ReadOnlySpan<T> dy, Span<T> dx, int batch, bool inputGradient)
    {
        if (!inputGradient)
        {
            return;
        }

        fixed (T* px = x, py = y, pdy = dy, pdx = dx)
        {
            Begin(px, py, pdy, pdx, batch, forward: false);
        }
    }

    /// <inheritdoc />
    void IParallelWork.Execute(int part)
    {
        var (first, end) = LayerParallel.Split(_batch, part, _parts);
        for (int n = first; n < end; n++)
        {
            var x = new ReadOnlySpan<T>(_x + ((long)n * InputShape.Size), InputShape.Size);
            if (_forward)
            {
                ForwardSample(x, new Span<T>(_y + ((long)n * Output.Size), Output.Size));
            }
            else
            {
                BackwardSample(
                    x, new ReadOnlySpan<T>(_y + ((long)n * Output.Size), Output.Size), new ReadOnlySpan<T>(_dy + ((long)n * Output.Size), Output.Size),
                    new Span<T>(_dx + ((long)n * InputShape.Size), InputShape.Size), _taken.AsSpan(part * InputShape.Channels, InputShape.Channels));
            }
        }
    }

    private void Begin(T* x, T* y, T* dy, T* dx, int batch, bool forward)
    {
        _x = x;
        _y = y;
        _dy = dy;
        _dx = dx;
        _batch = batch;
        _forward = forward;
        _parts = LayerParallel.Parts(Pool);
        if (_taken.Length < _parts * InputShape.Channels)
        {
            _taken = new bool[_parts * InputShape.Channels];
        }

        LayerParallel.Run(Pool, this);
    }

    /// <summary>Each output pixel's channel vector is the element-wise max of its window's pixel vectors.</summary>
    private void ForwardSample(ReadOnlySpan<T> x, Span<T> y)
    {
        int c = InputShape.Channels, w = InputShape.Width, k = Kernel;
        for (int oy = 0; oy < Output.Height; oy++)
        {
            for (int ox = 0; ox < Output.Width; ox++)
            {
                Span<T> target = y.Slice(((oy * Output.Width) + ox) * c, c);
                int corner = ((oy * Stride * w) + (ox * Stride)) * c;
                x.Slice(corner, c).CopyTo(target);
                for (int ky = 0; ky < k; ky++)
                {
                    for (int kx = 0; kx < k; kx++)
                    {
                        if (ky != 0 || kx != 0)
                        {
                            Max(x.Slice(corner + (((ky * w) + kx) * c), c), target);
                        }
                    }
                }
            }
        }
    }

    /// <summary>
    /// dL/dy goes to the first position of each window (row-major) whose value equals the window's max — the value the
    /// forward pass chose (it replaces the max only on a strictly larger value).
    /// </summary>
    private void BackwardSample(ReadOnlySpan<T> x, ReadOnlySpan<T> y, ReadOnlySpan<T> dy, Span<T> dx, Span<bool> taken)
    {
        int c = InputShape.Channels, w = InputShape.Width, k = Kernel;
        if (Stride != k || InputShape.Height % k != 0 || InputShape.Width % k != 0)
        {
            dx.Clear(); // Route writes every position of every window; only positions outside all windows, or overlaps, need this.
        }
        for (int oy = 0; oy < Output.Height; oy++)
        {
            for (int ox = 0; ox < Output.Width; ox++)
            {
                int o = ((oy * Output.Width) + ox) * c;
                ReadOnlySpan<T> max = y.Slice(o, c), grad = dy.Slice(o, c);
                int corner = ((oy * Stride * w) + (ox * Stride)) * c;
                if (Stride >= k)
                {
                    // Windows do not overlap: write each position once, vectorized.
                    Route(x, max, grad, dx, corner, w, c);
                    continue;
                }

                taken.Clear();
                for (int ky = 0; ky < k; ky++)
                {
                    for (int kx = 0; kx < k; kx++)
                    {
                        int at = corner + (((ky * w) + kx) * c);
                        for (int j = 0; j < c; j++)
                        {
                            if (!taken[j] && x[at + j] == max[j])
                            {
                                dx[at + j] += grad[j];
                                taken[j] = true;
                            }
                        }
                    }
                }
            }
        }
    }

    private void Route(ReadOnlySpan<T> x, ReadOnlySpan<T> max, ReadOnlySpan<T> grad, Span<T> dx, int corner, int w, int c)
    {
        int k = Kernel, j = 0;
        if (Vector.IsHardwareAccelerated)
        {
            for (; j <= c - Vector<T>.Count; j += Vector<T>.Count)
            {
                var m = new Vector<T>(max[j..]);
                var g = new Vector<T>(grad[j..]);
                var open = Vector<T>.AllBitsSet;
                for (int ky = 0; ky < k; ky++)
                {
                    for (int kx = 0; kx < k; kx++)
                    {
                        int at = corner + (((ky * w) + kx) * c) + j;
                        var hit = Vector.Equals(new Vector<T>(x[at..]), m) & open;
                        Vector.ConditionalSelect(hit, g, Vector<T>.Zero).CopyTo(dx[at..]);
                        open &= ~hit;
                    }
                }
            }
        }

        for (; j < c; j++)
        {
            bool done = false;
            for (int ky = 0; ky < k; ky++)
            {
                for (int kx = 0; kx < k; kx++)
                {
                    int at = corner + (((ky * w) + kx) * c) + j;
                    bool hit = !done && x[at] == max[j];
                    dx[at] = hit ? grad[j] : T.Zero;
                    done |= hit;
                }
            }
        }
    }

    private static void Max(ReadOnlySpan<T> source, Span<T> target)
    {
        int j = 0;
        if (Vector.IsHardwareAccelerated)
        {
            for (; j <= source.Length - Vector<T>.Count; j += Vector<T>.Count)
            {
                var s = new Vector<T>(source[j..]);
                var t = new Vector<T>(target[j..]);
                Vector.ConditionalSelect(Vector.GreaterThan(s, t), s, t).CopyTo(target[j..]);
            }
        }

        for (; j < source.Length; j++)
        {
            if (source[j] > target[j])
            {
                target[j] = source[j];
            }
        }
    }
}

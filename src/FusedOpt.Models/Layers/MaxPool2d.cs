using System;
using System.Numerics;

namespace FusedOpt.Models.Layers;

/// <summary>
/// Max pooling over channels-last images with a k×k window and a stride, no padding, floor output size (PyTorch's
/// <c>nn.MaxPool2d(k, s)</c>): each output is the largest value of its window; a tie goes to the first value in
/// row-major window order, as PyTorch's CPU kernel. Backward routes dL/dy to that value's position.
/// </summary>
/// <remarks>The forward pass records the winning input index of every output (an int per output value, sized for
/// the largest batch seen).</remarks>
/// <typeparam name="T"><see cref="float"/> or <see cref="double"/>.</typeparam>
public sealed class MaxPool2d<T> : Layer<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private int[] _argMax = [];

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
        int c = InputShape.Channels, w = InputShape.Width, ho = Output.Height, wo = Output.Width, k = Kernel;
        int inSample = InputShape.Size, outSample = Output.Size;
        if (_argMax.Length < batch * outSample)
        {
            _argMax = new int[batch * outSample];
        }

        for (int n = 0; n < batch; n++)
        {
            for (int oy = 0; oy < ho; oy++)
            {
                for (int ox = 0; ox < wo; ox++)
                {
                    int outBase = (n * outSample) + (((oy * wo) + ox) * c);
                    int first = (n * inSample) + ((((oy * Stride) * w) + (ox * Stride)) * c);
                    Span<T> target = y.Slice(outBase, c);
                    Span<int> index = _argMax.AsSpan(outBase, c);
                    x.Slice(first, c).CopyTo(target);
                    for (int j = 0; j < c; j++)
                    {
                        index[j] = first + j;
                    }

                    for (int ky = 0; ky < k; ky++)
                    {
                        for (int kx = 0; kx < k; kx++)
                        {
                            if (ky == 0 && kx == 0)
                            {
                                continue;
                            }

                            int at = first + (((ky * w) + kx) * c);
                            ReadOnlySpan<T> source = x.Slice(at, c);
                            for (int j = 0; j < c; j++)
                            {
                                if (source[j] > target[j])
                                {
                                    target[j] = source[j];
                                    index[j] = at + j;
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// <inheritdoc />
    public override void Backward(MatMul<T> matMul, ReadOnlySpan<T> x, ReadOnlySpan<T> y, ReadOnlySpan<T> dy, Span<T> dx, int batch, bool inputGradient)
    {
        if (!inputGradient)
        {
            return;
        }

        dx[..(batch * InputFeatures)].Clear();
        ReadOnlySpan<int> index = _argMax.AsSpan(0, batch * OutputFeatures);
        for (int i = 0; i < index.Length; i++)
        {
            dx[index[i]] += dy[i];
        }
    }
}

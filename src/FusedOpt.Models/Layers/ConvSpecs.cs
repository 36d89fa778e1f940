using System.Numerics;

namespace FusedOpt.Models.Layers;

/// <summary>How a convolution computes its forward, backward-data and backward-weights passes. Values are appended, never renumbered: specs record them.</summary>
public enum ConvAlgorithm
{
    /// <summary>
    /// Winograd where it applies (3×3, stride 1, padding 1, vector-multiple channel counts) and pays, by image size
    /// (<see cref="Conv2d{T}.AutoAlgorithm"/>: F(4×4, 3×3) from <see cref="Conv2d{T}.AutoWinograd4x4MinSize"/>²,
    /// F(2×2, 3×3) from <see cref="Conv2d{T}.AutoWinogradMinSize"/>²), else im2col.
    /// </summary>
    Auto,

    /// <summary>im2col + the packed GEMM, for any kernel, stride and padding.</summary>
    Im2Col,

    /// <summary>Winograd F(2×2, 3×3); construction fails where it does not apply.</summary>
    Winograd,

    /// <summary>
    /// Winograd F(4×4, 3×3) (36 multiplications per 4×4 output tile instead of 144; float32 error 10–30× that of
    /// F(2×2), growing like √C with the channels summed: at most 1.3·10⁻⁶·√C of the output's largest magnitude measured,
    /// bounded at 4·10⁻⁶·√C by the tests); construction fails where it does not apply (the same conditions as
    /// <see cref="Winograd"/>).
    /// </summary>
    Winograd4x4,
}

/// <summary>A 2-D convolution over channels-last images; see <see cref="Conv2d{T}"/>.</summary>
/// <param name="Name">Prefix of the tensor names.</param>
/// <param name="Input">Input shape (C, H, W).</param>
/// <param name="OutChannels">Output channels.</param>
/// <param name="Kernel">Kernel size k (k × k).</param>
/// <param name="Stride">Stride.</param>
/// <param name="Padding">Zero padding per side.</param>
/// <param name="Bias">Whether the layer has a bias.</param>
/// <param name="Algorithm">How forward and backward-data run.</param>
public sealed record Conv2dSpec(
    string Name, ImageShape Input, int OutChannels, int Kernel = 3, int Stride = 1, int Padding = 1, bool Bias = true, ConvAlgorithm Algorithm = ConvAlgorithm.Auto) : LayerSpec
{
    /// <summary>The output shape.</summary>
    public ImageShape Output => Conv2d<float>.OutputShape(Name, Input, OutChannels, Kernel, Stride, Padding);

    /// <inheritdoc />
    public override Layer<T> Create<T>() => new Conv2d<T>(Name, Input, OutChannels, Kernel, Stride, Padding, Bias, Algorithm);

    /// <inheritdoc />
    public override string ToString() => $"Conv2d({Input} → {Output}, k {Kernel}, s {Stride}, p {Padding})";
}

/// <summary>Batch normalization of channels-last images, optionally with a fused ReLU; see <see cref="BatchNorm2d{T}"/>.</summary>
/// <param name="Name">Prefix of the tensor and buffer names.</param>
/// <param name="Shape">Per-sample shape.</param>
/// <param name="Momentum">Running-statistics momentum.</param>
/// <param name="Epsilon">ε added to the variance.</param>
/// <param name="ReLU">Whether a ReLU is fused in after the normalization.</param>
public sealed record BatchNorm2dSpec(string Name, ImageShape Shape, double Momentum = 0.1, double Epsilon = 1e-5, bool ReLU = false) : LayerSpec
{
    /// <inheritdoc />
    public override Layer<T> Create<T>() => new BatchNorm2d<T>(Name, Shape, Momentum, Epsilon, ReLU);

    /// <inheritdoc />
    public override string ToString() => ReLU ? $"BatchNorm2d+ReLU({Shape})" : $"BatchNorm2d({Shape})";
}

/// <summary>Max pooling of channels-last images; see <see cref="MaxPool2d{T}"/>.</summary>
/// <param name="Name">Layer name.</param>
/// <param name="Input">Input shape.</param>
/// <param name="Kernel">Window size.</param>
/// <param name="Stride">Stride.</param>
public sealed record MaxPool2dSpec(string Name, ImageShape Input, int Kernel = 2, int Stride = 2) : LayerSpec
{
    /// <summary>The output shape.</summary>
    public ImageShape Output => MaxPool2d<float>.OutputShape(Name, Input, Kernel, Stride);

    /// <inheritdoc />
    public override Layer<T> Create<T>() => new MaxPool2d<T>(Name, Input, Kernel, Stride);

    /// <inheritdoc />
    public override string ToString() => $"MaxPool2d({Input} → {Output}, k {Kernel}, s {Stride})";
}

/// <summary>Reorders samples of <paramref name="Shape"/> to <paramref name="Target"/>; see <see cref="ImageLayoutChange{T}"/>.</summary>
/// <param name="Shape">Per-sample shape.</param>
/// <param name="Target">Layout of the output.</param>
/// <param name="Name">Layer name; null for <c>to_nhwc</c> / <c>to_nchw</c>.</param>
public sealed record ImageLayoutSpec(ImageShape Shape, ImageLayout Target, string? Name = null) : LayerSpec
{
    /// <inheritdoc />
    public override Layer<T> Create<T>() => new ImageLayoutChange<T>(Shape, Target, Name);

    /// <inheritdoc />
    public override string ToString() => Target == ImageLayout.ChannelsLast ? $"ToChannelsLast({Shape})" : $"ToChannelsFirst({Shape})";
}

using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Globalization;
using System.Linq;
using FusedOpt.Models.Layers;

namespace FusedOpt.Models;

/// <summary>
/// VGG with batch normalization in its CIFAR-10 form (seed 000): 3×3 convolutions with padding 1, each followed by
/// BatchNorm2d and ReLU, 2×2 max pools at "M", then flatten and one linear layer to the classes. VGG11 is
/// <c>[64, M, 128, M, 256, 256, M, 512, 512, M, 512, 512, M]</c>, then Linear(512, 10).
/// </summary>
/// <remarks>
/// <para>Layout: the images arrive channel-major ([3, 32, 32], as CIFAR-10 and PyTorch store them); the first layer
/// reorders them to channels-last, where the convolutions run as one GEMM over the whole batch and BN and pooling
/// walk contiguous channel vectors. A 32×32 input ends at 1×1 pixels, where both layouts coincide, so no reorder is
/// needed before the classifier; other input sizes get one.</para>
/// <para>Names: layers are <c>conv1</c>…, <c>bn1</c>… (with the ReLU fused in), <c>pool1</c>…, <c>fc</c>;
/// <see cref="TorchNames"/> maps them to the PyTorch <c>state_dict</c> names of
/// <c>nn.Sequential(nn.Sequential(*features), nn.Flatten(), nn.Linear)</c> (<c>0.K.weight</c>, <c>2.weight</c>).</para>
/// </remarks>
public static class Vgg
{
    /// <summary>The VGG11 configuration: channel counts, 0 for a 2×2 max pool ("M").</summary>
    public static ImmutableArray<int> Vgg11 { get; } = [64, 0, 128, 0, 256, 256, 0, 512, 512, 0, 512, 512, 0];

    /// <summary>The channels of configuration entry <paramref name="channels"/> at width multiplier <paramref name="width"/>: round(c·w), at least 1.</summary>
    public static int Scale(int channels, double width) => Math.Max(1, (int)Math.Round(channels * width, MidpointRounding.ToEven));

    /// <summary>The architecture.</summary>
    /// <param name="width">Multiplier of every channel count, &gt; 0 (1 for VGG11, 0.125 for the reference case).</param>
    /// <param name="classes">Output classes.</param>
    /// <param name="input">Per-image input shape, channel-major; default CIFAR-10's (3, 32, 32).</param>
    /// <param name="config">Channel counts and pools (0); default <see cref="Vgg11"/>.</param>
    /// <param name="fuseBnReLU">Run each BN and its ReLU as one layer (default) or as two.</param>
    /// <param name="momentum">BN running-statistics momentum (PyTorch's 0.1).</param>
    /// <param name="epsilon">BN ε (PyTorch's 1e-5).</param>
    /// <param name="algorithm">Convolution algorithm of every layer (Auto: Winograd where it applies).</param>
    public static ModelSpec Spec(
        double width = 1, int classes = 10, ImageShape? input = null, ImmutableArray<int>? config = null, bool fuseBnReLU = true, double momentum = 0.1, double epsilon = 1e-5,
        ConvAlgorithm algorithm = ConvAlgorithm.Auto)
    {
        if (!(width > 0) || double.IsInfinity(width))
        {
            throw new ArgumentOutOfRangeException(nameof(width), width, $"vgg: the width multiplier must be > 0, got {width}.");
        }

        if (classes < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(classes), classes, $"vgg: classes must be ≥ 1, got {classes}.");
        }

        var entries = config ?? Vgg11;
        if (entries.IsDefaultOrEmpty || entries.Any(static c => c < 0))
        {
            throw new ArgumentException("vgg: the configuration needs channel counts ≥ 1 and 0 for pools.", nameof(config));
        }

        var shape = (input ?? new ImageShape(3, 32, 32)).Validate("vgg");
        var layers = ImmutableArray.CreateBuilder<LayerSpec>();
        layers.Add(new ImageLayoutSpec(shape, ImageLayout.ChannelsLast));
        int conv = 0, pool = 0;
        foreach (int entry in entries)
        {
            if (entry == 0)
            {
                var p = new MaxPool2dSpec($"pool{++pool}", shape);
                layers.Add(p);
                shape = p.Output;
                continue;
            }

            conv++;
            var c = new Conv2dSpec($"conv{conv}", shape, Scale(entry, width), Algorithm: shape.Channels < 8 && (algorithm is ConvAlgorithm.Winograd or ConvAlgorithm.Winograd4x4) ? ConvAlgorithm.Im2Col : algorithm);
            layers.Add(c);
            shape = c.Output;
            layers.Add(new BatchNorm2dSpec($"bn{conv}", shape, momentum, epsilon, fuseBnReLU));
            if (!fuseBnReLU)
            {
                layers.Add(new ActivationSpec(ActivationKind.ReLU, shape.Size, $"relu{conv}"));
            }
        }

        if (shape.Pixels > 1)
        {
            layers.Add(new ImageLayoutSpec(shape, ImageLayout.ChannelsFirst));
        }

        layers.Add(new FlattenSpec([shape.Channels, shape.Height, shape.Width]));
        layers.Add(new LinearSpec("fc", shape.Size, classes, Initialization.InitScheme.XavierUniform));
        return new ModelSpec(layers.ToImmutable());
    }

    /// <summary>Builds <see cref="Spec"/> in float32.</summary>
    public static Sequential<float> Create(double width = 1, int classes = 10, int threads = 1) => Spec(width, classes).Build<float>(threads);

    /// <summary>
    /// Maps every tensor and buffer name of a VGG <paramref name="spec"/> (as built by <see cref="Spec"/>) to its
    /// PyTorch <c>state_dict</c> name: the feature stack is module 0 (conv, BN, ReLU and pool each take one index
    /// K, so <c>conv1.weight</c> → <c>0.0.weight</c>, <c>bn1.running_var</c> → <c>0.1.running_var</c>, <c>conv2</c> →
    /// <c>0.4</c>), flatten is 1 and the classifier 2 (<c>fc.bias</c> → <c>2.bias</c>).
    /// </summary>
    public static IReadOnlyDictionary<string, string> TorchNames(ModelSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var names = new Dictionary<string, string>(StringComparer.Ordinal);
        int k = 0;
        void Map(string layer, string prefix, params string[] suffixes)
        {
            foreach (string s in suffixes)
            {
                names[layer + "." + s] = prefix + "." + s;
            }
        }

        foreach (var layer in spec.Layers)
        {
            switch (layer)
            {
                case Conv2dSpec c:
                    Map(c.Name, "0." + k.ToString(CultureInfo.InvariantCulture), "weight", "bias");
                    k++;
                    break;
                case BatchNorm2dSpec b:
                    Map(b.Name, "0." + k.ToString(CultureInfo.InvariantCulture), "weight", "bias", "running_mean", "running_var");
                    k += b.ReLU ? 2 : 1;
                    break;
                case ActivationSpec or MaxPool2dSpec:
                    k++;
                    break;
                case LinearSpec l:
                    Map(l.Name, "2", "weight", "bias");
                    break;
                case ImageLayoutSpec or FlattenSpec:
                    break;
                default:
                    throw new ArgumentException($"vgg: no PyTorch name for layer {layer}.", nameof(spec));
            }
        }

        return names;
    }
}

using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using FusedOpt.Memory;
using FusedOpt.Models.Layers;
using FusedOpt.Models.Losses;

namespace FusedOpt.Models.Checks;

/// <summary>Options of <see cref="GradientCheck.Run"/>.</summary>
public sealed record GradientCheckOptions
{
    /// <summary>Rows of the random check batch.</summary>
    public int Batch { get; init; } = 4;

    /// <summary>The central-difference step h (float64).</summary>
    public double Step { get; init; } = 1e-5;

    /// <summary>
    /// Elements whose analytic and numeric gradients are both below this magnitude count as agreeing and are left
    /// out of the maximum relative error (they are reported in <see cref="TensorCheck.BelowFloor"/>): there the
    /// central difference's rounding noise, about ε·|L|/h, is no longer small against the gradient.
    /// </summary>
    public double Floor { get; init; } = 1e-6;

    /// <summary>Seed of the parameters, inputs, labels, dropout masks and element samples.</summary>
    public ulong Seed { get; init; } = 1;

    /// <summary>Elements checked per tensor: 0 checks all, n &gt; 0 a seeded sample of n (for large models).</summary>
    public int MaxElementsPerTensor { get; init; }

    /// <summary>Also check dL/d(input).</summary>
    public bool CheckInput { get; init; } = true;

    /// <summary>Also compare the float32 model's analytic gradients with the float64 ones.</summary>
    public bool CompareFloat32 { get; init; } = true;

    /// <summary>Threads of the float32 model (2 exercises the threaded GEMM).</summary>
    public int Float32Threads { get; init; } = 2;
}

/// <summary>
/// Checks a model's backward pass against central differences of its forward pass (seed 001, §5.2):
/// n = (L(θ + h·eᵢ) − L(θ − h·eᵢ)) / 2h for each element θᵢ, compared with the analytic a = ∂L/∂θᵢ by the relative
/// error |a − n| / max(|a|, |n|) (0 where both are 0).
/// </summary>
/// <remarks>
/// <para><b>Why float64, and how.</b> Seed 001 warns that in single precision even a correct gradient can show
/// relative errors near 10⁻² (the loss changes by ~h·|a| while float32 rounding of the loss is ~10⁻⁷·|L|), and runs
/// its check in double precision. Every layer and loss here is generic over the element type, so the check builds the
/// same model from its <see cref="ModelSpec"/> as <c>Sequential&lt;double&gt;</c>: the very layer code that trains, in
/// float64, with only the matrix product swapped for the float64 reference loop. Perturbing float32 parameters
/// instead would check the right code at an accuracy too low to tell a subtle bug from rounding.</para>
/// <para>The float32 instance is then held to the float64 one: both start from the same float32-representable
/// parameters and inputs, and <see cref="TensorCheck.Float32Error"/> reports how far the float32 backward pass (packed,
/// threaded GEMM) lands from the float64 analytic gradient. With the GEMM tested against its own reference, this closes
/// the loop from central differences to the code that trains.</para>
/// <para><b>Step and floor.</b> In float64 the central difference has a truncation error of about h²·|f‴|/6 and a
/// rounding error of about ε·|L|/h (ε = 2⁻⁵²); both are ~1e-10 at the default h = 1e-5, where their sum is smallest.
/// A small h also makes a ±h step unlikely to cross a kink of ReLU, hinge or MAE: at 1e-5 a crossing needs a
/// pre-activation within ~1e-5 of 0. Gradients themselves can be tiny (a saturated softmax row, an almost dead unit);
/// below <see cref="GradientCheckOptions.Floor"/> = 1e-6 the rounding noise exceeds 1e-4 of the value, so such
/// elements count as agreeing (they are still bounded: |a − n| &lt; 2·floor).</para>
/// <para><b>Thresholds</b> (seed 001: ≤ 1e-7 "correct"; ≤ 1e-4 acceptable with kinks or softmax; &gt; 1e-2
/// "problematic"). Over <see cref="StandardModels"/> × every loss and seeds 1–9 the largest relative error seen is
/// 5.7e-6 and the float32-vs-float64 error 4.2e-7, while a wrong backward pass gives 1e-2 to 1. The tests assert
/// 1e-4 for the check and 1e-5 for float32 against float64.</para>
/// <para>Dropout is checked with a fixed mask: the model is reseeded before every forward pass.</para>
/// </remarks>
public static class GradientCheck
{
    /// <summary>
    /// Small networks covering every layer type, for tests and <c>fusedopt gradcheck</c>: one per activation,
    /// dropout, flatten, a chain of all of them, and seed 001's FCN shape at reduced width.
    /// </summary>
    public static IReadOnlyList<(string Name, ModelSpec Spec)> StandardModels { get; } =
    [
        ("linear", new ModelSpec([new LinearSpec("fc1", 6, 5)])),
        ("relu", Mlp(ActivationKind.ReLU)),
        ("sigmoid", Mlp(ActivationKind.Sigmoid)),
        ("tanh", Mlp(ActivationKind.Tanh)),
        ("dropout", new ModelSpec([
            new LinearSpec("fc1", 6, 8), new ActivationSpec(ActivationKind.ReLU, 8), new DropoutSpec(8, 0.5, Seed: 3), new LinearSpec("fc2", 8, 5)])),
        ("flatten", new ModelSpec([new FlattenSpec([2, 3, 2]), new LinearSpec("fc1", 12, 5)])),
        ("all-layers", new ModelSpec([
            new FlattenSpec([2, 2, 2]),
            new LinearSpec("fc1", 8, 7, Initialization.InitScheme.XavierNormal), new ActivationSpec(ActivationKind.Tanh, 7),
            new LinearSpec("fc2", 7, 6, Initialization.InitScheme.XavierUniform), new ActivationSpec(ActivationKind.Sigmoid, 6),
            new LinearSpec("fc3", 6, 6, Initialization.InitScheme.HeNormal), new ActivationSpec(ActivationKind.ReLU, 6),
            new DropoutSpec(6, 0.25, Seed: 5), new LinearSpec("fc4", 6, 4)])),
        ("fcn-small", Fcn.Spec(inputShape: [3, 4, 4], hidden: [16, 16, 16], classes: 10)),
    ];

    /// <summary>
    /// Small convolutional networks covering Conv2d (odd sizes, stride 2, padding, a 2×2 kernel without padding),
    /// BatchNorm2d in training mode (alone and with the fused ReLU), MaxPool2d (2×2 and an overlapping 3×3 stride 1
    /// window; Gaussian inputs make ties improbable), the layout changes, a reduced VGG, and Winograd's forward and
    /// backward-data, F(2×2, 3×3) on a 5×5 image and F(4×4, 3×3) on a 7×6 one (partial tiles in both directions;
    /// 8 channels, a multiple of <see cref="System.Numerics.Vector{T}.Count"/> at .NET's default width of at most 256 bits).
    /// </summary>
    public static IReadOnlyList<(string Name, ModelSpec Spec)> ConvModels { get; } =
    [
        ("conv", ConvChain()),
        ("conv-bn-pool", ConvBnPool()),
        ("vgg-tiny", Vgg.Spec(width: 1, classes: 4, input: new ImageShape(3, 8, 8), config: [4, 0, 6, 0])),
        ("conv-winograd", WinogradChain(ConvAlgorithm.Winograd, new ImageShape(8, 5, 5))),
        ("conv-winograd4x4", WinogradChain(ConvAlgorithm.Winograd4x4, new ImageShape(8, 7, 6))),
    ];

    /// <summary>|a − n| / max(|a|, |n|), and 0 when both are 0 (seed 001).</summary>
    public static double RelativeError(double analytic, double numeric)
    {
        double denominator = Math.Max(Math.Abs(analytic), Math.Abs(numeric));
        return denominator == 0 ? 0 : Math.Abs(analytic - numeric) / denominator;
    }

    /// <summary>Checks every parameter tensor (and the input) of <paramref name="spec"/> under <paramref name="loss"/>.</summary>
    public static GradientCheckReport Run(ModelSpec spec, ILoss loss, GradientCheckOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(loss);
        options ??= new GradientCheckOptions();
        if (options.Batch < 1 || !(options.Step > 0))
        {
            throw new ArgumentOutOfRangeException(nameof(options), $"gradcheck: Batch must be ≥ 1 and Step > 0, got Batch = {options.Batch}, Step = {options.Step}.");
        }

        // The float32 model owns the arena and draws the parameters; the float64 model copies them exactly.
        using var model32 = spec.Build<float>(options.Float32Threads);
        using var arena = new ParameterArena();
        model32.Register(arena);
        arena.Build();
        model32.Initialize(options.Seed);

        using var model = spec.Build<double>();
        using var layout = new ParameterArena();
        model.Register(layout);
        layout.Build();
        var store = new ArrayParameters<double>(layout);
        model.Bind(store);
        store.CopyParamsFrom(arena);

        int batch = options.Batch, inputs = model.InputFeatures, classes = model.OutputFeatures;
        var (input32, labels) = Data(options.Seed, batch, inputs, classes);
        double[] input = [.. input32.Select(static x => (double)x)];
        ulong maskSeed = options.Seed ^ 0x5DEECE66DUL;

        double Loss()
        {
            model.Reseed(maskSeed);
            return loss.Evaluate(model.Forward(input, batch, training: true), labels, classes, []);
        }

        // Analytic gradients, float64.
        store.ZeroGrads();
        model.Reseed(maskSeed);
        var output = model.Forward(input, batch, training: true);
        double[] dOutput = new double[output.Length];
        loss.Evaluate(output, labels, classes, dOutput.AsSpan());
        double[] dInput = model.Backward(dOutput, inputGradient: true).ToArray();

        // The same pass in float32, for the comparison.
        float[]? dInput32 = null;
        if (options.CompareFloat32)
        {
            arena.ZeroGrads();
            model32.Reseed(maskSeed);
            var output32 = model32.Forward(input32, batch, training: true);
            float[] dOutput32 = new float[output32.Length];
            loss.Evaluate(output32, labels, classes, dOutput32.AsSpan());
            dInput32 = model32.Backward(dOutput32, inputGradient: true).ToArray();
        }

        var rows = ImmutableArray.CreateBuilder<TensorCheck>();
        var slots32 = model32.Parameters;
        var slots = model.Parameters;
        for (int t = 0; t < slots.Count; t++)
        {
            var slot = slots[t];
            double[] analytic = store.Grad(slot).ToArray();
            double? f32 = options.CompareFloat32 ? Float32Error(arena.Grad(slots32[t]), analytic) : null;
            rows.Add(CheckTensor(slot.Name, string.Join("×", slot.Shape), store.Param(slot).Length, analytic, i => store.Param(slot), Loss, options, f32));
        }

        if (options.CheckInput)
        {
            double? f32 = dInput32 is null ? null : Float32Error(dInput32, dInput);
            rows.Add(CheckTensor("input", $"{batch}×{inputs}", input.Length, dInput, _ => input, Loss, options, f32));
        }

        return new GradientCheckReport(spec.ToString(), loss.Name, batch, options.Step, rows.ToImmutable());
    }

    private static TensorCheck CheckTensor(
        string name, string shape, int length, double[] analytic, Func<int, Span<double>> values, Func<double> loss, GradientCheckOptions options, double? f32)
    {
        double h = options.Step, worst = 0, worstA = 0, worstN = 0;
        int worstIndex = -1, belowFloor = 0;
        int[] indices = Sample(name, length, options);
        foreach (int i in indices)
        {
            Span<double> v = values(i);
            double saved = v[i];
            v[i] = saved + h;
            double plus = loss();
            v = values(i);
            v[i] = saved - h;
            double minus = loss();
            v = values(i);
            v[i] = saved;

            double numeric = (plus - minus) / (2 * h);
            if (Math.Max(Math.Abs(analytic[i]), Math.Abs(numeric)) < options.Floor)
            {
                belowFloor++;
                continue;
            }

            double error = RelativeError(analytic[i], numeric);
            if (worstIndex < 0 || error > worst)
            {
                (worst, worstIndex, worstA, worstN) = (error, i, analytic[i], numeric);
            }
        }

        return new TensorCheck(name, shape, indices.Length, belowFloor, worst, worstIndex, worstA, worstN, f32);
    }

    /// <summary>All indices, or a seeded sample without repetition, in ascending order.</summary>
    private static int[] Sample(string name, int length, GradientCheckOptions options)
    {
        int n = options.MaxElementsPerTensor;
        if (n <= 0 || n >= length)
        {
            return [.. Enumerable.Range(0, length)];
        }

        var rng = Rng.Derive(options.Seed, "sample:" + name);
        var chosen = new HashSet<int>();
        while (chosen.Count < n)
        {
            chosen.Add(rng.NextInt(length));
        }

        return [.. chosen.Order()];
    }

    /// <summary>Inputs ~ N(0, 1) rounded to float32 (so both precisions see the same values) and uniform labels.</summary>
    private static (float[] Input, int[] Labels) Data(ulong seed, int batch, int inputs, int classes)
    {
        var rng = Rng.Derive(seed, "gradcheck:data");
        float[] x = new float[batch * inputs];
        for (int i = 0; i < x.Length; i++)
        {
            x[i] = (float)rng.NextGaussian();
        }

        int[] labels = new int[batch];
        for (int r = 0; r < batch; r++)
        {
            labels[r] = rng.NextInt(classes);
        }

        return (x, labels);
    }

    private static double Float32Error(ReadOnlySpan<float> g32, ReadOnlySpan<double> g64)
    {
        double maxRef = 0, maxDiff = 0;
        for (int i = 0; i < g64.Length; i++)
        {
            maxRef = Math.Max(maxRef, Math.Abs(g64[i]));
            maxDiff = Math.Max(maxDiff, Math.Abs(g32[i] - g64[i]));
        }

        return maxRef == 0 ? maxDiff : maxDiff / maxRef;
    }

    private static ModelSpec Mlp(ActivationKind activation) => new([
        new LinearSpec("fc1", 6, 8, activation == ActivationKind.ReLU ? Initialization.InitScheme.HeUniform : Initialization.InitScheme.XavierUniform),
        new ActivationSpec(activation, 8),
        new LinearSpec("fc2", 8, 5, Initialization.InitScheme.XavierUniform)]);

    private static ModelSpec ConvChain()
    {
        var input = new ImageShape(3, 7, 5);
        var c1 = new Conv2dSpec("conv1", input, 4, Kernel: 3, Stride: 2, Padding: 1);
        var c2 = new Conv2dSpec("conv2", c1.Output, 3, Kernel: 2, Stride: 1, Padding: 0);
        var o = c2.Output;
        return new ModelSpec([
            new ImageLayoutSpec(input, ImageLayout.ChannelsLast), c1, c2, new ImageLayoutSpec(o, ImageLayout.ChannelsFirst),
            new FlattenSpec([o.Channels, o.Height, o.Width]), new LinearSpec("fc", o.Size, 4)]);
    }

    private static ModelSpec ConvBnPool()
    {
        var input = new ImageShape(2, 9, 7);
        var c1 = new Conv2dSpec("conv1", input, 4, Kernel: 3, Stride: 1, Padding: 1);
        var p1 = new MaxPool2dSpec("pool1", c1.Output, 2, 2);
        var c2 = new Conv2dSpec("conv2", p1.Output, 5, Kernel: 3, Stride: 1, Padding: 1);
        var p2 = new MaxPool2dSpec("pool2", c2.Output, 3, 1);
        var o = p2.Output;
        return new ModelSpec([
            new ImageLayoutSpec(input, ImageLayout.ChannelsLast),
            c1, new BatchNorm2dSpec("bn1", c1.Output), new ActivationSpec(ActivationKind.ReLU, c1.Output.Size, "relu1"), p1,
            c2, new BatchNorm2dSpec("bn2", c2.Output, ReLU: true), p2,
            new ImageLayoutSpec(o, ImageLayout.ChannelsFirst), new FlattenSpec([o.Channels, o.Height, o.Width]), new LinearSpec("fc", o.Size, 3)]);
    }

    private static ModelSpec WinogradChain(ConvAlgorithm algorithm, ImageShape input)
    {
        var c1 = new Conv2dSpec("conv1", input, 8, Algorithm: algorithm);
        var c2 = new Conv2dSpec("conv2", c1.Output, 8, Algorithm: algorithm);
        var o = c2.Output;
        return new ModelSpec([
            new ImageLayoutSpec(input, ImageLayout.ChannelsLast), c1, new BatchNorm2dSpec("bn1", c1.Output, ReLU: true), c2,
            new ImageLayoutSpec(o, ImageLayout.ChannelsFirst), new FlattenSpec([o.Channels, o.Height, o.Width]), new LinearSpec("fc", o.Size, 3)]);
    }
}

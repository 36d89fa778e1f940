using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text.Json;
using System.Text.Json.Nodes;
using FusedOpt.Memory;
using FusedOpt.Models.Layers;
using FusedOpt.Models.Losses;

namespace FusedOpt.Models.Checks;

/// <summary>One tensor of a recorded case: its shape and row-major values.</summary>
/// <param name="Shape">Dimensions, outermost first (empty for a scalar).</param>
/// <param name="Values">Row-major values.</param>
public sealed record CaseTensor(ImmutableArray<int> Shape, double[] Values);

/// <summary>What a model computed (or a reference recorded) for one case: the fields compared.</summary>
/// <param name="TrainLogits">Training-mode logits [N, classes].</param>
/// <param name="TrainLoss">Mean cross-entropy of the training-mode pass.</param>
/// <param name="Gradients">dL/dθ by PyTorch name.</param>
/// <param name="RunningAfter">BN running statistics after the training-mode pass, by PyTorch name.</param>
/// <param name="EvalLogits">Evaluation-mode logits after the training-mode pass.</param>
public sealed record CaseOutputs(
    double[] TrainLogits, double TrainLoss, IReadOnlyDictionary<string, double[]> Gradients,
    IReadOnlyDictionary<string, double[]> RunningAfter, double[] EvalLogits);

/// <summary>The comparison of one tensor: max |ours − reference| against max |reference|.</summary>
/// <param name="Field">Which field (<c>train.logits</c>, <c>train.gradients</c>, …).</param>
/// <param name="Name">The tensor's PyTorch name (empty for logits and loss).</param>
/// <param name="Count">Values compared.</param>
/// <param name="MaxAbsError">max |ours − reference|.</param>
/// <param name="MaxAbsReference">max |reference|.</param>
/// <param name="Tolerance">The bound, relative·max|reference| + absolute.</param>
public sealed record CaseTensorCheck(string Field, string Name, int Count, double MaxAbsError, double MaxAbsReference, double Tolerance)
{
    /// <summary>Whether the error is within the tolerance.</summary>
    public bool Passed => MaxAbsError <= Tolerance;
}

/// <summary>The result of <see cref="ModelCase.Check"/>: every compared tensor.</summary>
/// <param name="Case">The case's name.</param>
/// <param name="Tensors">One row per compared tensor.</param>
public sealed record ModelCaseReport(string Case, ImmutableArray<CaseTensorCheck> Tensors)
{
    /// <summary>Whether every tensor is within its tolerance.</summary>
    public bool Passed => Tensors.All(static t => t.Passed);

    /// <summary>The largest error / tolerance ratio (≤ 1 passes).</summary>
    public double WorstRatio => Tensors.Max(static t => t.Tolerance > 0 ? t.MaxAbsError / t.Tolerance : 0);
}

/// <summary>
/// A forward/backward case of a VGG-BN recorded from PyTorch (<c>../shared/reference/vgg/</c>, format in its README):
/// input, labels, parameters by <c>state_dict</c> name, and the training-mode logits, loss, gradients and updated
/// running statistics, then the evaluation-mode logits. <see cref="Run"/> replays it on our float32 runtime and
/// <see cref="Check"/> compares per tensor: max |ours − reference| ≤ 1e-3·max |reference| + 1e-5.
/// </summary>
public sealed class ModelCase
{
    /// <summary>Relative part of the tolerance (the README's 1e-3).</summary>
    public const double RelativeTolerance = 1e-3;

    /// <summary>Absolute part of the tolerance (the README's 1e-5).</summary>
    public const double AbsoluteTolerance = 1e-5;

    private readonly JsonObject _root;

    private ModelCase(string name, JsonObject root, double width, ImmutableArray<int> config, ImmutableArray<int> inputShape, float[] input, int[] labels,
        IReadOnlyDictionary<string, CaseTensor> parameters, CaseOutputs reference, double momentum, double epsilon)
    {
        Name = name;
        _root = root;
        Width = width;
        Config = config;
        InputShape = inputShape;
        Input = input;
        Labels = labels;
        Parameters = parameters;
        Reference = reference;
        Momentum = momentum;
        Epsilon = epsilon;
    }

    /// <summary>The case's name.</summary>
    public string Name { get; }

    /// <summary>Width multiplier of the architecture.</summary>
    public double Width { get; }

    /// <summary>The configuration (channel counts, 0 for a pool).</summary>
    public ImmutableArray<int> Config { get; }

    /// <summary>Input shape [N, C, H, W].</summary>
    public ImmutableArray<int> InputShape { get; }

    /// <summary>Input values, NCHW.</summary>
    public float[] Input { get; }

    /// <summary>Class labels, one per sample.</summary>
    public int[] Labels { get; }

    /// <summary>Parameters and running statistics before the pass, by PyTorch name.</summary>
    public IReadOnlyDictionary<string, CaseTensor> Parameters { get; }

    /// <summary>The recorded outputs.</summary>
    public CaseOutputs Reference { get; }

    /// <summary>BN momentum of the case.</summary>
    public double Momentum { get; }

    /// <summary>BN ε of the case.</summary>
    public double Epsilon { get; }

    /// <summary>The architecture the case describes.</summary>
    public ModelSpec Spec => Vgg.Spec(
        Width, Reference.TrainLogits.Length / Labels.Length, new ImageShape(InputShape[1], InputShape[2], InputShape[3]), Config, momentum: Momentum, epsilon: Epsilon);

    /// <summary>Reads a case file; a malformed one fails with an <see cref="InvalidDataException"/> naming the field.</summary>
    public static ModelCase Load(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"check-model: no case file '{path}'.", path);
        }

        JsonObject root;
        try
        {
            root = JsonNode.Parse(File.ReadAllText(path))?.AsObject() ?? throw new InvalidDataException($"{path}: the file holds no JSON object.");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: not valid JSON ({e.Message}).", e);
        }

        try
        {
            var arch = Field(root, "architecture").AsObject();
            var config = Field(arch, "config").AsArray().Select(static e => e!.GetValueKind() == JsonValueKind.String
                ? (e.GetValue<string>() == "M" ? 0 : throw new InvalidDataException($"architecture.config: expected a channel count or \"M\", got \"{e.GetValue<string>()}\"."))
                : e.GetValue<int>()).ToImmutableArray();
            double width = Field(arch, "width").GetValue<double>();
            var bn = arch["batch_norm"];
            double momentum = bn?["momentum"]?.GetValue<double>() ?? 0.1, eps = bn?["eps"]?.GetValue<double>() ?? 1e-5;
            var conv = arch["conv"];
            if (conv is not null && (conv["kernel"]?.GetValue<int>() ?? 3, conv["padding"]?.GetValue<int>() ?? 1, conv["stride"]?.GetValue<int>() ?? 1) != (3, 1, 1))
            {
                throw new InvalidDataException($"architecture.conv: only 3×3 convolutions with padding 1 and stride 1 (VGG's) are supported, got {conv.ToJsonString()}.");
            }

            var input = Tensor(Field(root, "input"), "input");
            if (input.Shape.Length != 4)
            {
                throw new InvalidDataException($"input.shape: expected [N, C, H, W], got [{string.Join(", ", input.Shape)}].");
            }

            int[] labels = [.. Field(root, "labels").AsArray().Select(static e => e!.GetValue<int>())];
            if (labels.Length != input.Shape[0])
            {
                throw new InvalidDataException($"labels: expected {input.Shape[0]} (one per sample), got {labels.Length}.");
            }

            var parameters = Field(root, "parameters").AsObject().ToDictionary(static p => p.Key, p => Tensor(p.Value!, "parameters." + p.Key), StringComparer.Ordinal);
            var train = Field(root, "train").AsObject();
            var reference = new CaseOutputs(
                Values(Field(train, "logits"), "train.logits"),
                Field(train, "loss").GetValue<double>(),
                Field(train, "gradients").AsObject().ToDictionary(static p => p.Key, p => Values(p.Value!, "train.gradients." + p.Key), StringComparer.Ordinal),
                Field(train, "running_after").AsObject().ToDictionary(static p => p.Key, p => Values(p.Value!, "train.running_after." + p.Key), StringComparer.Ordinal),
                Values(Field(Field(root, "eval").AsObject(), "logits"), "eval.logits"));
            string name = root["name"]?.GetValue<string>() ?? Path.GetFileNameWithoutExtension(path);
            return new ModelCase(name, root, width, config, input.Shape, [.. input.Values.Select(static v => (float)v)], labels, parameters, reference, momentum, eps);
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException or KeyNotFoundException or ArgumentException)
        {
            throw new InvalidDataException($"{path}: {e.Message}", e);
        }
    }

    /// <summary>
    /// Builds the model in float32, loads the case's parameters and running statistics by PyTorch name, runs one
    /// training-mode forward and backward (mean cross-entropy) and one evaluation-mode forward.
    /// </summary>
    /// <param name="threads">Threads of the GEMM.</param>
    /// <param name="spec">The model to run; null for <see cref="Spec"/> (tests pass variants).</param>
    public CaseOutputs Run(int threads = 1, ModelSpec? spec = null)
    {
        spec ??= Spec;
        var torchNames = Vgg.TorchNames(spec);
        using var model = spec.Build<float>(threads);
        using var arena = new ParameterArena();
        model.Register(arena);
        arena.Build();
        model.Initialize(0);
        foreach (var slot in model.Parameters)
        {
            Load(TorchName(torchNames, slot.Name), arena.Param(slot), slot.Shape);
        }

        foreach (var buffer in model.Buffers)
        {
            string torch = TorchName(torchNames, buffer.Name);
            Load(torch, buffer.Span, [buffer.Values.Length]);
        }

        int batch = Labels.Length, classes = model.OutputFeatures;
        arena.ZeroGrads();
        float[] logits = model.Forward(Input, batch, training: true).ToArray();
        float[] dLogits = new float[logits.Length];
        double loss = new SoftmaxCrossEntropy().Evaluate<float>(logits, Labels, classes, dLogits);
        model.Backward(dLogits);
        var gradients = model.Parameters.ToDictionary(s => torchNames[s.Name], s => ToDouble(arena.Grad(s)), StringComparer.Ordinal);
        var running = model.Buffers.ToDictionary(b => torchNames[b.Name], static b => ToDouble(b.Span), StringComparer.Ordinal);
        float[] eval = model.Forward(Input, batch, training: false).ToArray();
        return new CaseOutputs(ToDouble(logits), loss, gradients, running, ToDouble(eval));
    }

    /// <summary>Compares <paramref name="ours"/> with the reference, tensor by tensor.</summary>
    public ModelCaseReport Check(CaseOutputs ours)
    {
        ArgumentNullException.ThrowIfNull(ours);
        var rows = ImmutableArray.CreateBuilder<CaseTensorCheck>();
        rows.Add(Compare("train.logits", string.Empty, ours.TrainLogits, Reference.TrainLogits));
        rows.Add(Compare("train.loss", string.Empty, [ours.TrainLoss], [Reference.TrainLoss]));
        foreach (var (name, values) in Reference.Gradients)
        {
            rows.Add(Compare("train.gradients", name, ours.Gradients.TryGetValue(name, out var g) ? g : null, values));
        }

        foreach (var (name, values) in Reference.RunningAfter)
        {
            rows.Add(Compare("train.running_after", name, ours.RunningAfter.TryGetValue(name, out var r) ? r : null, values));
        }

        rows.Add(Compare("eval.logits", string.Empty, ours.EvalLogits, Reference.EvalLogits));
        return new ModelCaseReport(Name, rows.ToImmutable());
    }

    /// <summary>Writes the case with its outputs replaced by <paramref name="ours"/>, in the same format and field names.</summary>
    public void Write(CaseOutputs ours, string path)
    {
        ArgumentNullException.ThrowIfNull(ours);
        var root = _root.DeepClone().AsObject();
        root["reference"] = "FusedOpt float32 runtime (fusedopt check-model --out)";
        var train = root["train"]!.AsObject();
        train["logits"] = Array(ours.TrainLogits);
        train["loss"] = ours.TrainLoss;
        train["gradients"] = Map(ours.Gradients);
        train["running_after"] = Map(ours.RunningAfter);
        root["eval"]!.AsObject()["logits"] = Array(ours.EvalLogits);
        File.WriteAllText(path, root.ToJsonString());

        static JsonArray Array(double[] values) => new([.. values.Select(static v => (JsonNode)JsonValue.Create(v))]);
        static JsonObject Map(IReadOnlyDictionary<string, double[]> tensors) => new(tensors.Select(static t => KeyValuePair.Create(t.Key, (JsonNode?)Array(t.Value))));
    }

    private static CaseTensorCheck Compare(string field, string name, double[]? ours, double[] reference)
    {
        double maxRef = reference.Length == 0 ? 0 : reference.Max(Math.Abs);
        double tolerance = (RelativeTolerance * maxRef) + AbsoluteTolerance;
        if (ours is null || ours.Length != reference.Length)
        {
            return new CaseTensorCheck(field, name, reference.Length, double.PositiveInfinity, maxRef, tolerance);
        }

        double worst = 0;
        for (int i = 0; i < ours.Length; i++)
        {
            double d = Math.Abs(ours[i] - reference[i]);
            worst = double.IsNaN(d) ? double.PositiveInfinity : Math.Max(worst, d);
        }

        return new CaseTensorCheck(field, name, reference.Length, worst, maxRef, tolerance);
    }

    private void Load(string torchName, Span<float> target, IReadOnlyList<int> shape)
    {
        if (!Parameters.TryGetValue(torchName, out var tensor))
        {
            throw new InvalidDataException($"case '{Name}': the model needs parameter '{torchName}' [{string.Join(", ", shape)}] but the case has none.");
        }

        if (!tensor.Shape.SequenceEqual(shape) || tensor.Values.Length != target.Length)
        {
            throw new InvalidDataException($"case '{Name}': parameter '{torchName}' has shape [{string.Join(", ", tensor.Shape)}] but the model expects [{string.Join(", ", shape)}].");
        }

        for (int i = 0; i < target.Length; i++)
        {
            target[i] = (float)tensor.Values[i];
        }
    }

    private static string TorchName(IReadOnlyDictionary<string, string> names, string ours) =>
        names.TryGetValue(ours, out var torch) ? torch : throw new InvalidDataException($"No PyTorch name for tensor '{ours}'.");

    private static double[] ToDouble(ReadOnlySpan<float> values)
    {
        double[] result = new double[values.Length];
        for (int i = 0; i < values.Length; i++)
        {
            result[i] = values[i];
        }

        return result;
    }

    private static JsonNode Field(JsonNode parent, string name) =>
        parent[name] ?? throw new InvalidDataException($"missing field '{name}'.");

    private static CaseTensor Tensor(JsonNode node, string where)
    {
        var shape = Field(node, "shape").AsArray().Select(static e => e!.GetValue<int>()).ToImmutableArray();
        double[] values = Values(Field(node, "values"), where + ".values");
        long expected = shape.Aggregate(1L, static (a, d) => a * d);
        return values.Length == expected
            ? new CaseTensor(shape, values)
            : throw new InvalidDataException($"{where}: shape [{string.Join(", ", shape)}] needs {expected.ToString(CultureInfo.InvariantCulture)} values, got {values.Length}.");
    }

    private static double[] Values(JsonNode node, string where) =>
        node is JsonArray array
            ? [.. array.Select(e => e?.GetValue<double>() ?? throw new InvalidDataException($"{where}: null value."))]
            : throw new InvalidDataException($"{where}: expected an array of numbers.");
}

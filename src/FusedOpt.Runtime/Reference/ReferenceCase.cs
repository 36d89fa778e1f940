using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json;
using FusedOpt.Kernels;
using FusedOpt.Memory;
using FusedOpt.Storage;

namespace FusedOpt.Reference;

/// <summary>A reference case that cannot be read: bad JSON, a missing field, an unknown optimizer or hyperparameter.</summary>
internal sealed class ReferenceFormatException : FormatException
{
    /// <summary>Creates the exception.</summary>
    public ReferenceFormatException(string message, Exception? inner = null)
        : base(message, inner)
    {
    }
}

/// <summary>
/// A trajectory recorded from PyTorch (format of <c>shared/reference/optimizers/*.json</c>): an optimizer with its
/// constructor arguments, the initial parameters, one gradient per step and the parameters after each step.
/// </summary>
internal sealed record ReferenceCase(
    string Name,
    string Source,
    string TorchOptimizer,
    IReadOnlyDictionary<string, double> Hyperparameters,
    float[] Initial,
    float[][] Gradients,
    float[][] Expected)
{
    /// <summary>The tolerance of the reference README: max |ours − expected| / (|expected| + 1e-3).</summary>
    public const double Tolerance = 1e-4;

    /// <summary>
    /// With compressed states, the share of the distance an element has travelled that its replayed value may be off
    /// by, beyond <see cref="Tolerance"/>: <c>|ours − expected| ≤ Tolerance·(|expected| + ErrorFloor) + κ·d</c>, d the
    /// path length of the element in PyTorch's trajectory so far (Σ |x_t − x_{t−1}|). PyTorch keeps states in float32,
    /// so the fp32 bound cannot hold; the error a stored state adds to each update is proportional to that update,
    /// which is what d sums. κ is 8 times the relative error of one store (allowance for it compounding through up to
    /// two states over the steps): bf16 stores within 2⁻⁹ (nearest) or 2⁻⁸ (stochastic) of the value, so κ = 2⁻⁵; q8
    /// stores a value within a decade of its block's absmax within about 2⁻⁴, so κ = 2⁻¹ — and a value far below its
    /// block's absmax not at all (it becomes 0; see docs/compressed-states.md), which no κ covers. fp32: 0 (the
    /// reference README's tolerance alone, never loosened).
    /// </summary>
    public static double DistanceTolerance(StateStorage storage) => storage switch
    {
        StateStorage.Fp32 => 0,
        StateStorage.Bf16 => 1.0 / 32,
        StateStorage.Q8 => 1.0 / 2,
        _ => throw new ArgumentOutOfRangeException(nameof(storage), storage, $"Unknown state storage {(int)storage}; expected {StateStorages.Accepted}."),
    };

    /// <summary>The denominator offset of the relative error.</summary>
    public const double ErrorFloor = 1e-3;

    /// <summary>Reads a case; every problem is reported with the file and the field.</summary>
    public static ReferenceCase Load(string path)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (IOException e)
        {
            throw new ReferenceFormatException($"{path}: cannot read the file: {e.Message}", e);
        }

        return Parse(text, path);
    }

    /// <summary>Parses a case from JSON text; <paramref name="source"/> names it in errors.</summary>
    public static ReferenceCase Parse(string json, string source)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json);
        }
        catch (JsonException e)
        {
            throw new ReferenceFormatException($"{source}: not valid JSON (line {e.LineNumber + 1}, byte {e.BytePositionInLine}): {e.Message}", e);
        }

        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw new ReferenceFormatException($"{source}: expected a JSON object at the top level, got {root.ValueKind}.");
            }

            // The name is shown in tables and messages, never used as a path (replay --out names outputs after the
            // input files); control characters, which could drive the terminal, are refused.
            string name = root.TryGetProperty("name", out var n) && n.ValueKind == JsonValueKind.String ? n.GetString()! : Path.GetFileNameWithoutExtension(source);
            if (name.Any(char.IsControl))
            {
                throw new ReferenceFormatException($"{source}: field 'name' contains control characters.");
            }

            string torch = RequireString(root, "torch_optimizer", source);
            var hyper = new Dictionary<string, double>(StringComparer.Ordinal);
            if (root.TryGetProperty("hyperparameters", out var h))
            {
                if (h.ValueKind != JsonValueKind.Object)
                {
                    throw new ReferenceFormatException($"{source}: field 'hyperparameters' must be an object, got {h.ValueKind}.");
                }

                foreach (var p in h.EnumerateObject())
                {
                    switch (p.Value.ValueKind)
                    {
                        case JsonValueKind.Number:
                            hyper[p.Name] = p.Value.GetDouble();
                            break;
                        case JsonValueKind.True or JsonValueKind.False:
                            hyper[p.Name] = p.Value.GetBoolean() ? 1 : 0;
                            break;
                        case JsonValueKind.Array:
                            // "betas": [b1, b2] → beta1, beta2.
                            string stem = p.Name.EndsWith('s') ? p.Name[..^1] : p.Name;
                            int i = 1;
                            foreach (var item in p.Value.EnumerateArray())
                            {
                                if (item.ValueKind != JsonValueKind.Number)
                                {
                                    throw new ReferenceFormatException($"{source}: field 'hyperparameters.{p.Name}[{i - 1}]' must be a number, got {item.ValueKind}.");
                                }

                                hyper[stem + i++] = item.GetDouble();
                            }

                            break;
                        default:
                            throw new ReferenceFormatException($"{source}: field 'hyperparameters.{p.Name}' must be a number, a bool or an array of numbers, got {p.Value.ValueKind}.");
                    }
                }
            }

            var initial = Vector(root, "initial", source);
            if (initial.Length == 0)
            {
                throw new ReferenceFormatException($"{source}: field 'initial' is empty; a case needs at least one parameter.");
            }

            var gradients = Matrix(root, "gradients", source, initial.Length);
            var expected = Matrix(root, "expected", source, initial.Length);
            if (gradients.Length != expected.Length)
            {
                throw new ReferenceFormatException($"{source}: 'gradients' has {gradients.Length} steps but 'expected' has {expected.Length}.");
            }

            if (gradients.Length == 0)
            {
                throw new ReferenceFormatException($"{source}: field 'gradients' is empty; a case needs at least one step to check.");
            }

            return new ReferenceCase(name, source, torch, hyper, initial, gradients, expected);
        }
    }

    /// <summary>Finds the declaration reproducing <see cref="TorchOptimizer"/> and builds the rule with these hyperparameters.</summary>
    public IOptimizerRule CreateRule()
    {
        var descriptor = OptimizerCatalog.All.FirstOrDefault(d => string.Equals(d.Torch, TorchOptimizer, StringComparison.OrdinalIgnoreCase))
            ?? throw new ReferenceFormatException(
                $"{Source}: field 'torch_optimizer' is '{TorchOptimizer}', which no declaration reproduces. Known: {string.Join(", ", OptimizerCatalog.All.Where(static d => d.Torch is not null).Select(static d => d.Torch))}.");
        var values = descriptor.Hyperparameters.Select(static x => x.Default).ToArray();
        foreach (var (key, value) in Hyperparameters)
        {
            int i = descriptor.IndexOfHyperparameter(key);
            if (i < 0)
            {
                throw new ReferenceFormatException(
                    $"{Source}: field 'hyperparameters.{key}' is not a hyperparameter of {descriptor.Name}; known: {string.Join(", ", descriptor.Hyperparameters.Select(static x => x.SnakeName))}.");
            }

            values[i] = value;
        }

        try
        {
            // Creation converts each value to its declared type (0.5 is not a bool) and validates the record.
            var rule = descriptor.Create(values);
            rule.Validate();
            return rule;
        }
        catch (HyperparameterException e)
        {
            throw new ReferenceFormatException($"{Source}: {e.Message}", e);
        }
    }

    /// <summary>
    /// Replays the trajectory with <paramref name="options"/> and returns the parameters after every step and the
    /// largest relative error against <see cref="Expected"/>.
    /// </summary>
    public ReplayResult Replay(OptimizerOptions? options = null, IOptimizerRule? rule = null)
    {
        rule ??= CreateRule();
        using var arena = new ParameterArena();
        var tensor = arena.Add("x", Initial.Length);
        arena.Build();
        Initial.CopyTo(arena.Param(tensor));
        using var optimizer = new Optimizer(arena, rule, options);
        var trajectory = new float[Gradients.Length][];
        for (int s = 0; s < Gradients.Length; s++)
        {
            Gradients[s].CopyTo(arena.Grad(tensor));
            optimizer.Step();
            trajectory[s] = arena.Param(tensor).ToArray();
        }

        return Score(optimizer.Descriptor.Name, optimizer.Isa, trajectory, optimizer.Options.StateStorage);
    }

    /// <summary>
    /// Compares a replayed trajectory (parameters after each step) with <see cref="Expected"/>: the largest relative
    /// error, and with compressed <paramref name="storage"/> the largest ratio of an error to its bound
    /// (<see cref="DistanceTolerance"/>); the worst step and element are those of the check that decides.
    /// </summary>
    internal ReplayResult Score(string optimizer, Isa isa, float[][] trajectory, StateStorage storage = StateStorage.Fp32)
    {
        double kappa = DistanceTolerance(storage);
        bool compressed = storage != StateStorage.Fp32;
        double maxError = 0, maxRatio = 0;
        int worstStep = -1, worstIndex = -1;
        var distance = new double[Initial.Length];
        for (int s = 0; s < trajectory.Length; s++)
        {
            var previous = s == 0 ? Initial : Expected[s - 1];
            for (int i = 0; i < Initial.Length; i++)
            {
                double expected = Expected[s][i];
                distance[i] += Math.Abs(expected - previous[i]);
                double difference = Math.Abs(trajectory[s][i] - expected);
                double error = difference / (Math.Abs(expected) + ErrorFloor);
                double ratio = difference / ((Tolerance * (Math.Abs(expected) + ErrorFloor)) + (kappa * distance[i]));
                bool worse = compressed ? !(ratio <= maxRatio) : !(error <= maxError);
                if (!(error <= maxError))
                {
                    maxError = double.IsNaN(error) ? double.PositiveInfinity : error;
                }

                if (!(ratio <= maxRatio))
                {
                    maxRatio = double.IsNaN(ratio) ? double.PositiveInfinity : ratio;
                }

                if (worse)
                {
                    worstStep = s;
                    worstIndex = i;
                }
            }
        }

        return new ReplayResult(this, optimizer, isa, trajectory, maxError, worstStep, worstIndex)
        {
            Storage = storage,
            BoundRatio = compressed ? maxRatio : null,
        };
    }

    /// <summary>The path length of element <paramref name="index"/> in PyTorch's trajectory up to step <paramref name="step"/> (0-based).</summary>
    internal double Distance(int step, int index)
    {
        double d = 0;
        for (int s = 0; s <= step; s++)
        {
            d += Math.Abs(Expected[s][index] - (s == 0 ? Initial : Expected[s - 1])[index]);
        }

        return d;
    }

    private static string RequireString(JsonElement root, string field, string source) =>
        root.TryGetProperty(field, out var v) && v.ValueKind == JsonValueKind.String
            ? v.GetString()!
            : throw new ReferenceFormatException($"{source}: field '{field}' is missing or not a string.");

    private static float[] Vector(JsonElement root, string field, string source)
    {
        if (!root.TryGetProperty(field, out var v) || v.ValueKind != JsonValueKind.Array)
        {
            throw new ReferenceFormatException($"{source}: field '{field}' is missing or not an array.");
        }

        return ReadFloats(v, field, source);
    }

    private static float[] ReadFloats(JsonElement array, string field, string source)
    {
        var result = new float[array.GetArrayLength()];
        int i = 0;
        foreach (var item in array.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.Number)
            {
                throw new ReferenceFormatException($"{source}: field '{field}[{i}]' must be a number, got {item.ValueKind}.");
            }

            result[i++] = (float)item.GetDouble();
        }

        return result;
    }

    private static float[][] Matrix(JsonElement root, string field, string source, int width)
    {
        if (!root.TryGetProperty(field, out var v) || v.ValueKind != JsonValueKind.Array)
        {
            throw new ReferenceFormatException($"{source}: field '{field}' is missing or not an array.");
        }

        var rows = new List<float[]>();
        int r = 0;
        foreach (var row in v.EnumerateArray())
        {
            if (row.ValueKind != JsonValueKind.Array)
            {
                throw new ReferenceFormatException($"{source}: field '{field}[{r}]' must be an array, got {row.ValueKind}.");
            }

            var values = ReadFloats(row, $"{field}[{r}]", source);
            if (values.Length != width)
            {
                throw new ReferenceFormatException($"{source}: field '{field}[{r}]' has {values.Length} values but 'initial' has {width}.");
            }

            rows.Add(values);
            r++;
        }

        return [.. rows];
    }
}

/// <summary>The outcome of <see cref="ReferenceCase.Replay"/>.</summary>
/// <param name="Case">The case.</param>
/// <param name="Optimizer">The declaration that replayed it.</param>
/// <param name="Isa">The instruction set used.</param>
/// <param name="Trajectory">Parameters after each step.</param>
/// <param name="MaxRelativeError">max |ours − expected| / (|expected| + 1e-3) over all steps and elements.</param>
/// <param name="WorstStep">Step of the largest error (0-based), or −1.</param>
/// <param name="WorstIndex">Element of the largest error, or −1.</param>
internal sealed record ReplayResult(ReferenceCase Case, string Optimizer, Isa Isa, float[][] Trajectory, double MaxRelativeError, int WorstStep, int WorstIndex)
{
    /// <summary>Where the steps ran: <c>cpu</c> for the host path, else the device name.</summary>
    public string Device { get; init; } = "cpu";

    /// <summary>How the replay's optimizer stored its states.</summary>
    public StateStorage Storage { get; init; } = StateStorage.Fp32;

    /// <summary>
    /// With compressed states: the largest |ours − expected| over its bound (<see cref="ReferenceCase.DistanceTolerance"/>),
    /// ≤ 1 to pass; null with fp32 states.
    /// </summary>
    public double? BoundRatio { get; init; }

    /// <summary>
    /// True when the error is within <see cref="ReferenceCase.Tolerance"/> (fp32 states), or within the bound of the
    /// storage (<see cref="BoundRatio"/> ≤ 1).
    /// </summary>
    public bool Passed => BoundRatio is { } ratio ? ratio <= 1 : MaxRelativeError <= ReferenceCase.Tolerance;

    /// <summary>Evidence for a failure: the worst element with expected and actual values.</summary>
    public string Describe()
    {
        if (WorstStep < 0)
        {
            return BoundRatio is { } r ? $"{Case.Name}: error / bound {r:E3}" : $"{Case.Name}: max relative error {MaxRelativeError:E3}";
        }

        string where = $"at step {WorstStep + 1}, element {WorstIndex}: expected {Case.Expected[WorstStep][WorstIndex]:R}, got {Trajectory[WorstStep][WorstIndex]:R} (initial {Case.Initial[WorstIndex]:R}, gradient {Case.Gradients[WorstStep][WorstIndex]:R})";
        if (BoundRatio is { } ratio)
        {
            double kappa = ReferenceCase.DistanceTolerance(Storage);
            return $"{Case.Name}: error {ratio:G3}× its bound {ReferenceCase.Tolerance:0e0}·(|x| + {ReferenceCase.ErrorFloor:0e0}) + {kappa:G4}·(distance travelled {Case.Distance(WorstStep, WorstIndex):G3}) {where}";
        }

        return $"{Case.Name}: max relative error {MaxRelativeError:E3} {where}";
    }
}

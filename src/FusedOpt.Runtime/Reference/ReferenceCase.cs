using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json;
using FusedOpt.Kernels;
using FusedOpt.Memory;

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
    /// The tolerance of a replay whose optimizer stores its states as <paramref name="storage"/>: <see cref="Tolerance"/>
    /// for fp32 (the reference README's, never loosened). Compressed states cannot meet it — PyTorch keeps them in
    /// float32 — so bf16 and q8 are held to bounds of their own, stated here and printed by <c>fusedopt replay</c>: bf16
    /// keeps 8 significant bits (a stored value within 2⁻⁸ of itself), and 12 steps of such rounding on two states
    /// move the parameters by up to about 1% of their (|x| + 10⁻³) scale; q8's code gaps reach 2⁻⁴ of a block's
    /// absmax near 1 and far more below it, and a state far below its block's absmax is stored as 0.
    /// </summary>
    public static double ToleranceFor(Storage.StateStorage storage) => storage switch
    {
        Storage.StateStorage.Fp32 => Tolerance,
        Storage.StateStorage.Bf16 => Bf16Tolerance,
        Storage.StateStorage.Q8 => Q8Tolerance,
        _ => throw new ArgumentOutOfRangeException(nameof(storage), storage, $"Unknown state storage {(int)storage}; expected {Storage.StateStorages.Accepted}."),
    };

    /// <summary>The replay tolerance with bf16 states (see <see cref="ToleranceFor"/>).</summary>
    public const double Bf16Tolerance = 1e-2;

    /// <summary>The replay tolerance with q8 states (see <see cref="ToleranceFor"/>).</summary>
    public const double Q8Tolerance = 1e-1;

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

        return Score(optimizer.Descriptor.Name, optimizer.Isa, trajectory) with { Tolerance = ToleranceFor(optimizer.Options.StateStorage) };
    }

    /// <summary>Compares a replayed trajectory (parameters after each step) with <see cref="Expected"/>.</summary>
    internal ReplayResult Score(string optimizer, Isa isa, float[][] trajectory)
    {
        double maxError = 0;
        int worstStep = -1, worstIndex = -1;
        for (int s = 0; s < trajectory.Length; s++)
        {
            for (int i = 0; i < Initial.Length; i++)
            {
                double expected = Expected[s][i];
                double error = Math.Abs(trajectory[s][i] - expected) / (Math.Abs(expected) + ErrorFloor);
                if (!(error <= maxError))
                {
                    maxError = double.IsNaN(error) ? double.PositiveInfinity : error;
                    worstStep = s;
                    worstIndex = i;
                }
            }
        }

        return new ReplayResult(this, optimizer, isa, trajectory, maxError, worstStep, worstIndex);
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

    /// <summary>The bound on <see cref="MaxRelativeError"/>: <see cref="ReferenceCase.Tolerance"/>, or <see cref="ReferenceCase.ToleranceFor"/> the replay's state storage.</summary>
    public double Tolerance { get; init; } = ReferenceCase.Tolerance;

    /// <summary>True when the error is within <see cref="Tolerance"/>.</summary>
    public bool Passed => MaxRelativeError <= Tolerance;

    /// <summary>Evidence for a failure: the worst element with expected and actual values.</summary>
    public string Describe() => WorstStep < 0
        ? $"{Case.Name}: max relative error {MaxRelativeError:E3}"
        : $"{Case.Name}: max relative error {MaxRelativeError:E3} at step {WorstStep + 1}, element {WorstIndex}: expected {Case.Expected[WorstStep][WorstIndex]:R}, got {Trajectory[WorstStep][WorstIndex]:R} (initial {Case.Initial[WorstIndex]:R}, gradient {Case.Gradients[WorstStep][WorstIndex]:R})";
}

using System;
using System.Collections.Generic;
using FusedOpt.Kernels;

namespace FusedOpt;

/// <summary>
/// What FusedOpt.Generator implements for every <see cref="OptimizerAttribute"/> record: metadata, validation,
/// the once-per-step prologue and the kernels. Users never implement it by hand; the runtime
/// (<see cref="Optimizer"/>) drives it.
/// </summary>
public interface IOptimizerRule
{
    /// <summary>Name, hyperparameters, states and kernel facts of the declaration.</summary>
    OptimizerDescriptor Descriptor { get; }

    /// <summary>
    /// Checks every hyperparameter against its declared range and every <see cref="ConstraintAttribute"/>;
    /// throws <see cref="HyperparameterException"/> naming the optimizer, the hyperparameter and the value.
    /// </summary>
    void Validate();

    /// <summary>The hyperparameter values in declaration order (bools as 0/1).</summary>
    double[] GetHyperparameters();

    /// <summary>
    /// True when per-element state <paramref name="state"/> is used with these hyperparameters (Adam's
    /// <c>vMax</c> only with <c>Amsgrad</c>); an unused state is never allocated nor touched.
    /// </summary>
    bool IsStateNeeded(int state);

    /// <summary>
    /// The once-per-step prologue, in float64: updates the per-step states, writes the step-invariant scalars and
    /// returns the kernel's switch bits (bit 0 is the runtime's <c>GradScale</c> switch and is left clear).
    /// </summary>
    /// <param name="t">The step being taken, 1 for the first.</param>
    /// <param name="stepState">The per-step (<c>ref double</c>) states, updated in place.</param>
    /// <param name="scalars">Receives <see cref="OptimizerDescriptor.ScalarCount"/> floats.</param>
    int Prepare(long t, Span<double> stepState, Span<float> scalars);

    /// <summary>Runs the fused kernel on elements [<paramref name="start"/>, <paramref name="end"/>).</summary>
    void RunFused(Isa isa, int flags, ref readonly StepFrame frame, nint start, nint end);

    /// <summary>Runs the naive multi-pass step (one pass and one temporary per tensor operation) on the range.</summary>
    void RunNaive(int flags, ref readonly StepFrame frame, nint start, nint end, NaiveScratch scratch);

    /// <summary>The rule as an ILGPU kernel, or null when it needs more step scalars than <see cref="Gpu.GpuArgs"/> carries.</summary>
    Gpu.GpuKernelMethod? GpuKernel { get; }
}

/// <summary>Kinds of hyperparameter.</summary>
public enum HyperparameterKind
{
    /// <summary>float32.</summary>
    Float,

    /// <summary>float64.</summary>
    Double,

    /// <summary>int32.</summary>
    Int,

    /// <summary>A switch; selects a specialised kernel.</summary>
    Bool,
}

/// <summary>One hyperparameter of a declaration.</summary>
/// <param name="Name">Name as declared (PascalCase), e.g. <c>WeightDecay</c>.</param>
/// <param name="Kind">Type.</param>
/// <param name="Default">Default value (bools as 0/1).</param>
/// <param name="Min">Lower bound, or −∞.</param>
/// <param name="Max">Upper bound, or +∞.</param>
/// <param name="MinOpen">True when <paramref name="Min"/> itself is excluded.</param>
/// <param name="MaxOpen">True when <paramref name="Max"/> itself is excluded.</param>
public sealed record HyperparameterInfo(string Name, HyperparameterKind Kind, double Default, double Min, double Max, bool MinOpen, bool MaxOpen)
{
    /// <summary>The PyTorch-style name: <c>WeightDecay</c> → <c>weight_decay</c>, <c>Beta1</c> → <c>beta1</c>.</summary>
    public string SnakeName => Naming.ToSnakeCase(Name);

    /// <summary>The range as text, e.g. <c>[0, 1)</c>, or empty when unbounded.</summary>
    public string RangeText =>
        double.IsNegativeInfinity(Min) && double.IsPositiveInfinity(Max) ? ""
        : $"{(MinOpen ? "(" : "[")}{Format(Min)}, {Format(Max)}{(MaxOpen ? ")" : "]")}";

    /// <summary>True when <paramref name="value"/> is inside the range (NaN never is).</summary>
    public bool Contains(double value) =>
        !double.IsNaN(value) && (MinOpen ? value > Min : value >= Min) && (MaxOpen ? value < Max : value <= Max);

    /// <summary>Formats a value of this hyperparameter for messages and tables.</summary>
    public string FormatValue(double value) => Kind switch
    {
        HyperparameterKind.Bool => value != 0 ? "true" : "false",
        HyperparameterKind.Int => ((long)value).ToString(System.Globalization.CultureInfo.InvariantCulture),
        HyperparameterKind.Float => ((float)value).ToString("R", System.Globalization.CultureInfo.InvariantCulture).Replace("E", "e", StringComparison.Ordinal),
        _ => Format(value),
    };

    private static string Format(double v) =>
        double.IsPositiveInfinity(v) ? "∞" : double.IsNegativeInfinity(v) ? "-∞" : v.ToString("R", System.Globalization.CultureInfo.InvariantCulture);
}

/// <summary>A per-element state buffer of a declaration.</summary>
/// <param name="Name">Name as declared, e.g. <c>m</c>.</param>
/// <param name="InitialValue">Starting value when <paramref name="InitialFrom"/> is null.</param>
/// <param name="InitialFrom">Hyperparameter whose value the state starts at, if any.</param>
/// <param name="IsRead">True when the rule reads the state's previous value.</param>
/// <param name="IsWritten">True when the rule writes it.</param>
public sealed record StateInfo(string Name, double InitialValue, string? InitialFrom, bool IsRead, bool IsWritten);

/// <summary>A per-step (<c>ref double</c>) state, e.g. NAdam's running product of momentum coefficients.</summary>
/// <param name="Name">Name as declared.</param>
/// <param name="InitialValue">Starting value.</param>
public sealed record StepStateInfo(string Name, double InitialValue);

/// <summary>Everything the runtime and the CLI know about a declaration.</summary>
public sealed record OptimizerDescriptor
{
    /// <summary>Catalogue name, e.g. <c>adam</c>.</summary>
    public required string Name { get; init; }

    /// <summary>Full name of the declaring record.</summary>
    public required string TypeName { get; init; }

    /// <summary>The <c>torch.optim</c> class it reproduces, if any.</summary>
    public string? Torch { get; init; }

    /// <summary>One-line description.</summary>
    public string? Summary { get; init; }

    /// <summary>Hyperparameters in declaration order.</summary>
    public required IReadOnlyList<HyperparameterInfo> Hyperparameters { get; init; }

    /// <summary>Per-element states in declaration order.</summary>
    public required IReadOnlyList<StateInfo> States { get; init; }

    /// <summary>Per-step states in declaration order.</summary>
    public required IReadOnlyList<StepStateInfo> StepStates { get; init; }

    /// <summary>Number of step-invariant scalars <see cref="IOptimizerRule.Prepare"/> writes.</summary>
    public required int ScalarCount { get; init; }

    /// <summary>Descriptions of the switch bits (bit i+1), e.g. <c>WeightDecay != 0</c>.</summary>
    public required IReadOnlyList<string> Switches { get; init; }

    /// <summary>Temporaries the naive multi-pass step needs.</summary>
    public required int NaiveTemporaries { get; init; }

    /// <summary>Number of tensor operations (memory passes) of the naive step with every switch on.</summary>
    public required int NaivePasses { get; init; }

    /// <summary>True when the rule reads the parameter.</summary>
    public required bool ReadsParameter { get; init; }

    /// <summary>True when the fused kernels are vectorised; false when the rule forced a scalar fallback.</summary>
    public required bool IsVectorized { get; init; }

    /// <summary>Operations per element of the element loop with every switch on (what bounds a cache-resident step).</summary>
    public required ElementOperations ElementOperations { get; init; }

    /// <summary>Creates a rule from hyperparameter values in declaration order (bools as 0/1).</summary>
    public required Func<IReadOnlyList<double>, IOptimizerRule> Create { get; init; }

    /// <summary>Creates a rule with every hyperparameter at its default.</summary>
    public IOptimizerRule CreateDefault()
    {
        var values = new double[Hyperparameters.Count];
        for (int i = 0; i < values.Length; i++)
        {
            values[i] = Hyperparameters[i].Default;
        }

        return Create(values);
    }

    /// <summary>Index of a hyperparameter by PascalCase or snake_case name (case-insensitive), or −1.</summary>
    public int IndexOfHyperparameter(string name)
    {
        for (int i = 0; i < Hyperparameters.Count; i++)
        {
            var h = Hyperparameters[i];
            if (string.Equals(h.Name, name, StringComparison.OrdinalIgnoreCase) || string.Equals(h.SnakeName, name, StringComparison.OrdinalIgnoreCase))
            {
                return i;
            }
        }

        return -1;
    }
}

/// <summary>Operations per element of a rule's element loop.</summary>
/// <param name="Add">Additions and subtractions.</param>
/// <param name="Mul">Multiplications.</param>
/// <param name="Div">Divisions.</param>
/// <param name="Sqrt">Square roots.</param>
/// <param name="Other">Max, min, abs, sign, negation, comparisons, selects, mask logic and transcendental functions.</param>
public sealed record ElementOperations(int Add, int Mul, int Div, int Sqrt, int Other)
{
    /// <inheritdoc />
    public override string ToString() => $"{Add} add, {Mul} mul, {Div} div, {Sqrt} sqrt, {Other} other";
}

/// <summary>A hyperparameter outside its range, or an invalid combination of hyperparameters.</summary>
public sealed class HyperparameterException : ArgumentException
{
    /// <summary>Creates the exception.</summary>
    public HyperparameterException(string message, string? hyperparameter = null)
        : base(message) => Hyperparameter = hyperparameter;

    /// <summary>The offending hyperparameter, when there is one.</summary>
    public string? Hyperparameter { get; }

    /// <summary>Throws the standard "must be in" error for <paramref name="info"/>.</summary>
    public static HyperparameterException OutOfRange(string optimizer, HyperparameterInfo info, double value) =>
        new($"{optimizer}: {info.Name} must be {Describe(info)}, got {info.FormatValue(value)}.", info.Name);

    private static string Describe(HyperparameterInfo info) =>
        (info.Min, info.Max, info.MinOpen, info.MaxOpen) switch
        {
            (double.NegativeInfinity, double.PositiveInfinity, _, _) => "a number",
            (0, double.PositiveInfinity, false, _) => "≥ 0",
            (0, double.PositiveInfinity, true, _) => "> 0",
            _ => "in " + info.RangeText,
        };
}

/// <summary>Name conversions shared by the CLI, the state files and the reference loader.</summary>
public static class Naming
{
    /// <summary><c>WeightDecay</c> → <c>weight_decay</c>; <c>Beta1</c> → <c>beta1</c>; <c>Lr</c> → <c>lr</c>.</summary>
    public static string ToSnakeCase(string name)
    {
        var sb = new System.Text.StringBuilder(name.Length + 4);
        for (int i = 0; i < name.Length; i++)
        {
            char c = name[i];
            if (char.IsUpper(c))
            {
                if (i > 0 && !char.IsUpper(name[i - 1]))
                {
                    sb.Append('_');
                }

                sb.Append(char.ToLowerInvariant(c));
            }
            else
            {
                sb.Append(c);
            }
        }

        return sb.ToString();
    }
}

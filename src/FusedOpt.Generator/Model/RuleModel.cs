using System.Collections.Generic;
using System.Linq;
using FusedOpt.Generator.Helpers;

namespace FusedOpt.Generator.Model;

/// <summary>A hyperparameter: a primary-constructor parameter of the record.</summary>
/// <param name="Name">Parameter (and property) name, e.g. <c>Beta1</c>.</param>
/// <param name="Type">float, double, int or bool.</param>
/// <param name="DefaultText">The default value as C# source (e.g. <c>0.9f</c>), or null when there is none.</param>
/// <param name="DefaultValue">The default as a double (bools 0/1).</param>
/// <param name="Min">Lower bound (−∞ if none).</param>
/// <param name="Max">Upper bound (+∞ if none).</param>
/// <param name="MinOpen">Lower bound excluded.</param>
/// <param name="MaxOpen">Upper bound excluded.</param>
/// <param name="UserProperty">True when the record declares the property itself (the generator then leaves it alone).</param>
internal sealed record HyperModel(string Name, ValueType Type, string? DefaultText, double DefaultValue, double Min, double Max, bool MinOpen, bool MaxOpen, bool UserProperty = false)
{
    public bool HasRange => !double.IsNegativeInfinity(Min) || !double.IsPositiveInfinity(Max);
}

/// <summary>A per-element state: a <c>ref float</c> parameter of the rule after <c>p</c>.</summary>
/// <param name="Name">Parameter name, e.g. <c>v</c>.</param>
/// <param name="InitialValue">Its value before the first step (<c>[InitialValue]</c>, 0 by default).</param>
/// <param name="InitialFrom">The hyperparameter it starts from (<c>[InitialFrom]</c>), or null.</param>
/// <param name="NonNegative">Declared <c>[NonNegative]</c>: the rule keeps it ≥ 0, so compressed storage may use an unsigned code.</param>
internal sealed record StateModel(string Name, double InitialValue, string? InitialFrom, bool NonNegative = false);

/// <summary>A per-step state: a <c>ref double</c> parameter of the rule.</summary>
internal sealed record StepStateModel(string Name, double InitialValue);

/// <summary>A <c>[Constraint]</c>: a C# condition over hyperparameters and its message.</summary>
internal sealed record ConstraintModel(string Condition, string Message);

/// <summary>
/// Everything the emitters need about one declaration: strings, numbers and equatable arrays only, so that an
/// unchanged declaration compares equal and its output is not regenerated. No locations: a comment added above
/// the record changes nothing here. Built by the analysis stage from a <see cref="ParsedRule"/>; the emitters only
/// read it (every fact they print, such as the naive pass count, is computed here, not while emitting).
/// </summary>
internal sealed record RuleModel(
    string Namespace,
    string TypeName,
    string Accessibility,
    string FileName,
    string OptimizerName,
    string? Torch,
    string? Summary,
    EquatableArray<HyperModel> Hypers,
    EquatableArray<StateModel> States,
    EquatableArray<StepStateModel> StepStates,
    string ParamName,
    string GradName,
    string? StepName,
    EquatableArray<ConstraintModel> Constraints,
    KernelPlan Plan,
    EquatableArray<UpdateArgument> Arguments,
    KernelFacts Facts,
    EquatableArray<BackendSupport> Backends)
{
    /// <summary>The namespace-qualified type name, e.g. <c>FusedOpt.Optimizers.Adam</c>.</summary>
    public string QualifiedTypeName => (Namespace.Length > 0 ? Namespace + "." : "") + TypeName;

    /// <summary>True when <paramref name="backend"/> gets a kernel (its limits hold for this rule).</summary>
    public bool Supports(BackendLimits backend) => Backends.All(b => b.Limits != backend || b.Supported);
}

/// <summary>Facts about the kernels that the descriptor and the file header print, computed by the analysis stage.</summary>
/// <param name="NaivePasses">Tensor operations (memory passes) of the naive step with every switch on.</param>
/// <param name="NaiveTemporaries">Temporary buffers the naive step needs.</param>
/// <param name="ElementOperations">Operations per element of the fused loop with every switch on.</param>
internal sealed record KernelFacts(int NaivePasses, int NaiveTemporaries, Analysis.OperationCounts ElementOperations);

/// <summary>What a kernel backend can carry; the analysis checks every rule against each backend in <see cref="Backends"/>.</summary>
/// <param name="Name">The backend, for messages.</param>
/// <param name="MaxScalars">Step-invariant scalars its kernel arguments carry.</param>
internal sealed record BackendLimits(string Name, int MaxScalars);

/// <summary>Whether the rule fits a backend's limits; a backend it does not fit gets no kernel (and a FOPT021 warning).</summary>
internal sealed record BackendSupport(BackendLimits Limits, bool Supported);

/// <summary>The backends with limits a rule may exceed. The CPU kernels (Vector512, Vector256, scalar, naive) have none.</summary>
internal static class Backends
{
    /// <summary>The ILGPU kernel: scalars travel in <c>GpuArgs</c> (S0 … S31).</summary>
    public static readonly BackendLimits Ilgpu = new("ILGPU", MaxScalars: 32);

    public static readonly IReadOnlyList<BackendLimits> Limited = [Ilgpu];

    /// <summary>
    /// The HLSL shaders: no limit on scalars (a constant buffer holds thousands), but one full shader text per switch
    /// combination, so at most <see cref="HlslMaxSwitches"/> switches (FOPT024 otherwise). Not in <see cref="Limited"/>:
    /// the analysis checks it on its own.
    /// </summary>
    public static readonly BackendLimits Hlsl = new("HLSL", MaxScalars: int.MaxValue);

    /// <summary>Switches a rule may have and still get HLSL shaders: 2^(5 + 1) = 64 combinations with the gradient-scale bit.</summary>
    public const int HlslMaxSwitches = 5;
}

/// <summary>
/// One parameter of <c>Update</c> in declaration order, for the reference path that calls it: <paramref name="Kind"/> is
/// Param, Grad, State (index into States), StepState (index into StepStates) or Step.
/// </summary>
internal sealed record UpdateArgument(NameKind Kind, int Index);

/// <summary>A step-invariant scalar: computed once per step by the prologue and broadcast to the element loop.</summary>
/// <param name="Name">Variable name in the kernels, after what it is (<c>oneMinusBeta1</c>, <c>stepSize</c>; see <see cref="Analysis.HoistNames"/>) or a rule local's own name.</param>
/// <param name="Value">The expression, evaluated in float64 and rounded once to float32.</param>
/// <param name="Text">The expression as the rule wrote it, for the comment beside it.</param>
internal sealed record HoistModel(string Name, Expr Value, string Text);

/// <summary>A switch: a step-invariant condition that selects a kernel specialisation.</summary>
/// <param name="Condition">The condition.</param>
/// <param name="Text">The condition as written, for comments and <c>fusedopt list</c>.</param>
/// <param name="IsStatic">True when it depends on hyperparameters only (so state allocation may rely on it).</param>
internal sealed record FlagModel(Expr Condition, string Text, bool IsStatic);

/// <summary>One conjunct of a guard: switch <paramref name="Flag"/> must be <paramref name="On"/>.</summary>
internal sealed record FlagLiteral(int Flag, bool On);

/// <summary>A conjunction of switch literals; empty means "always".</summary>
internal sealed record GuardPath(EquatableArray<FlagLiteral> Literals);

/// <summary>When a buffer (p, g or a state) is loaded and stored by the element loop: disjunctions of paths.</summary>
internal sealed record BufferUse(string Name, NameKind Kind, int Index, EquatableArray<GuardPath> Loads, EquatableArray<GuardPath> Stores)
{
    public bool IsLoaded => !Loads.IsEmpty;

    public bool IsStored => !Stores.IsEmpty;
}

/// <summary>
/// The analysed rule: which statements run once per step (the prologue), which run per element, the hoisted
/// scalars and the switches, and the guards on every buffer.
/// </summary>
internal sealed record KernelPlan(
    EquatableArray<Stmt> Body,
    EquatableArray<HoistModel> Hoists,
    EquatableArray<FlagModel> Flags,
    EquatableArray<BufferUse> Buffers,
    EquatableArray<string> ElementLocals,
    bool Vectorizable,
    string? ScalarReason);

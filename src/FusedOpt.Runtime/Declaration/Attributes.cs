using System;

namespace FusedOpt;

/// <summary>
/// Marks a <c>partial record</c> as an optimizer declaration. FusedOpt.Generator turns the record's
/// hyperparameters (its primary-constructor parameters) and its <c>Update</c> rule into fused
/// Vector512 / Vector256 / scalar kernels, a naive multi-pass baseline and an ILGPU kernel.
/// </summary>
/// <example>
/// <code>
/// [Optimizer("adam", Torch = "Adam")]
/// public partial record Adam(
///     [NonNegative] float Lr = 1e-3f, [Unit] float Beta1 = 0.9f, [Unit] float Beta2 = 0.999f,
///     [NonNegative] float Eps = 1e-8f, [NonNegative] float WeightDecay = 0f, bool Amsgrad = false)
/// {
///     void Update(ref float p, float g, ref float m, [NonNegative] ref float v, [NonNegative] ref float vMax, int t) { … }
/// }
/// </code>
/// </example>
[AttributeUsage(AttributeTargets.Class, Inherited = false, AllowMultiple = false)]
public sealed class OptimizerAttribute : Attribute
{
    /// <summary>Creates the attribute.</summary>
    /// <param name="name">The catalogue name (lower case, e.g. <c>adam</c>, <c>sgd-ema</c>).</param>
    public OptimizerAttribute(string name) => Name = name;

    /// <summary>The catalogue name used by the CLI and in state files.</summary>
    public string Name { get; }

    /// <summary>The <c>torch.optim</c> class whose semantics the rule reproduces, if any (used by <c>fusedopt replay</c>).</summary>
    public string? Torch { get; set; }

    /// <summary>A one-line description shown by <c>fusedopt list</c>.</summary>
    public string? Summary { get; set; }
}

/// <summary>
/// On a hyperparameter: it must be finite and ≥ 0, the range [0, ∞) (NaN and ∞ are rejected). Ranges are finite unless a
/// declaration says otherwise — a float or double hyperparameter without a range attribute must still be finite; only
/// an <see cref="IntervalAttribute"/> closed at an infinity (<c>[Interval(0, double.PositiveInfinity)]</c>) admits it.
/// <para>
/// On a per-element state (a <c>ref float</c> parameter of <c>Update</c>): the rule keeps it ≥ 0 (Adam's v, Adagrad's
/// sum), which <see cref="StateInfo.NonNegative"/> reports, so that a compressed q8 state uses the unsigned code map.
/// The generator refuses a negative start (FOPT025) and warns about an assignment that the hyperparameters' ranges do
/// not keep ≥ 0 (FOPT026); beyond what that check follows, the attribute is the declarer's promise.
/// </para>
/// </summary>
[AttributeUsage(AttributeTargets.Parameter)]
public sealed class NonNegativeAttribute : Attribute;

/// <summary>The hyperparameter must be finite and &gt; 0: the range (0, ∞) (NaN and ∞ are rejected).</summary>
[AttributeUsage(AttributeTargets.Parameter)]
public sealed class PositiveAttribute : Attribute;

/// <summary>The hyperparameter must lie in [0, 1) — a decay rate such as Adam's β.</summary>
[AttributeUsage(AttributeTargets.Parameter)]
public sealed class UnitAttribute : Attribute;

/// <summary>
/// The hyperparameter must lie in the interval [<see cref="Min"/>, <see cref="Max"/>]; either end may be open. An end at
/// an infinity that is not open admits that infinity (the only way to declare a hyperparameter that may be ∞).
/// </summary>
[AttributeUsage(AttributeTargets.Parameter)]
public sealed class IntervalAttribute : Attribute
{
    /// <summary>Creates the attribute.</summary>
    public IntervalAttribute(double min, double max) => (Min, Max) = (min, max);

    /// <summary>Lower end.</summary>
    public double Min { get; }

    /// <summary>Upper end.</summary>
    public double Max { get; }

    /// <summary>When true the lower end is excluded: (Min, …].</summary>
    public bool MinOpen { get; set; }

    /// <summary>When true the upper end is excluded: […, Max).</summary>
    public bool MaxOpen { get; set; }
}

/// <summary>
/// A per-element state (<c>ref float</c>) or per-step state (<c>ref double</c>) of the update rule
/// starts at this value instead of 0.
/// </summary>
[AttributeUsage(AttributeTargets.Parameter)]
public sealed class InitialValueAttribute : Attribute
{
    /// <summary>Creates the attribute.</summary>
    public InitialValueAttribute(double value) => Value = value;

    /// <summary>The initial value.</summary>
    public double Value { get; }
}

/// <summary>A per-element state starts at the value of the named hyperparameter (e.g. Adagrad's initial accumulator).</summary>
[AttributeUsage(AttributeTargets.Parameter)]
public sealed class InitialFromAttribute : Attribute
{
    /// <summary>Creates the attribute.</summary>
    public InitialFromAttribute(string hyperparameter) => Hyperparameter = hyperparameter;

    /// <summary>The hyperparameter's name (use <c>nameof</c>).</summary>
    public string Hyperparameter { get; }
}

/// <summary>
/// A condition over hyperparameters that must hold, checked by <c>Validate()</c>; the message is the
/// error shown when it does not. Use for options that are incompatible with each other.
/// </summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = true, Inherited = false)]
public sealed class ConstraintAttribute : Attribute
{
    /// <summary>Creates the attribute.</summary>
    /// <param name="condition">A C# boolean expression over the hyperparameters, e.g. <c>"!Nesterov || Momentum &gt; 0"</c>.</param>
    /// <param name="message">The sentence shown when the condition is false.</param>
    public ConstraintAttribute(string condition, string message) => (Condition, Message) = (condition, message);

    /// <summary>The condition.</summary>
    public string Condition { get; }

    /// <summary>The error message.</summary>
    public string Message { get; }
}

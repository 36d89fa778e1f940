using System;

namespace FusedOpt;

/// <summary>
/// One hyperparameter of an optimizer, looked up by name once: what a schedule holds to set the learning rate every
/// step. <see cref="Set"/> validates the value as a new record would and allocates nothing.
/// </summary>
/// <example>
/// <code>
/// var lr = optimizer.Hyperparameter("lr");
/// for (int step = 0; step &lt; steps; step++)
/// {
///     lr.Set(schedule(step));       // every group; lr.Set(value, group: 1) for one
///     optimizer.Step();
/// }
/// </code>
/// </example>
public readonly struct HyperparameterHandle
{
    private readonly OptimizerCore? _core;

    internal HyperparameterHandle(OptimizerCore core, int index)
    {
        _core = core;
        Index = index;
    }

    /// <summary>The hyperparameter's index in declaration order.</summary>
    public int Index { get; }

    /// <summary>What the hyperparameter is: name, kind, default and range.</summary>
    public HyperparameterInfo Info => Core.Descriptor.Hyperparameters[Index];

    private OptimizerCore Core => _core ?? throw new InvalidOperationException("This hyperparameter handle was not obtained from an optimizer.");

    /// <summary>
    /// Sets the value on every group, or on one (validated: range, type, constraints; a refused value changes nothing in
    /// that group). States the new value makes necessary (e.g. AMSGrad's) are allocated at their initial value.
    /// </summary>
    public void Set(double value, int? group = null) => Core.SetHyperparameter(Index, value, group);

    /// <summary>The value in a group.</summary>
    public double Get(int group = 0) => Core.Hyperparameters(group)[Index];
}

using System;
using System.Collections.Generic;
using System.Linq;
using System.Runtime.InteropServices;
using FusedOpt.Memory;

namespace FusedOpt;

/// <summary>
/// What runs a step over memory: the CPU worker pool (<see cref="Optimizer"/>) or an ILGPU device
/// (<see cref="Gpu.DeviceOptimizer"/>). The <see cref="OptimizerCore"/> owns everything else — rules, step counts,
/// per-step states, hoisted scalars, switch bits, the gradient-norm policy — and calls an executor only for the parts
/// that touch the per-element buffers.
/// </summary>
internal interface IOptimizerExecutor
{
    /// <summary>True when per-element state <paramref name="index"/> is allocated.</summary>
    bool HasState(int index);

    /// <summary>
    /// Allocates per-element state <paramref name="index"/>, filled group by group with
    /// <see cref="OptimizerCore.InitialValue"/>; called once, when some group's rule first needs it.
    /// </summary>
    void AllocateState(int index);

    /// <summary>The global sum of squared gradients in float64 (NaN or ∞ when any gradient is not finite).</summary>
    double GradSumOfSquares();

    /// <summary>
    /// Runs the step the core has just prepared: every group's kernel with the group's
    /// <see cref="OptimizerCore.Scalars"/> and <see cref="OptimizerCore.Flags"/>, over the arena
    /// (<see cref="SweepMode.Arena"/>) or tensor by tensor (<see cref="SweepMode.PerTensor"/>).
    /// </summary>
    /// <param name="gradScale">The multiplier every gradient gets as it is read (unscaling × clipping).</param>
    void Run(float gradScale);
}

/// <summary>
/// The per-group state every optimizer over a <see cref="ParameterArena"/> shares, whatever executes the step: one
/// rule (hyperparameter set) per group, with its values cached as float64 and hyperparameter setters by index; step
/// counts; per-step (<c>ref double</c>) states; the step-invariant scalars and switch bits <c>Prepare</c> writes; and the
/// step's gradient-norm policy (unscaling, clipping, skip on non-finite). An executor
/// (<see cref="IOptimizerExecutor"/>) attaches once and is called for states and sweeps.
/// </summary>
/// <remarks>
/// Setting a hyperparameter by index (<see cref="SetHyperparameter(int, double, int?)"/>, what
/// <see cref="HyperparameterHandle"/> and a schedule call every step) allocates nothing: the group's rule is a private
/// copy the core owns, and the value goes through the record's own checked <c>init</c> accessor (see
/// <see cref="HyperparameterSetters"/>). A rule handed out by <see cref="PublishRule"/> is never changed afterwards:
/// the next set takes a fresh private copy first.
/// </remarks>
internal sealed unsafe class OptimizerCore : IDisposable
{
    private readonly IOptimizerRule[] _rules;
    private readonly bool[] _owned;
    private readonly double[][] _values;
    private readonly long[] _steps;
    private readonly double[][] _stepStates;
    private readonly float*[] _scalars;
    private readonly int[] _flags;
    private readonly Dictionary<string, int> _hyperparameterIndex;
    private HyperparameterSetters? _setters;
    private IOptimizerExecutor? _executor;
    private bool _disposed;
    private bool _partialOpen;

    /// <summary>Checks the arguments (<see cref="CheckArguments"/>) and every rule, and takes the groups' first values.</summary>
    public OptimizerCore(ParameterArena arena, IReadOnlyList<IOptimizerRule> groupRules, OptimizerOptions? options)
    {
        Options = CheckArguments(arena, groupRules, options);
        Arena = arena;
        Descriptor = groupRules.Count > 0 && groupRules[0] is { } first
            ? first.Descriptor
            : throw new ArgumentNullException(nameof(groupRules), "The rule of group 0 is null.");
        int groups = groupRules.Count;
        _rules = new IOptimizerRule[groups];
        _owned = new bool[groups];
        _values = new double[groups][];
        _steps = new long[groups];
        _stepStates = new double[groups][];
        _scalars = new float*[groups];
        _flags = new int[groups];
        for (int g = 0; g < groups; g++)
        {
            var rule = groupRules[g] ?? throw new ArgumentNullException(nameof(groupRules), $"The rule of group {g} is null.");
            if (rule.Descriptor.TypeName != Descriptor.TypeName)
            {
                throw new ArgumentException($"Group {g} must use {Descriptor.Name} like group 0, not {rule.Descriptor.Name}.", nameof(groupRules));
            }

            rule.Validate();
            _rules[g] = rule;
            _values[g] = rule.GetHyperparameters();
            _stepStates[g] = Descriptor.StepStates.Select(static s => s.InitialValue).ToArray();
        }

        // Scalars live in 64-byte aligned native memory: the CPU kernels broadcast them, the device copies them.
        for (int g = 0; g < groups; g++)
        {
            _scalars[g] = (float*)NativeMemory.AlignedAlloc((nuint)Math.Max(1, Descriptor.ScalarCount) * sizeof(float), 64);
        }

        _hyperparameterIndex = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);
        for (int i = 0; i < Descriptor.Hyperparameters.Count; i++)
        {
            _hyperparameterIndex.TryAdd(Descriptor.Hyperparameters[i].Name, i);
        }

        for (int i = 0; i < Descriptor.Hyperparameters.Count; i++)
        {
            _hyperparameterIndex.TryAdd(Descriptor.Hyperparameters[i].SnakeName, i);
        }
    }

    /// <summary>The declaration every group uses.</summary>
    public OptimizerDescriptor Descriptor { get; }

    /// <summary>The options, defaulted.</summary>
    public OptimizerOptions Options { get; }

    /// <summary>The arena being optimised.</summary>
    public ParameterArena Arena { get; }

    /// <summary>Number of parameter groups.</summary>
    public int GroupCount => _rules.Length;

    /// <summary>The executor, once attached.</summary>
    private IOptimizerExecutor Executor => _executor ?? throw new InvalidOperationException("No executor is attached to the optimizer core.");

    /// <summary>Attaches the executor and allocates every state the rules need.</summary>
    public void Attach(IOptimizerExecutor executor)
    {
        _executor = executor ?? throw new ArgumentNullException(nameof(executor));
        EnsureStates();
    }

    /// <summary>The rule of a group, for the core's own callers (may be the core's private copy: never hand it out).</summary>
    public IOptimizerRule Rule(int group) => _rules[group];

    /// <summary>The rule of a group, to hand out: from now on the core never changes this instance.</summary>
    public IOptimizerRule PublishRule(int group)
    {
        _owned[group] = false;
        return _rules[group];
    }

    /// <summary>A group's hyperparameter values in declaration order (bools as 0/1), read only.</summary>
    public ReadOnlySpan<double> Hyperparameters(int group) => _values[group];

    /// <summary>The step counts, one per group.</summary>
    public ReadOnlySpan<long> Steps => _steps;

    /// <summary>The per-step states of a group (updated in place by <c>Prepare</c>).</summary>
    public double[] StepStates(int group) => _stepStates[group];

    /// <summary>The step-invariant scalars of a group, as the last <c>Prepare</c> wrote them.</summary>
    public Span<float> Scalars(int group) => new(_scalars[group], Descriptor.ScalarCount);

    /// <summary>The scalars of a group as the pointer a CPU <see cref="Kernels.StepFrame"/> carries.</summary>
    public float* ScalarsPointer(int group) => _scalars[group];

    /// <summary>The switch bits of a group for the step being run (bit 0: gradient scale ≠ 1).</summary>
    public int Flags(int group) => _flags[group];

    /// <summary>The index of a hyperparameter by PascalCase or snake_case name (case-insensitive), or −1; allocates nothing.</summary>
    public int IndexOfHyperparameter(string name) =>
        name is not null && _hyperparameterIndex.TryGetValue(name, out int index) ? index : -1;

    /// <summary>The index of a hyperparameter, or an error listing the known names.</summary>
    public int RequireHyperparameter(string name)
    {
        int index = IndexOfHyperparameter(name);
        return index >= 0
            ? index
            : throw new HyperparameterException(
                $"{Descriptor.Name}: unknown hyperparameter '{name}'. Known: {string.Join(", ", Descriptor.Hyperparameters.Select(static h => h.SnakeName))}.", name);
    }

    /// <summary>Replaces the rule of a group (checked by <see cref="CheckRule"/>); states it newly needs are allocated.</summary>
    public void SetRule(int group, IOptimizerRule rule)
    {
        ObjectDisposedException.ThrowIf(_disposed, (object?)_executor ?? this);
        RequireNoPartialStep("replace a rule");
        CheckRule(Descriptor, _rules.Length, group, rule);
        Replace(group, rule);
        EnsureStates();
    }

    /// <summary>
    /// Sets hyperparameter <paramref name="index"/> of every group, or of one, to <paramref name="value"/>, validated as a
    /// new record would be (range, type, constraints). A refused value leaves the group unchanged. Allocates nothing for a
    /// generated rule after the group's first set.
    /// </summary>
    public void SetHyperparameter(int index, double value, int? group = null)
    {
        ObjectDisposedException.ThrowIf(_disposed, (object?)_executor ?? this);
        RequireNoPartialStep("set a hyperparameter");
        if ((uint)index >= (uint)Descriptor.Hyperparameters.Count)
        {
            throw new ArgumentOutOfRangeException(nameof(index), index, $"{Descriptor.Name} has {Descriptor.Hyperparameters.Count} hyperparameters.");
        }

        if (group is { } only && (uint)only >= (uint)_rules.Length)
        {
            throw new ArgumentOutOfRangeException(nameof(group), only, $"The arena has {_rules.Length} parameter groups.");
        }

        int first = group ?? 0;
        int end = group is null ? _rules.Length : first + 1;
        for (int g = first; g < end; g++)
        {
            SetOne(g, index, value);
        }

        EnsureStates();
    }

    /// <summary>
    /// Takes one step: checks the step counts and the loss scale, applies the gradient-norm policy (skip on non-finite,
    /// clipping), runs every group's prologue and then the executor.
    /// </summary>
    public StepResult Step(double lossScale)
    {
        ObjectDisposedException.ThrowIf(_disposed, (object?)_executor ?? this);
        RequireNoPartialStep("take another step");
        RequireStepCountRoom(_steps);
        double scale = UnscaleFactor(lossScale);
        double? norm = null;
        var executor = Executor;
        if (NeedsGradNorm(Options) && ApplyGradNorm(Options, executor.GradSumOfSquares(), ref scale, out norm))
        {
            return new StepResult(true, _steps[0], norm, 0);
        }

        float gradScale = PrepareGroups(scale);
        executor.Run(gradScale);
        return new StepResult(false, _steps[0], norm, scale);
    }

    /// <summary>
    /// Begins a step whose sweeps the caller runs piece by piece (the step inside backward): checks the step counts and
    /// the loss scale, refuses the options that need the whole gradient before any parameter is stepped
    /// (<see cref="OptimizerOptions.MaxGradNorm"/>, <see cref="OptimizerOptions.SkipNonFinite"/>), then runs every
    /// group's prologue and counts the step, exactly as <see cref="Step"/> does before its sweep. Returns the gradient
    /// scale every sweep of this step must use.
    /// </summary>
    public float BeginPartialStep(double lossScale)
    {
        ObjectDisposedException.ThrowIf(_disposed, (object?)_executor ?? this);
        RequireNoPartialStep("begin another step");
        RequirePartialStepOptions(Options);
        RequireStepCountRoom(_steps);
        float gradScale = PrepareGroups(UnscaleFactor(lossScale));
        _partialOpen = true;
        return gradScale;
    }

    /// <summary>True between <see cref="BeginPartialStep"/> and <see cref="EndPartialStep"/>.</summary>
    public bool IsPartialStepOpen => _partialOpen;

    /// <summary>Ends the step <see cref="BeginPartialStep"/> began: rules and hyperparameters may change again.</summary>
    public void EndPartialStep()
    {
        if (!_partialOpen)
        {
            throw new InvalidOperationException("No step is open: call BeginStep before the backward pass, then EndStep after it.");
        }

        _partialOpen = false;
    }

    /// <summary>
    /// Refuses what would change the scalars, rules or step counts under a step that is half done: the layers stepped
    /// later must see the same values as the ones stepped first.
    /// </summary>
    private void RequireNoPartialStep(string action)
    {
        if (_partialOpen)
        {
            throw new InvalidOperationException($"Cannot {action} while a step inside backward is open: every tensor of the step must see the same hyperparameters and step count. Call EndStep first.");
        }
    }

    /// <summary>
    /// Refuses the options a step taken piece by piece cannot honour: both need the global gradient norm, which is only
    /// known once the last gradient is complete, after the first parameters would already have been stepped.
    /// </summary>
    public static void RequirePartialStepOptions(OptimizerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.MaxGradNorm is { } max)
        {
            throw new NotSupportedException(
                $"The step inside backward cannot clip gradients (MaxGradNorm = {max.ToString(System.Globalization.CultureInfo.InvariantCulture)}): the global gradient norm needs every gradient, but the first layers are stepped before the last gradients exist. Step after backward instead, or drop the clipping.");
        }

        if (options.SkipNonFinite)
        {
            throw new NotSupportedException(
                "The step inside backward cannot skip a step on a non-finite gradient (SkipNonFinite): whether any gradient is NaN or ±∞ is only known after the whole backward pass, when the first layers are already stepped. Step after backward instead, or turn SkipNonFinite off.");
        }
    }

    /// <summary>Every group's prologue for a step with gradient scale <paramref name="scale"/>, and the step counted.</summary>
    private float PrepareGroups(double scale)
    {
        float gradScale = (float)scale;
        int scaleBit = gradScale != 1f ? 1 : 0;
        for (int g = 0; g < _rules.Length; g++)
        {
            long t = _steps[g] + 1;
            _flags[g] = _rules[g].Prepare(t, _stepStates[g], Scalars(g)) | scaleBit;
            _steps[g] = t;
        }

        return gradScale;
    }

    /// <summary>Replaces rules, step counts and per-step states at once (a state file or another executor, already validated).</summary>
    public void Restore(IReadOnlyList<IOptimizerRule> rules, ReadOnlySpan<long> steps, IReadOnlyList<double[]> stepStates)
    {
        RequireNoPartialStep("restore a state");
        for (int g = 0; g < _rules.Length; g++)
        {
            Replace(g, rules[g]);
            _steps[g] = steps[g];
            stepStates[g].CopyTo(_stepStates[g], 0);
        }

        EnsureStates();
    }

    /// <summary>True when some group's rule uses per-element state <paramref name="state"/>.</summary>
    public bool IsStateNeeded(int state)
    {
        for (int g = 0; g < _rules.Length; g++)
        {
            if (_rules[g].IsStateNeeded(state))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>The value state <paramref name="state"/> starts at in <paramref name="group"/> (its declared value or a hyperparameter).</summary>
    public float InitialValue(int state, int group)
    {
        var info = Descriptor.States[state];
        return (float)(info.InitialFrom is null ? info.InitialValue : _values[group][RequireHyperparameter(info.InitialFrom)]);
    }

    /// <summary>Bytes one step moves per parameter with the states <paramref name="used"/> says are in use.</summary>
    public static int BytesPerParameterOf(OptimizerDescriptor descriptor, Func<int, bool> used)
    {
        int bytes = 4 + 4 + (descriptor.ReadsParameter ? 4 : 0);
        for (int s = 0; s < descriptor.States.Count; s++)
        {
            if (used(s))
            {
                bytes += (descriptor.States[s].IsRead ? 4 : 0) + (descriptor.States[s].IsWritten ? 4 : 0);
            }
        }

        return bytes;
    }

    /// <summary>
    /// The checks every optimizer over an arena makes (CPU or device): a built arena, one rule per group, valid
    /// options. Returns the options, defaulted.
    /// </summary>
    public static OptimizerOptions CheckArguments(ParameterArena arena, IReadOnlyList<IOptimizerRule> groupRules, OptimizerOptions? options)
    {
        ArgumentNullException.ThrowIfNull(arena);
        ArgumentNullException.ThrowIfNull(groupRules);
        if (!arena.IsBuilt)
        {
            throw new InvalidOperationException("Build the arena before creating an optimizer over it.");
        }

        if (groupRules.Count != arena.Groups.Length)
        {
            throw new ArgumentException($"The arena has {arena.Groups.Length} parameter groups but {groupRules.Count} rules were given.", nameof(groupRules));
        }

        options ??= new OptimizerOptions();
        if (options.MaxGradNorm is { } maxNorm && !(maxNorm > 0))
        {
            throw new ArgumentOutOfRangeException(nameof(options), maxNorm, $"MaxGradNorm must be > 0, got {maxNorm}.");
        }

        if (!Enum.IsDefined(options.StateStorage))
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.StateStorage, $"StateStorage {(int)options.StateStorage} is not a state storage; expected {Storage.StateStorages.Accepted}.");
        }

        if (options.Q8MinElements < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.Q8MinElements, $"Q8MinElements must be ≥ 0 (0 quantizes every tensor), got {options.Q8MinElements}.");
        }

        if (options.Q8KeepPositive && options.StateStorage != Storage.StateStorage.Q8)
        {
            throw new ArgumentException($"Q8KeepPositive applies to q8 states only; StateStorage is {Storage.StateStorages.Name(options.StateStorage)}.", nameof(options));
        }

        if (options.StochasticRounding && options.StateStorage != Storage.StateStorage.Bf16)
        {
            throw new ArgumentException($"StochasticRounding applies to bf16 states only; StateStorage is {Storage.StateStorages.Name(options.StateStorage)}.", nameof(options));
        }

        return options;
    }

    /// <summary>
    /// Refuses compressed states on an executor that keeps float32 states only (the device executors): the error names
    /// the storage and where it is supported.
    /// </summary>
    public static void RequireFloat32States(OptimizerOptions options, string executor)
    {
        if (options.StateStorage != Storage.StateStorage.Fp32)
        {
            throw new NotSupportedException(
                $"{executor} keeps float32 states; StateStorage {Storage.StateStorages.Name(options.StateStorage)} is supported by the CPU Optimizer only.");
        }
    }

    /// <summary>
    /// The checks of replacing a group's rule (CPU or device): the group exists, the rule is of the same declaration,
    /// and its hyperparameters are valid.
    /// </summary>
    public static void CheckRule(OptimizerDescriptor descriptor, int groups, int group, IOptimizerRule rule)
    {
        ArgumentNullException.ThrowIfNull(rule);
        if ((uint)group >= (uint)groups)
        {
            throw new ArgumentOutOfRangeException(nameof(group), group, $"The arena has {groups} parameter groups.");
        }

        if (rule.Descriptor.TypeName != descriptor.TypeName)
        {
            throw new ArgumentException($"Group {group} must use {descriptor.Name} like the others, not {rule.Descriptor.Name}.", nameof(rule));
        }

        rule.Validate();
    }

    /// <summary>
    /// Refuses a step that would take a group's step count past <see cref="int.MaxValue"/>: the rule's step <c>t</c> is an
    /// <c>int</c>, and a wrapped, negative t turns every parameter into NaN. Nothing is changed.
    /// </summary>
    public static void RequireStepCountRoom(ReadOnlySpan<long> steps)
    {
        for (int g = 0; g < steps.Length; g++)
        {
            if (steps[g] >= int.MaxValue)
            {
                throw new InvalidOperationException($"Group {g} has taken {steps[g]:N0} steps, the most a rule's step t (an int) can count; no further step is possible.");
            }
        }
    }

    /// <summary>True when a step needs the global sum of squared gradients (to skip on non-finite or to clip).</summary>
    public static bool NeedsGradNorm(OptimizerOptions options) => options.SkipNonFinite || options.MaxGradNorm is not null;

    /// <summary>Checks <paramref name="lossScale"/> and returns 1 / <paramref name="lossScale"/>, the unscaling factor.</summary>
    public static double UnscaleFactor(double lossScale) =>
        lossScale > 0 && !double.IsInfinity(lossScale)
            ? 1 / lossScale
            : throw new ArgumentOutOfRangeException(nameof(lossScale), lossScale, $"The loss scale must be finite and > 0, got {lossScale}.");

    /// <summary>
    /// The step's gradient-norm logic: from the float64 sum of squared (still loss-scaled) gradients, computes the
    /// unscaled norm, multiplies <paramref name="scale"/> by the clipping coefficient when
    /// <see cref="OptimizerOptions.MaxGradNorm"/> is exceeded, and returns true when the step must be skipped because a
    /// gradient is not finite and <see cref="OptimizerOptions.SkipNonFinite"/> is set.
    /// </summary>
    public static bool ApplyGradNorm(OptimizerOptions options, double sumSquares, ref double scale, out double? norm)
    {
        norm = Math.Sqrt(sumSquares) * scale;
        if (!double.IsFinite(sumSquares) && options.SkipNonFinite)
        {
            return true;
        }

        if (options.MaxGradNorm is { } max)
        {
            double coefficient = max / (norm.Value + 1e-6);
            if (coefficient < 1)
            {
                scale *= coefficient;
            }
        }

        return false;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        foreach (var p in _scalars)
        {
            NativeMemory.AlignedFree(p);
        }
    }

    /// <summary>Allocates (through the executor) every state some group's rule needs and that is not allocated yet.</summary>
    public void EnsureStates()
    {
        var executor = Executor;
        for (int s = 0; s < Descriptor.States.Count; s++)
        {
            if (!executor.HasState(s) && IsStateNeeded(s))
            {
                executor.AllocateState(s);
            }
        }
    }

    private void Replace(int group, IOptimizerRule rule)
    {
        _rules[group] = rule;
        _owned[group] = false;
        double[] values = rule.GetHyperparameters();
        if (values.Length != _values[group].Length)
        {
            throw new ArgumentException($"{Descriptor.Name}: the rule of group {group} gives {values.Length} hyperparameter values; its descriptor declares {_values[group].Length}.", nameof(rule));
        }

        values.CopyTo(_values[group], 0);
    }

    /// <summary>
    /// Sets one value of one group. The first set after the rule was handed out (or replaced) builds the group's private
    /// copy from the values, which checks everything; later sets write the copy through its checked setter and
    /// re-check the constraints, and undo the change when either refuses it.
    /// </summary>
    private void SetOne(int group, int index, double value)
    {
        double[] values = _values[group];
        double old = values[index];
        if (!_owned[group])
        {
            values[index] = value;
            try
            {
                var copy = Descriptor.Create(values);
                copy.Validate();
                _rules[group] = copy;
                _owned[group] = true;
                values[index] = copy.GetHyperparameters()[index];   // as the record holds it: 0.1 as a float is 0.10000000149…
            }
            catch
            {
                values[index] = old;
                throw;
            }

            return;
        }

        var rule = _rules[group];
        _setters ??= HyperparameterSetters.For(Descriptor, rule.GetType());
        if (!_setters.CanSet(index))
        {
            // Not a generated record (no checked init accessor to write): rebuild it, which allocates.
            _owned[group] = false;
            SetOne(group, index, value);
            return;
        }

        values[index] = value;
        try
        {
            _setters.Set(rule, values, index);
            rule.Validate();
            values[index] = Descriptor.Hyperparameters[index].Kind == HyperparameterKind.Float ? (float)value : value;
        }
        catch
        {
            values[index] = old;
            _setters.Set(rule, values, index);
            throw;
        }
    }
}

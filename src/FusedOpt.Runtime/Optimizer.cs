using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;
using FusedOpt.Kernels;
using FusedOpt.Memory;
using FusedOpt.State;
using FusedOpt.Threading;

namespace FusedOpt;

/// <summary>How a step touches memory.</summary>
public enum StepMode
{
    /// <summary>The generated fused kernel: one pass over every buffer per step.</summary>
    Fused,

    /// <summary>The generated naive step: one pass and one temporary per tensor operation (the baseline).</summary>
    Naive,
}

/// <summary>Whether a step sweeps each parameter group at once or each tensor separately.</summary>
public enum SweepMode
{
    /// <summary>One sweep per parameter group over the arena (the multi-tensor case).</summary>
    Arena,

    /// <summary>One dispatch per tensor, as a per-parameter for-loop does (for comparison).</summary>
    PerTensor,
}

/// <summary>Options of an <see cref="Optimizer"/>.</summary>
public sealed record OptimizerOptions
{
    /// <summary>Threads that share each step (static partition; the same count gives the same bits).</summary>
    public int Threads { get; init; } = 1;

    /// <summary>Instruction set to force; null picks <c>FUSEDOPT_ISA</c> or the widest supported.</summary>
    public Isa? Isa { get; init; }

    /// <summary>Fused kernel or naive multi-pass baseline.</summary>
    public StepMode Mode { get; init; } = StepMode.Fused;

    /// <summary>Arena-wide sweep or one dispatch per tensor.</summary>
    public SweepMode Sweep { get; init; } = SweepMode.Arena;

    /// <summary>When true, a step whose gradients hold any NaN or ±∞ leaves parameters, states and step counts untouched.</summary>
    public bool SkipNonFinite { get; init; }

    /// <summary>When set, gradients are scaled so that their global L2 norm is at most this value (PyTorch's <c>clip_grad_norm_</c>).</summary>
    public double? MaxGradNorm { get; init; }
}

/// <summary>The outcome of <see cref="Optimizer.Step"/>.</summary>
/// <param name="Skipped">True when the step was skipped because a gradient was not finite.</param>
/// <param name="StepCount">The step count of group 0 after the call.</param>
/// <param name="GradNorm">The global L2 norm of the (unscaled) gradients, when it was computed.</param>
/// <param name="GradScale">The factor every gradient was multiplied by (unscaling × clipping).</param>
public readonly record struct StepResult(bool Skipped, long StepCount, double? GradNorm, double GradScale);

/// <summary>
/// Steps every parameter of a <see cref="ParameterArena"/> with a generated optimizer rule. Each parameter group
/// has its own hyperparameters (a record instance of the same declaration) and step count; a step is one fused sweep
/// per group, split statically across <see cref="OptimizerOptions.Threads"/> threads.
/// </summary>
/// <example>
/// <code>
/// using var opt = new Optimizer(arena, new Adam(Lr: 3e-4f), new() { Threads = 2 });
/// opt.Step();                       // one fused pass over p, g, m, v
/// opt.SetRule(1, new Adam(Lr: 1e-4f) with { WeightDecay = 0.01f });   // group 1's hyperparameters
/// </code>
/// </example>
public sealed unsafe class Optimizer : IDisposable, IParallelWork
{
    private readonly ParameterArena _arena;
    private readonly IOptimizerRule[] _rules;
    private readonly long[] _steps;
    private readonly double[][] _stepStates;
    private readonly float*[] _scalars;
    private readonly int[] _flags;
    private readonly AlignedBuffer?[] _states;
    private readonly WorkerPool _pool;
    private readonly double[] _partials;
    private NaiveScratch[]? _scratch;
    private Phase _phase;
    private long _rangeStart;
    private long _rangeLength;
    private int _rangeGroup;
    private float _gradScale = 1;
    private AlignedBuffer? _fillBuffer;
    private int _fillState;
    private bool _disposed;

    private enum Phase { Reduce, Sweep, Range, Fill }

    /// <summary>Creates an optimizer whose every group starts with the hyperparameters of <paramref name="rule"/>.</summary>
    public Optimizer(ParameterArena arena, IOptimizerRule rule, OptimizerOptions? options = null)
        : this(arena, Enumerable.Repeat(rule ?? throw new ArgumentNullException(nameof(rule)), arena?.Groups.Length ?? 0).ToArray(), options)
    {
    }

    /// <summary>Creates an optimizer with one rule (hyperparameter set) per parameter group of the arena.</summary>
    public Optimizer(ParameterArena arena, IReadOnlyList<IOptimizerRule> groupRules, OptimizerOptions? options = null)
    {
        Options = CheckArguments(arena, groupRules, options);

        Isa = IsaSupport.Resolve(Options.Isa);
        _arena = arena;
        Descriptor = groupRules[0].Descriptor;
        int groups = groupRules.Count;
        _rules = new IOptimizerRule[groups];
        _steps = new long[groups];
        _stepStates = new double[groups][];
        _scalars = new float*[groups];
        _flags = new int[groups];
        _states = new AlignedBuffer?[Descriptor.States.Count];
        for (int g = 0; g < groups; g++)
        {
            var rule = groupRules[g] ?? throw new ArgumentNullException(nameof(groupRules), $"The rule of group {g} is null.");
            if (rule.Descriptor.TypeName != Descriptor.TypeName)
            {
                throw new ArgumentException($"Group {g} must use {Descriptor.Name} like group 0, not {rule.Descriptor.Name}.", nameof(groupRules));
            }

            rule.Validate();
            _rules[g] = rule;
            _stepStates[g] = Descriptor.StepStates.Select(static s => s.InitialValue).ToArray();
            _scalars[g] = (float*)NativeMemory.AlignedAlloc((nuint)Math.Max(1, Descriptor.ScalarCount) * sizeof(float), 64);
        }

        _pool = new WorkerPool(Options.Threads);
        _partials = new double[Options.Threads * 8];
        EnsureStates();

    }

    /// <summary>
    /// The checks every optimizer over an arena makes (CPU or device): a built arena, one rule per group, valid
    /// options. Returns the options, defaulted.
    /// </summary>
    internal static OptimizerOptions CheckArguments(ParameterArena arena, IReadOnlyList<IOptimizerRule> groupRules, OptimizerOptions? options)
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

        return options;
    }

    /// <summary>The declaration every group uses.</summary>
    public OptimizerDescriptor Descriptor { get; }

    /// <summary>The options given at construction.</summary>
    public OptimizerOptions Options { get; }

    /// <summary>The instruction set the fused kernels run with.</summary>
    public Isa Isa { get; }

    /// <summary>The arena being optimised.</summary>
    public ParameterArena Arena => _arena;

    /// <summary>Number of parameter groups.</summary>
    public int GroupCount => _rules.Length;

    /// <summary>The hyperparameters of a group.</summary>
    public IOptimizerRule GetRule(int group) => _rules[group];

    /// <summary>
    /// Replaces the hyperparameters of a group (a learning-rate schedule does this every step). The rule must be of
    /// the same declaration and valid; states it newly needs are allocated at their initial value.
    /// </summary>
    public void SetRule(int group, IOptimizerRule rule)
    {
        CheckRule(Descriptor, _rules.Length, group, rule);
        _rules[group] = rule;
        EnsureStates();
    }

    /// <summary>
    /// The checks of replacing a group's rule (CPU or device): the group exists, the rule is of the same declaration,
    /// and its hyperparameters are valid.
    /// </summary>
    internal static void CheckRule(OptimizerDescriptor descriptor, int groups, int group, IOptimizerRule rule)
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
    /// Sets one hyperparameter (PascalCase or snake_case name) on every group, or on one group: what a learning-rate
    /// schedule calls before each step. The new value is validated like any other.
    /// </summary>
    public void SetHyperparameter(string name, double value, int? group = null)
    {
        int index = Descriptor.IndexOfHyperparameter(name);
        if (index < 0)
        {
            throw new HyperparameterException(
                $"{Descriptor.Name}: unknown hyperparameter '{name}'. Known: {string.Join(", ", Descriptor.Hyperparameters.Select(static h => h.SnakeName))}.", name);
        }

        for (int g = group ?? 0; g < (group is null ? _rules.Length : group.Value + 1); g++)
        {
            var values = _rules[g].GetHyperparameters();
            values[index] = value;
            SetRule(g, Descriptor.Create(values));
        }
    }

    /// <summary>A hyperparameter's value in a group.</summary>
    public double GetHyperparameter(string name, int group = 0)
    {
        int index = Descriptor.IndexOfHyperparameter(name);
        return index < 0
            ? throw new HyperparameterException($"{Descriptor.Name}: unknown hyperparameter '{name}'.", name)
            : _rules[group].GetHyperparameters()[index];
    }

    /// <summary>The number of steps group <paramref name="group"/> has taken.</summary>
    public long GetStepCount(int group = 0) => _steps[group];

    /// <summary>The per-step states of a group (e.g. NAdam's μ product), read only.</summary>
    public ReadOnlySpan<double> GetStepStates(int group = 0) => _stepStates[group];

    /// <summary>A per-element state buffer by index, or null when these hyperparameters never use it.</summary>
    public AlignedBuffer? GetState(int index) => _states[index];

    /// <summary>The part of a named state that belongs to one tensor.</summary>
    public Span<float> GetState(string name, TensorSlot tensor)
    {
        int i = Descriptor.States.Select(static s => s.Name).ToList().IndexOf(name);
        if (i < 0)
        {
            throw new ArgumentException($"{Descriptor.Name} has no state '{name}'; its states are {string.Join(", ", Descriptor.States.Select(static s => s.Name))}.", nameof(name));
        }

        var buffer = _states[i] ?? throw new InvalidOperationException($"State '{name}' is not used with the current hyperparameters.");
        return buffer.Slice(tensor.Offset, tensor.Length);
    }

    /// <summary>
    /// Bytes one step moves per parameter: the parameter read and written, the gradient read, and every used state
    /// read and/or written (Adam: 28).
    /// </summary>
    public int BytesPerParameter => BytesPerParameterOf(_rules[0].Descriptor, s => _states[s] is not null);

    /// <summary>Bytes a step of <paramref name="rule"/> moves per parameter with its hyperparameters (Adam: 28, with AMSGrad: 36).</summary>
    public static int BytesPerParameterOf(IOptimizerRule rule)
    {
        ArgumentNullException.ThrowIfNull(rule);
        return BytesPerParameterOf(rule.Descriptor, rule.IsStateNeeded);
    }

    private static int BytesPerParameterOf(OptimizerDescriptor descriptor, Func<int, bool> used)
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
    /// Takes one step. Gradients are divided by <paramref name="lossScale"/> as they are read (mixed-precision
    /// unscaling), clipped to <see cref="OptimizerOptions.MaxGradNorm"/> if set, and — with
    /// <see cref="OptimizerOptions.SkipNonFinite"/> — a non-finite gradient anywhere skips the whole step.
    /// </summary>
    public StepResult Step(double lossScale = 1)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        RequireStepCountRoom(_steps);
        double scale = UnscaleFactor(lossScale);
        double? norm = null;
        if (NeedsGradNorm(Options))
        {
            if (ApplyGradNorm(Options, GradSumOfSquares(), ref scale, out norm))
            {
                return new StepResult(true, _steps[0], norm, 0);
            }
        }

        _gradScale = (float)scale;
        int scaleBit = _gradScale != 1f ? 1 : 0;
        for (int g = 0; g < _rules.Length; g++)
        {
            long t = _steps[g] + 1;
            var scalars = new Span<float>(_scalars[g], Descriptor.ScalarCount);
            _flags[g] = _rules[g].Prepare(t, _stepStates[g], scalars) | scaleBit;
            _steps[g] = t;
        }

        if (Options.Sweep == SweepMode.PerTensor)
        {
            _phase = Phase.Range;
            var tensors = _arena.Tensors;
            for (int t = 0; t < tensors.Count; t++)
            {
                var tensor = tensors[t];
                _rangeGroup = tensor.Group;
                _rangeStart = tensor.Offset;
                _rangeLength = tensor.Length;
                _pool.Run(this);
            }
        }
        else
        {
            _phase = Phase.Sweep;
            _pool.Run(this);
        }

        return new StepResult(false, _steps[0], norm, scale);
    }

    /// <summary>
    /// Refuses a step that would take a group's step count past <see cref="int.MaxValue"/>: the rule's step <c>t</c> is an
    /// <c>int</c>, and a wrapped, negative t turns every parameter into NaN. Nothing is changed.
    /// </summary>
    internal static void RequireStepCountRoom(long[] steps)
    {
        for (int g = 0; g < steps.Length; g++)
        {
            if (steps[g] >= int.MaxValue)
            {
                throw new InvalidOperationException($"Group {g} has taken {steps[g]:N0} steps, the most a rule's step t (an int) can count; no further step is possible.");
            }
        }
    }

    /// <summary>The global sum of squared gradients in float64 (NaN or ∞ when any gradient is not finite).</summary>
    public double GradSumOfSquares()
    {
        _phase = Phase.Reduce;
        _pool.Run(this);
        double sum = 0;
        for (int part = 0; part < _pool.Count; part++)
        {
            sum += _partials[part * 8];
        }

        return sum;
    }

    /// <summary>Writes the optimizer's state (and the parameters) to <paramref name="path"/> atomically.</summary>
    public void Save(string path, bool includeParameters = true) => StateFile.Save(this, path, includeParameters);

    /// <summary>Writes the optimizer's state (and the parameters) to a stream (e.g. inside a training checkpoint).</summary>
    public void Save(Stream stream, bool includeParameters = true) => StateFile.Write(this, stream, includeParameters);

    /// <summary>
    /// Restores a state written by <see cref="Save(string, bool)"/>: hyperparameters, step counts, states and (if present)
    /// parameters. A corrupt, truncated or mismatched file throws <see cref="StateFileException"/> and changes nothing.
    /// </summary>
    public void Load(string path) => StateFile.Load(this, path);

    /// <summary>Restores a state from bytes (e.g. read from a training checkpoint); <paramref name="source"/> names them in errors.</summary>
    public void Load(ReadOnlySpan<byte> bytes, string source) => StateFile.Load(this, bytes, source);

    /// <inheritdoc />
    public override string ToString() =>
        $"{Descriptor.Name} ({Options.Mode.ToString().ToLowerInvariant()}, {IsaSupport.Name(Isa)}, {Options.Threads} thread{(Options.Threads == 1 ? "" : "s")}, {_arena.Tensors.Count} tensors, {_arena.ParameterCount:N0} parameters)";

    /// <inheritdoc />
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        _pool.Dispose();
        foreach (var s in _states)
        {
            s?.Dispose();
        }

        if (_scratch is not null)
        {
            foreach (var s in _scratch)
            {
                s.Dispose();
            }
        }

        foreach (var p in _scalars)
        {
            NativeMemory.AlignedFree(p);
        }
    }

    void IParallelWork.Execute(int part)
    {
        switch (_phase)
        {
            case Phase.Reduce:
                var (s, e) = Partition.Of(_arena.Length, part, _pool.Count);
                _partials[part * 8] = Reductions.SumOfSquares(_arena.Grads.Pointer + s, e - s);
                break;
            case Phase.Fill:
                FillRange(part);
                break;
            case Phase.Sweep:
                for (int g = 0; g < _rules.Length; g++)
                {
                    var group = _arena.Groups[g];
                    RunRange(g, group.Start, group.Length, part);
                }

                break;
            default:
                RunRange(_rangeGroup, _rangeStart, _rangeLength, part);
                break;
        }
    }

    /// <summary>True when a step needs the global sum of squared gradients (to skip on non-finite or to clip).</summary>
    internal static bool NeedsGradNorm(OptimizerOptions options) => options.SkipNonFinite || options.MaxGradNorm is not null;

    /// <summary>Checks <paramref name="lossScale"/> and returns 1 / <paramref name="lossScale"/>, the unscaling factor.</summary>
    internal static double UnscaleFactor(double lossScale) =>
        lossScale > 0 && !double.IsInfinity(lossScale)
            ? 1 / lossScale
            : throw new ArgumentOutOfRangeException(nameof(lossScale), lossScale, $"The loss scale must be finite and > 0, got {lossScale}.");

    /// <summary>
    /// The step's gradient-norm logic, shared by every step path (host and device): from the float64 sum of squared
    /// (still loss-scaled) gradients, computes the unscaled norm, multiplies <paramref name="scale"/> by the clipping
    /// coefficient when <see cref="OptimizerOptions.MaxGradNorm"/> is exceeded, and returns true when the step must be
    /// skipped because a gradient is not finite and <see cref="OptimizerOptions.SkipNonFinite"/> is set.
    /// </summary>
    internal static bool ApplyGradNorm(OptimizerOptions options, double sumSquares, ref double scale, out double? norm)
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

    internal IOptimizerRule[] Rules => _rules;

    internal long[] Steps => _steps;

    internal double[][] StepStates => _stepStates;

    internal AlignedBuffer?[] States => _states;

    /// <summary>Replaces the whole optimizer state at once; used by <see cref="StateFile"/> after validation.</summary>
    internal void Restore(IOptimizerRule[] rules, long[] steps, double[][] stepStates)
    {
        for (int g = 0; g < _rules.Length; g++)
        {
            _rules[g] = rules[g];
            _steps[g] = steps[g];
            stepStates[g].CopyTo(_stepStates[g], 0);
        }

        EnsureStates();
    }

    /// <summary>
    /// Allocates state <paramref name="index"/> if needed, filled group by group with its initial value. The fill runs on
    /// the worker pool with the step's partition, so each page is first touched by the thread that will update it
    /// (NUMA-local placement on multi-socket machines; no cost on one socket).
    /// </summary>
    internal AlignedBuffer EnsureState(int index)
    {
        if (_states[index] is { } existing)
        {
            return existing;
        }

        var buffer = new AlignedBuffer(_arena.Length, clear: false);
        _fillBuffer = buffer;
        _fillState = index;
        _phase = Phase.Fill;
        _pool.Run(this);
        _fillBuffer = null;
        _states[index] = buffer;
        return buffer;
    }

    /// <summary>
    /// Refills state <paramref name="index"/>, when it is allocated, with its declared initial value under the current
    /// rules: what a fresh optimizer would hold for a state that a loaded file does not carry.
    /// </summary>
    internal void ResetState(int index)
    {
        if (_states[index] is not { } buffer)
        {
            return;
        }

        _fillBuffer = buffer;
        _fillState = index;
        _phase = Phase.Fill;
        _pool.Run(this);
        _fillBuffer = null;
    }

    private float InitialValue(int state, int group)
    {
        var info = Descriptor.States[state];
        return (float)(info.InitialFrom is null
            ? info.InitialValue
            : _rules[group].GetHyperparameters()[Descriptor.IndexOfHyperparameter(info.InitialFrom)]);
    }

    /// <summary>Fills this part's slice of every group (the groups tile the arena, so every element is written).</summary>
    private void FillRange(int part)
    {
        var buffer = _fillBuffer!;
        for (int g = 0; g < _rules.Length; g++)
        {
            var group = _arena.Groups[g];
            var (s, e) = Partition.Of(group.Length, part, _pool.Count);
            buffer.Slice(group.Start + s, e - s).Fill(InitialValue(_fillState, g));
        }

    }

    private void EnsureStates()
    {
        for (int s = 0; s < _states.Length; s++)
        {
            if (_states[s] is null && _rules.Any(r => r is not null && r.IsStateNeeded(s)))
            {
                EnsureState(s);
            }
        }
    }

    private void RunRange(int group, long start, long length, int part)
    {
        var (s, e) = Partition.Of(length, part, _pool.Count);
        if (s >= e)
        {
            return;
        }

        StepFrame frame = default;
        frame.PPtr = _arena.Params.Pointer;
        frame.GPtr = _arena.Grads.Pointer;
        frame.ScalarsPtr = _scalars[group];
        frame.GradScale = _gradScale;
        for (int i = 0; i < _states.Length; i++)
        {
            frame.States[i] = _states[i] is { } b ? (nint)b.Pointer : 0;
        }

        if (Options.Mode == StepMode.Fused)
        {
            _rules[group].RunFused(Isa, _flags[group], in frame, (nint)(start + s), (nint)(start + e));
        }
        else
        {
            var scratch = Scratch(part);
            _rules[group].RunNaive(_flags[group], in frame, (nint)(start + s), (nint)(start + e), scratch);
        }
    }

    private NaiveScratch Scratch(int part)
    {
        if (_scratch is null)
        {
            // Each part needs temporaries as long as its largest slice of any group or tensor.
            long longest = _arena.Groups.Max(static g => g.Length);
            long capacity = Partition.Of(longest, 0, _pool.Count).End;
            var scratch = new NaiveScratch[_pool.Count];
            for (int i = 0; i < scratch.Length; i++)
            {
                scratch[i] = new NaiveScratch(Descriptor.NaiveTemporaries, Math.Max(capacity, Partition.Granule));
            }

            _scratch = scratch;
        }

        return _scratch[part];
    }
}

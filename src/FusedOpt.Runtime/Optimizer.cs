using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;
using System.Threading;
using FusedOpt.Kernels;
using FusedOpt.Memory;
using FusedOpt.State;
using FusedOpt.Storage;
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

    /// <summary>
    /// How the per-element states are stored: float32 (as declared), bfloat16, or blockwise dynamic 8-bit (q8, as
    /// bitsandbytes does it). Parameters and gradients stay float32 and the kernels compute in float32 either way;
    /// see docs/compressed-states.md. CPU only: the device executors refuse anything but <see cref="Storage.StateStorage.Fp32"/>.
    /// </summary>
    public Storage.StateStorage StateStorage { get; init; } = Storage.StateStorage.Fp32;

    /// <summary>
    /// bf16 states only: round stored values stochastically (unbiased) instead of to nearest-even, with bits from a
    /// counter-based generator keyed by <see cref="RoundingSeed"/>, the state, the step and the element, so a seed gives
    /// the same bits for any thread count.
    /// </summary>
    public bool StochasticRounding { get; init; }

    /// <summary>The seed of <see cref="StochasticRounding"/>'s generator.</summary>
    public ulong RoundingSeed { get; init; }

    /// <summary>
    /// q8 states only: tensors with fewer elements keep float32 states (bitsandbytes' <c>min_8bit_size</c>, 4096 there
    /// too). A small tensor saves little memory, and in a 256-element block a value far below the block's largest is
    /// stored as 0 — for Adam's v that turns the step into lr·m/ε. 0 quantizes every tensor.
    /// </summary>
    public long Q8MinElements { get; init; } = 4096;

    /// <summary>
    /// q8 states only, opt-in: a positive value of a state coded with the unsigned map (a <c>[NonNegative]</c> state such
    /// as Adam's v, AdaBelief's s) is never stored as 0. bitsandbytes' quantizer (the default) codes a value at or below
    /// half the smallest nonzero code (1.6·10⁻⁷ of its block's absmax) as 0; with this option it gets code 1, the smallest
    /// nonzero code, instead. Signed states (m) are unchanged. Where Adam's v would be stored as 0 while m is not and the
    /// next gradient is 0, the step is lr·m̂/ε (thousands of lr with ε = 1e-8); with the option v stays at least
    /// 3.25·10⁻⁷·absmax(v), which bounds that step by lr·|m̂|·√(1 − β₂ᵗ)/√(β₂·3.25·10⁻⁷·absmax(v)) (docs/compressed-states.md,
    /// "The v floor in training"). State files are unchanged: the codes are ordinary codes.
    /// </summary>
    public bool Q8KeepPositive { get; init; }
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
/// <remarks>
/// The CPU executor of an <see cref="OptimizerCore"/>: the core holds rules, step counts, per-step states, scalars and
/// the gradient-norm policy; this class holds the per-element state buffers and runs sweeps, reductions and fills as
/// small work items on its <see cref="WorkerPool"/>.
/// <para>
/// Compressed states (<see cref="OptimizerOptions.StateStorage"/> bf16 or q8): bf16 rounded to nearest runs in the
/// generated loops themselves — their state loads and stores are a type argument (<see cref="IStateAccess"/>), so the
/// words are widened and rounded in registers. q8 and stochastically rounded bf16 are staged through L1: each thread
/// takes its range a tile of <see cref="StageTile"/> elements at a time, decodes the tile's states into a per-thread
/// float32 buffer, runs the same generated kernel on it, and encodes (requantizes q8 block by block) the results back.
/// Either way memory sees only the compressed bytes, in one pass, and every declaration gets it unchanged. q8 blocks
/// start at each tensor's offset, so a q8 step sweeps tensor by tensor and thread ranges cut on block boundaries.
/// </para>
/// </remarks>
/// <example>
/// <code>
/// using var opt = new Optimizer(arena, new Adam(Lr: 3e-4f), new() { Threads = 2 });
/// opt.Step();                       // one fused pass over p, g, m, v
/// opt.SetRule(1, new Adam(Lr: 1e-4f) with { WeightDecay = 0.01f });   // group 1's hyperparameters
/// var lr = opt.Hyperparameter("lr"); lr.Set(1e-4);                    // a schedule: allocates nothing
/// </code>
/// </example>
public sealed unsafe class Optimizer : IDisposable, IOptimizerExecutor, IOptimizerStateStore
{
    private readonly OptimizerCore _core;
    private readonly ParameterArena _arena;
    private readonly AlignedBuffer?[] _states;
    private readonly PackedState?[]? _packed;
    private readonly AlignedBuffer?[]? _shadow;
    private readonly AlignedBuffer[]? _staging;
    private readonly Q8Layout? _blocks;
    private readonly StochasticKey[]? _roundingKeys;
    private readonly long _granule;
    private readonly WorkerPool _pool;
    private readonly SweepWork _sweep;
    private readonly GradNormWork _gradNorm;
    private readonly FillWork _fill;
    private readonly StepSlice[] _groupSlices;
    private readonly StepSlice[] _tensorSlices;
    private readonly bool[] _stepped;
    private NaiveScratch[]? _scratch;
    private int _steppedCount;
    private int _zeroedCount;
    private float _openGradScale;
    private double _openScale;
    private bool _disposed;

    /// <summary>Creates an optimizer whose every group starts with the hyperparameters of <paramref name="rule"/>.</summary>
    public Optimizer(ParameterArena arena, IOptimizerRule rule, OptimizerOptions? options = null)
        : this(arena, Enumerable.Repeat(rule ?? throw new ArgumentNullException(nameof(rule)), arena?.Groups.Length ?? 0).ToArray(), options)
    {
    }

    /// <summary>Creates an optimizer with one rule (hyperparameter set) per parameter group of the arena.</summary>
    public Optimizer(ParameterArena arena, IReadOnlyList<IOptimizerRule> groupRules, OptimizerOptions? options = null)
    {
        _core = new OptimizerCore(arena, groupRules, options);
        try
        {
            Isa = IsaSupport.Resolve(Options.Isa);
            _arena = arena;
            _states = new AlignedBuffer?[Descriptor.States.Count];
            var storage = Options.StateStorage;
            _granule = storage switch { StateStorage.Q8 => Q8.BlockSize, StateStorage.Bf16 => 2 * Partition.Granule, _ => Partition.Granule };
            _blocks = storage == StateStorage.Q8 ? new Q8Layout(arena, Options.Q8MinElements) : null;
            _groupSlices = arena.Groups.Select(static g => new StepSlice(g.Index, g.Start, g.Length, -1)).ToArray();
            _tensorSlices = arena.Tensors.Select(static t => new StepSlice(t.Group, t.Offset, t.Length, t.Index)).ToArray();
            _stepped = new bool[_tensorSlices.Length];
            if (storage != StateStorage.Fp32)
            {
                _packed = new PackedState?[_states.Length];
                _shadow = new AlignedBuffer?[_states.Length];
                _roundingKeys = Options.StochasticRounding
                    ? Enumerable.Range(0, _states.Length).Select(k => Bf16.KeyFor(Options.RoundingSeed, (uint)k)).ToArray()
                    : null;
                if (!InRegisterBf16)
                {
                    // One float32 tile per state per thread for the staged step (bf16 to nearest needs none).
                    _staging = new AlignedBuffer[Math.Max(0, Options.Threads)];
                    for (int part = 0; part < _staging.Length; part++)
                    {
                        _staging[part] = new AlignedBuffer(Math.Max(1, _states.Length) * StageTile);
                    }
                }
            }

            // Last: nothing after it can fail, so a failed constructor never leaves parked worker threads behind.
            _pool = new WorkerPool(Options.Threads);
        }
        catch
        {
            foreach (var buffer in _staging ?? [])
            {
                buffer?.Dispose();
            }

            _core.Dispose();
            throw;
        }

        _sweep = new SweepWork(this);
        _gradNorm = new GradNormWork(this);
        _fill = new FillWork(this);
        _core.Attach(this);
    }

    /// <summary>The declaration every group uses.</summary>
    public OptimizerDescriptor Descriptor => _core.Descriptor;

    /// <summary>The options given at construction.</summary>
    public OptimizerOptions Options => _core.Options;

    /// <summary>The instruction set the fused kernels run with.</summary>
    public Isa Isa { get; }

    /// <summary>The arena being optimised.</summary>
    public ParameterArena Arena => _arena;

    /// <summary>Number of parameter groups.</summary>
    public int GroupCount => _core.GroupCount;

    /// <summary>The hyperparameters of a group.</summary>
    public IOptimizerRule GetRule(int group) => _core.PublishRule(group);

    /// <summary>
    /// Replaces the hyperparameters of a group. The rule must be of the same declaration and valid; states it newly
    /// needs are allocated at their initial value. (A schedule that changes one value every step should use
    /// <see cref="Hyperparameter"/>, which allocates nothing.)
    /// </summary>
    public void SetRule(int group, IOptimizerRule rule) => _core.SetRule(group, rule);

    /// <summary>
    /// Sets one hyperparameter (PascalCase or snake_case name) on every group, or on one group: what a learning-rate
    /// schedule calls before each step. The new value is validated like any other; nothing is allocated.
    /// </summary>
    public void SetHyperparameter(string name, double value, int? group = null) =>
        _core.SetHyperparameter(_core.RequireHyperparameter(name), value, group);

    /// <summary>A hyperparameter's value in a group.</summary>
    public double GetHyperparameter(string name, int group = 0)
    {
        int index = _core.IndexOfHyperparameter(name);
        return index < 0
            ? throw new HyperparameterException($"{Descriptor.Name}: unknown hyperparameter '{name}'.", name)
            : _core.Hyperparameters(group)[index];
    }

    /// <summary>A handle on one hyperparameter (PascalCase or snake_case name), looked up once, to set it every step.</summary>
    public HyperparameterHandle Hyperparameter(string name) => new(_core, _core.RequireHyperparameter(name));

    /// <summary>The number of steps group <paramref name="group"/> has taken.</summary>
    public long GetStepCount(int group = 0) => _core.Steps[group];

    /// <summary>The per-step states of a group (e.g. NAdam's μ product), read only.</summary>
    public ReadOnlySpan<double> GetStepStates(int group = 0) => _core.StepStates(group);

    /// <summary>
    /// A float32 per-element state buffer by index, or null when these hyperparameters never use it. Compressed states
    /// (bf16, q8) have no float32 buffer: read them with <see cref="CopyState"/>.
    /// </summary>
    /// <exception cref="InvalidOperationException">The state is stored compressed.</exception>
    public AlignedBuffer? GetState(int index) =>
        _packed?[index] is not null ? throw CompressedState(Descriptor.States[index].Name) : _states[index];

    /// <summary>
    /// The part of a named float32 state that belongs to one tensor, live (writes change the state). Compressed states
    /// are read with <see cref="CopyState"/>.
    /// </summary>
    public Span<float> GetState(string name, TensorSlot tensor)
    {
        CheckOwnTensor(tensor);
        int i = StateIndex(name);
        if (_packed?[i] is not null)
        {
            throw CompressedState(name);
        }

        var buffer = _states[i] ?? throw new InvalidOperationException($"State '{name}' is not used with the current hyperparameters.");
        return buffer.Slice(tensor.Offset, tensor.Length);
    }

    /// <summary>How the per-element states are stored (<see cref="OptimizerOptions.StateStorage"/>).</summary>
    public StateStorage StateStorage => Options.StateStorage;

    /// <summary>
    /// Copies the float32 values of a named state for one tensor into <paramref name="destination"/> (its length), for any
    /// storage: a bf16 state is widened, a q8 state dequantized.
    /// </summary>
    public void CopyState(string name, TensorSlot tensor, Span<float> destination)
    {
        CheckOwnTensor(tensor);
        int i = StateIndex(name);
        if (destination.Length != tensor.Length)
        {
            throw new ArgumentException($"Tensor '{tensor.Name}' has {tensor.Length} elements; the destination holds {destination.Length}.", nameof(destination));
        }

        if (_packed?[i] is { } packed)
        {
            fixed (float* d = destination)
            {
                packed.Decode(tensor.Offset, tensor.Length, tensor.Index, d, Isa.Scalar);
            }

            return;
        }

        var buffer = _states[i] ?? throw new InvalidOperationException($"State '{name}' is not used with the current hyperparameters.");
        buffer.Slice(tensor.Offset, tensor.Length).CopyTo(destination);
    }

    /// <summary>
    /// Bytes one fused step moves per parameter with this instance's state storage: the parameter read and written, the
    /// gradient read, and every used state read and/or written at its stored size (Adam: 28 with fp32 states, 20 with
    /// bf16, about 16.06 with q8 — a code byte plus a 4-byte absmax per 256 elements; tensors under the q8 threshold
    /// count their float32 states).
    /// </summary>
    public double TrafficBytesPerParameter
    {
        get
        {
            double perState = StateStorages.BytesPerElement(Options.StateStorage);
            if (_blocks is { } layout && _arena.ParameterCount > 0)
            {
                // q8: the quantized tensors' codes and absmax values, the small tensors' float32 values.
                perState = (double)((_arena.ParameterCount - layout.PlainCount) + (4 * layout.BlockCount) + (4 * layout.PlainCount)) / _arena.ParameterCount;
            }

            double bytes = 4 + 4 + (Descriptor.ReadsParameter ? 4 : 0);
            for (int k = 0; k < _states.Length; k++)
            {
                if (HasState(k))
                {
                    bytes += perState * ((Descriptor.States[k].IsRead ? 1 : 0) + (Descriptor.States[k].IsWritten ? 1 : 0));
                }
            }

            return bytes;
        }
    }

    /// <summary>
    /// Bytes one step moves per parameter with float32 states: the parameter read and written, the gradient read, and
    /// every used state read and/or written (Adam: 28). <see cref="TrafficBytesPerParameter"/> counts the stored size.
    /// </summary>
    public int BytesPerParameter => OptimizerCore.BytesPerParameterOf(Descriptor, HasState);

    /// <summary>Bytes a step of <paramref name="rule"/> moves per parameter with its hyperparameters (Adam: 28, with AMSGrad: 36).</summary>
    public static int BytesPerParameterOf(IOptimizerRule rule)
    {
        ArgumentNullException.ThrowIfNull(rule);
        return OptimizerCore.BytesPerParameterOf(rule.Descriptor, rule.IsStateNeeded);
    }

    /// <summary>
    /// Takes one step. Gradients are divided by <paramref name="lossScale"/> as they are read (mixed-precision
    /// unscaling), clipped to <see cref="OptimizerOptions.MaxGradNorm"/> if set, and — with
    /// <see cref="OptimizerOptions.SkipNonFinite"/> — a non-finite gradient anywhere skips the whole step.
    /// </summary>
    public StepResult Step(double lossScale = 1)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        GradientsZeroed = false;
        return _core.Step(lossScale);
    }

    /// <summary>
    /// Begins a step that is taken tensor by tensor as the gradients become complete (the step inside backward): runs
    /// every group's prologue (step-invariant scalars, switch bits) and counts the step, as <see cref="Step"/> does before
    /// its sweep. Then call <see cref="StepTensors(int, int, bool)"/> or <see cref="StepTensor"/> once for every tensor of the arena, in
    /// any order, and <see cref="EndStep"/>. The result is bit-identical to <see cref="Step"/> with the same loss scale:
    /// the kernels are element-wise, and every element sees the same scalars.
    /// </summary>
    /// <param name="lossScale">As for <see cref="Step"/>: gradients are divided by it as they are read.</param>
    /// <exception cref="NotSupportedException">
    /// <see cref="OptimizerOptions.MaxGradNorm"/> or <see cref="OptimizerOptions.SkipNonFinite"/> is set: both need the
    /// whole gradient before the first tensor is stepped.
    /// </exception>
    /// <exception cref="InvalidOperationException">A step is already open.</exception>
    public void BeginStep(double lossScale = 1)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        _openGradScale = _core.BeginPartialStep(lossScale);
        _openScale = 1 / lossScale;
        Array.Clear(_stepped);
        _steppedCount = 0;
        _zeroedCount = 0;
        GradientsZeroed = false;
    }

    /// <summary>
    /// True when the last step was a step inside backward whose every tensor was stepped with
    /// <c>zeroGradients</c> (<see cref="StepTensors(int, int, bool)"/>): every gradient of the arena is 0 (padding is never
    /// written), so the next batch need not zero them. False after <see cref="Step"/>, from <see cref="BeginStep"/> on, and
    /// after a step that did not zero them all. Gradients written by anyone else since are not seen.
    /// </summary>
    public bool GradientsZeroed { get; private set; }

    /// <summary>True between <see cref="BeginStep"/> and <see cref="EndStep"/>.</summary>
    public bool IsStepOpen => _core.IsPartialStepOpen;

    /// <summary>
    /// Steps tensors [<paramref name="first"/>, <paramref name="first"/> + <paramref name="count"/>) of the arena (by
    /// registration index) in the open step: one dispatch on the worker pool, each thread taking its share of each
    /// tensor, as <see cref="SweepMode.PerTensor"/> partitions them. Allocates nothing.
    /// </summary>
    /// <exception cref="InvalidOperationException">No step is open, or one of the tensors was already stepped in it.</exception>
    public void StepTensors(int first, int count) => StepTensors(first, count, zeroGradients: false);

    /// <summary>
    /// As <see cref="StepTensors(int, int)"/>; with <paramref name="zeroGradients"/> each thread also zeroes the
    /// gradients it has just stepped, 16K elements at a time while they are still in its cache — so a training loop that
    /// steps inside backward needs no separate zeroing pass over every gradient before the next batch. Parameters and
    /// states are the same bits either way.
    /// </summary>
    public void StepTensors(int first, int count, bool zeroGradients)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!_core.IsPartialStepOpen)
        {
            throw new InvalidOperationException("No step is open: call BeginStep before stepping tensors, and EndStep after the last one.");
        }

        if (first < 0 || count < 0 || first > _tensorSlices.Length - count)
        {
            throw new ArgumentOutOfRangeException(nameof(first), first, $"Tensors [{first}, {first + count}) are not all in the arena, which has {_tensorSlices.Length} tensors.");
        }

        for (int t = first; t < first + count; t++)
        {
            if (_stepped[t])
            {
                throw new InvalidOperationException($"Tensor '{_arena.Tensors[t].Name}' was already stepped in this step; each tensor is stepped once per step.");
            }
        }

        if (count == 0)
        {
            return;
        }

        for (int t = first; t < first + count; t++)
        {
            _stepped[t] = true;
        }

        _steppedCount += count;
        _zeroedCount += zeroGradients ? count : 0;
        _sweep.GradScale = _openGradScale;
        _sweep.ZeroGradients = zeroGradients;
        _sweep.Slices = new ArraySegment<StepSlice>(_tensorSlices, first, count);
        long elements = 0;
        for (int t = first; t < first + count; t++)
        {
            elements += _tensorSlices[t].Length;
        }

        if (elements < InlineStepElements)
        {
            // A small layer (a bias, a BatchNorm's γ and β): every part on this thread, one after another. The same
            // partition, so the same bits, without waking the pool for a few microseconds of work — a wake-up that
            // costs a scheduler slice when the cores are oversubscribed.
            for (int part = 0; part < _pool.Count; part++)
            {
                _sweep.Execute(part);
            }
        }
        else
        {
            _pool.Run(_sweep);
        }
    }

    /// <summary>Below this many elements, <see cref="StepTensors(int, int, bool)"/> runs every part on the calling thread instead of the pool.</summary>
    internal const long InlineStepElements = 1 << 16;

    /// <summary>Steps one tensor of the arena in the open step; see <see cref="StepTensors(int, int, bool)"/>.</summary>
    public void StepTensor(TensorSlot tensor)
    {
        CheckOwnTensor(tensor);
        StepTensors(tensor.Index, 1);
    }

    private void CheckOwnTensor(TensorSlot tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        if ((uint)tensor.Index >= (uint)_tensorSlices.Length || !ReferenceEquals(_arena.Tensors[tensor.Index], tensor))
        {
            throw new ArgumentException($"Tensor '{tensor.Name}' is not in this optimizer's arena.", nameof(tensor));
        }
    }

    /// <summary>
    /// Ends the step <see cref="BeginStep"/> opened. Every tensor must have been stepped: otherwise the step is still
    /// closed (its count has advanced), and an <see cref="InvalidOperationException"/> names the tensors left out, whose
    /// parameters and states kept their values.
    /// </summary>
    public StepResult EndStep()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        _core.EndPartialStep();
        if (_steppedCount != _tensorSlices.Length)
        {
            var missing = Enumerable.Range(0, _tensorSlices.Length).Where(t => !_stepped[t]).Select(t => _arena.Tensors[t].Name).ToList();
            throw new InvalidOperationException(
                $"The step ended with {missing.Count} of {_tensorSlices.Length} tensors not stepped ({string.Join(", ", missing.Take(5))}{(missing.Count > 5 ? ", …" : "")}); they kept their values, but the step was counted.");
        }

        GradientsZeroed = _zeroedCount == _tensorSlices.Length;
        return new StepResult(false, _core.Steps[0], null, _openScale);
    }

    /// <summary>The global sum of squared gradients in float64 (NaN or ∞ when any gradient is not finite).</summary>
    public double GradSumOfSquares()
    {
        _pool.Run(_gradNorm);
        return _gradNorm.Sum();
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

        foreach (var s in _packed ?? [])
        {
            s?.Dispose();
        }

        foreach (var s in _shadow ?? [])
        {
            s?.Dispose();
        }

        foreach (var s in _staging ?? [])
        {
            s.Dispose();
        }

        if (_scratch is not null)
        {
            foreach (var s in _scratch)
            {
                s.Dispose();
            }
        }

        _core.Dispose();
    }

    /// <summary>The shared per-group state (rules, steps, scalars) this executor runs.</summary>
    internal OptimizerCore Core => _core;

    internal AlignedBuffer?[] States => _states;

    /// <summary>Replaces the whole optimizer state at once; used by <see cref="StateFile"/> after validation.</summary>
    internal void Restore(IOptimizerRule[] rules, long[] steps, double[][] stepStates) => _core.Restore(rules, steps, stepStates);

    /// <summary>
    /// Allocates state <paramref name="index"/> if needed, filled group by group with its initial value. The fill runs on
    /// the worker pool with the step's partition, so each page is first touched by the thread that will update it
    /// (NUMA-local placement on multi-socket machines; no cost on one socket).
    /// </summary>
    internal AlignedBuffer EnsureState(int index)
    {
        if (_packed is not null)
        {
            throw CompressedState(Descriptor.States[index].Name);
        }

        if (_states[index] is { } existing)
        {
            return existing;
        }

        var buffer = new AlignedBuffer(_arena.Length, clear: false);
        Fill(buffer, index);
        _states[index] = buffer;
        return buffer;
    }

    /// <summary>Allocates a compressed state (filled with its initial value) and, for the naive mode, its float32 shadow.</summary>
    private PackedState EnsurePacked(int index)
    {
        if (_packed![index] is { } existing)
        {
            return existing;
        }

        var format = StateFormats.Of(Options.StateStorage, Descriptor.States[index].NonNegative);
        var packed = new PackedState(_arena, format, _blocks, keepPositive: Options.Q8KeepPositive && format == StateFormat.Q8Unsigned);
        try
        {
            FillPacked(packed, index);
            if (Options.Mode == StepMode.Naive)
            {
                _shadow![index] = new AlignedBuffer(_arena.Length);
            }
        }
        catch
        {
            packed.Dispose();
            throw;
        }

        _packed[index] = packed;
        return packed;
    }

    /// <summary>
    /// Refills state <paramref name="index"/>, when it is allocated, with its declared initial value under the current
    /// rules: what a fresh optimizer would hold for a state that a loaded file does not carry.
    /// </summary>
    internal void ResetState(int index)
    {
        if (_packed?[index] is { } packed)
        {
            FillPacked(packed, index);
        }
        else if (_states[index] is { } buffer)
        {
            Fill(buffer, index);
        }
    }

    /// <summary>
    /// bf16 states rounded to nearest in the fused mode: the generated loops convert in registers (a type argument,
    /// <see cref="Bf16States"/>). Stochastic rounding, q8 and the naive baseline are staged (<see cref="RunStaged"/>).
    /// </summary>
    private bool InRegisterBf16 => Options.StateStorage == StateStorage.Bf16 && !Options.StochasticRounding && Options.Mode == StepMode.Fused;

    /// <summary>Elements per tile of the staged step over compressed states (a multiple of q8's block).</summary>
    internal const int StageTile = 8 * Q8.BlockSize;

    /// <summary>The raw memory of state <paramref name="index"/> in its stored form (for the same-traffic probe); empty when not allocated.</summary>
    internal IReadOnlyList<(nint Pointer, long Bytes)> StateRegions(int index)
    {
        if (_packed?[index] is { } packed)
        {
            return packed.MemoryRegions();
        }

        return _states[index] is { } buffer ? [((nint)buffer.Pointer, buffer.Length * sizeof(float))] : [];
    }

    private bool HasState(int index) => _states[index] is not null || _packed?[index] is not null;

    private int StateIndex(string name)
    {
        for (int i = 0; i < Descriptor.States.Count; i++)
        {
            if (Descriptor.States[i].Name == name)
            {
                return i;
            }
        }

        throw new ArgumentException($"{Descriptor.Name} has no state '{name}'; its states are {string.Join(", ", Descriptor.States.Select(static s => s.Name))}.", nameof(name));
    }

    private InvalidOperationException CompressedState(string name) =>
        new($"State '{name}' is stored as {StateStorages.Name(Options.StateStorage)}, not as a float32 buffer; read its values with CopyState.");

    long IOptimizerStateStore.GetStepCount(int group) => _core.Steps[group];

    ReadOnlySpan<double> IOptimizerStateStore.GetHyperparameterValues(int group) => _core.Hyperparameters(group);

    StateFormat IOptimizerStateStore.GetStateFormat(int index) =>
        _packed?[index] is { } packed ? packed.Format : _states[index] is null ? StateFormat.None : StateFormat.Float32;

    void IOptimizerStateStore.ReadParameters(long byteOffset, Span<byte> destination) => CopyOut(_arena.Params, byteOffset, destination);

    long IOptimizerStateStore.GetStateByteCount(int index) =>
        _packed?[index] is { } packed ? packed.ByteCount : _states[index] is null ? 0 : _arena.Length * sizeof(float);

    void IOptimizerStateStore.ReadState(int index, long byteOffset, Span<byte> destination)
    {
        if (_packed?[index] is { } packed)
        {
            packed.ReadStored(byteOffset, destination);
            return;
        }

        CopyOut(_states[index] ?? throw new InvalidOperationException($"State '{Descriptor.States[index].Name}' is not allocated."), byteOffset, destination);
    }

    void IOptimizerStateStore.Restore(IReadOnlyList<IOptimizerRule> rules, ReadOnlySpan<long> steps, IReadOnlyList<double[]> stepStates) =>
        _core.Restore(rules, steps, stepStates);

    void IOptimizerStateStore.WriteParameters(ReadOnlySpan<byte> bytes) => MemoryMarshal.Cast<byte, float>(bytes).CopyTo(_arena.Params.Span);

    void IOptimizerStateStore.WriteState(int index, StateFormat storage, ReadOnlySpan<byte> bytes)
    {
        // A state saved in another storage is converted through float32 (widened exactly, or rounded/quantized).
        if (_packed is not null)
        {
            var packed = EnsurePacked(index);
            if (storage != packed.Format || !packed.TryWriteStored(bytes))
            {
                packed.EncodeAll(StateFormats.ToFloat32(storage, bytes, _arena));
            }

            return;
        }

        MemoryMarshal.Cast<byte, float>(StateFormats.AsFloat32(storage, bytes, _arena)).CopyTo(EnsureState(index).Span);
    }

    void IOptimizerStateStore.ResetState(int index) => ResetState(index);

    private static void CopyOut(AlignedBuffer buffer, long byteOffset, Span<byte> destination)
    {
        if (byteOffset < 0 || byteOffset + destination.Length > buffer.Length * sizeof(float))
        {
            throw new ArgumentOutOfRangeException(nameof(byteOffset), byteOffset, $"Bytes [{byteOffset}, {byteOffset + destination.Length}) are outside a buffer of {buffer.Length * sizeof(float)} bytes.");
        }

        new ReadOnlySpan<byte>((byte*)buffer.Pointer + byteOffset, destination.Length).CopyTo(destination);
    }

    bool IOptimizerExecutor.HasState(int index) => HasState(index);

    void IOptimizerExecutor.AllocateState(int index)
    {
        if (_packed is not null)
        {
            EnsurePacked(index);
        }
        else
        {
            EnsureState(index);
        }
    }

    void IOptimizerExecutor.Run(float gradScale)
    {
        _sweep.GradScale = gradScale;
        _sweep.ZeroGradients = false;
        if (Options.Sweep == SweepMode.PerTensor)
        {
            // One dispatch (and one barrier) per tensor, as a per-parameter for-loop does.
            for (int t = 0; t < _tensorSlices.Length; t++)
            {
                _sweep.Slices = new ArraySegment<StepSlice>(_tensorSlices, t, 1);
                _pool.Run(_sweep);
            }
        }
        else
        {
            // q8 blocks start at each tensor's offset, so a q8 sweep goes tensor by tensor (one dispatch for all).
            _sweep.Slices = _blocks is null ? _groupSlices : _tensorSlices;
            _pool.Run(_sweep);
        }
    }

    private void FillPacked(PackedState packed, int state)
    {
        var constant = new float[StageTile];
        fixed (float* values = constant)
        {
            foreach (var group in _arena.Groups)
            {
                constant.AsSpan().Fill(_core.InitialValue(state, group.Index));
                if (_blocks is null)
                {
                    for (long a = group.Start; a < group.Start + group.Length; a += StageTile)
                    {
                        packed.Encode(values, a, Math.Min(StageTile, group.Start + group.Length - a), -1, Isa);
                    }

                    continue;
                }

                foreach (var tensor in group.Tensors)
                {
                    long end = tensor.Offset + tensor.Length;
                    for (long a = tensor.Offset; a < end; a += StageTile)
                    {
                        packed.Encode(values, a, Math.Min(StageTile, end - a), tensor.Index, Isa);
                    }
                }
            }
        }
    }

    private void Fill(AlignedBuffer buffer, int state)
    {
        _fill.Buffer = buffer;
        _fill.State = state;
        try
        {
            _pool.Run(_fill);
        }
        finally
        {
            _fill.Buffer = null;
        }
    }

    /// <summary>Runs this part's share of one slice of the arena with its group's kernel.</summary>
    private void RunSlice(in StepSlice slice, float gradScale, int part, bool zeroGradients)
    {
        var (s, e) = Partition.Of(slice.Length, part, _pool.Count, _granule);
        if (!zeroGradients)
        {
            RunRange(in slice, gradScale, part, slice.Start + s, slice.Start + e);
            return;
        }

        for (long a = s; a < e; a += ZeroChunk)
        {
            long b = Math.Min(e, a + ZeroChunk);
            RunRange(in slice, gradScale, part, slice.Start + a, slice.Start + b);
            new Span<float>(_arena.Grads.Pointer + slice.Start + a, (int)(b - a)).Clear();
        }
    }

    /// <summary>Elements a thread steps before zeroing their gradients (a multiple of every partition granule).</summary>
    private const int ZeroChunk = 1 << 14;

    /// <summary>Steps elements [start, end) of a slice (one part's range, or a chunk of it).</summary>
    private void RunRange(in StepSlice slice, float gradScale, int part, long start, long end)
    {
        if (start >= end)
        {
            return;
        }

        StepFrame frame = default;
        frame.PPtr = _arena.Params.Pointer;
        frame.GPtr = _arena.Grads.Pointer;
        frame.ScalarsPtr = _core.ScalarsPointer(slice.Group);
        frame.GradScale = gradScale;
        for (int i = 0; i < _states.Length; i++)
        {
            frame.States[i] = _states[i] is { } b ? (nint)b.Pointer : 0;
        }

        var rule = _core.Rule(slice.Group);
        int flags = _core.Flags(slice.Group);
        if (_packed is not null && InRegisterBf16)
        {
            // bf16 rounded to nearest: the generated loops load and store the words themselves (Bf16States).
            for (int k = 0; k < _packed.Length; k++)
            {
                frame.States[k] = _packed[k] is { } words ? (nint)words.Elements : 0;
            }

            rule.RunFused(Isa, flags | StateAccessFlags.Bf16, in frame, (nint)start, (nint)end);
        }
        else if (_packed is not null)
        {
            RunStaged(in slice, ref frame, rule, flags, part, start, end);
        }
        else if (Options.Mode == StepMode.Fused)
        {
            rule.RunFused(Isa, flags, in frame, (nint)start, (nint)end);
        }
        else
        {
            rule.RunNaive(flags, in frame, (nint)start, (nint)end, Scratch(part));
        }
    }

    /// <summary>
    /// The step over compressed states, elements [start, end) of a slice: tile by tile (fused; the whole range for the
    /// naive baseline, through full-size float32 shadows), decode each state's tile, run the kernel on the float32
    /// values, encode what it wrote. A q8 range starts on a block of its tensor (the partition cuts on blocks).
    /// </summary>
    private void RunStaged(in StepSlice slice, ref StepFrame frame, IOptimizerRule rule, int flags, int part, long start, long end)
    {
        bool fused = Options.Mode == StepMode.Fused;
        long tile = fused ? StageTile : end - start;
        float* staging = fused ? _staging![part].Pointer : null;
        long step = _core.Steps[slice.Group];
        var states = Descriptor.States;
        Span<nint> tileOf = stackalloc nint[states.Count];
        for (long a = start; a < end; a += tile)
        {
            long b = Math.Min(end, a + tile);
            for (int k = 0; k < states.Count; k++)
            {
                // A state allocated earlier but not used by this rule now (vMax with AMSGrad switched off) is left as
                // stored: decoding and re-encoding it would not be exact for q8.
                if (_packed![k] is not { } packed || !rule.IsStateNeeded(k))
                {
                    frame.States[k] = 0;
                    tileOf[k] = 0;
                    continue;
                }

                // Fused: a tile buffer holding elements [a, b); naive: a full-size shadow with the arena's layout.
                float* values = fused ? staging + ((long)k * StageTile) : _shadow![k]!.Pointer + a;
                if (states[k].IsRead)
                {
                    packed.Decode(a, b - a, slice.Tensor, values, Isa);
                }

                tileOf[k] = (nint)values;
                frame.States[k] = (nint)(fused ? values : _shadow![k]!.Pointer);
            }

            if (fused)
            {
                // The kernel runs on [0, b − a) of a frame rebased to element a (every pointer inside its allocation).
                var rebased = frame;
                rebased.PPtr = frame.PPtr + a;
                rebased.GPtr = frame.GPtr + a;
                rule.RunFused(Isa, flags, in rebased, 0, (nint)(b - a));
            }
            else
            {
                rule.RunNaive(flags, in frame, (nint)a, (nint)b, Scratch(part));
            }

            for (int k = 0; k < states.Count; k++)
            {
                if (_packed![k] is { } packed && states[k].IsWritten && tileOf[k] != 0)
                {
                    var rounding = _roundingKeys is { } keys ? new StochasticRounding(true, keys[k], step) : default;
                    packed.Encode((float*)tileOf[k], a, b - a, slice.Tensor, Isa, in rounding);
                }
            }
        }
    }

    private NaiveScratch Scratch(int part)
    {
        if (Volatile.Read(ref _scratch) is null)
        {
            // Each part needs temporaries as long as its largest slice of any group or tensor.
            long longest = _arena.Groups.Max(static g => g.Length);
            long capacity = Partition.Of(longest, 0, _pool.Count, _granule).End;
            var scratch = new NaiveScratch[_pool.Count];
            for (int i = 0; i < scratch.Length; i++)
            {
                scratch[i] = new NaiveScratch(Descriptor.NaiveTemporaries, Math.Max(capacity, Partition.Granule));
            }

            // The first step's parts get here at the same time: one set wins. A losing set must not stay in use
            // unreferenced: its buffers' finalizers would free the memory under the thread still writing to it.
            if (Interlocked.CompareExchange(ref _scratch, scratch, null) is not null)
            {
                foreach (var s in scratch)
                {
                    s.Dispose();
                }
            }
        }

        return _scratch![part];
    }

    /// <summary>
    /// A contiguous run of the arena stepped with one group's rule: a whole group (arena sweep) or tensor
    /// <paramref name="Tensor"/> (<see cref="SweepMode.PerTensor"/>, q8 states, the step inside backward; −1 for a group).
    /// Part i of a pool of n always takes <see cref="Partition.Of(long, int, int, long)"/>(Length, i, n, granule): 16
    /// floats, 32 bf16 words or a 256-element q8 block.
    /// </summary>
    private readonly record struct StepSlice(int Group, long Start, long Length, int Tensor);

    /// <summary>The step: each part runs its share of every slice, in order.</summary>
    private sealed class SweepWork(Optimizer owner) : IParallelWork
    {
        public ArraySegment<StepSlice> Slices { get; set; }

        public float GradScale { get; set; }

        /// <summary>Zero each stepped gradient chunk right after stepping it (<see cref="StepTensors(int, int, bool)"/>).</summary>
        public bool ZeroGradients { get; set; }

        public void Execute(int part)
        {
            foreach (ref readonly var slice in Slices.AsSpan())
            {
                owner.RunSlice(in slice, GradScale, part, ZeroGradients);
            }
        }
    }

    /// <summary>The global sum of squared gradients: one float64 partial per part (a cache line apart), summed in part order.</summary>
    private sealed class GradNormWork(Optimizer owner) : IParallelWork
    {
        private readonly double[] _partials = new double[owner.Options.Threads * 8];

        public void Execute(int part)
        {
            var (s, e) = Partition.Of(owner._arena.Length, part, owner._pool.Count);
            _partials[part * 8] = Reductions.SumOfSquares(owner._arena.Grads.Pointer + s, e - s);
        }

        public double Sum()
        {
            double sum = 0;
            for (int part = 0; part < owner._pool.Count; part++)
            {
                sum += _partials[part * 8];
            }

            return sum;
        }
    }

    /// <summary>Fills a state buffer with its initial value: this part's slice of every group (the groups tile the arena).</summary>
    private sealed class FillWork(Optimizer owner) : IParallelWork
    {
        public AlignedBuffer? Buffer { get; set; }

        public int State { get; set; }

        public void Execute(int part)
        {
            var buffer = Buffer!;
            var groups = owner._arena.Groups;
            for (int g = 0; g < groups.Length; g++)
            {
                var group = groups[g];
                var (s, e) = Partition.Of(group.Length, part, owner._pool.Count);
                buffer.Slice(group.Start + s, e - s).Fill(owner._core.InitialValue(State, g));
            }
        }
    }
}

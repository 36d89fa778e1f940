using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using FusedOpt.State;
using FusedOpt.Memory;
using ILGPU;
using ILGPU.Runtime;
using RuleKernel = System.Action<
    ILGPU.Index1D,
    ILGPU.ArrayView<float>, ILGPU.ArrayView<float>,
    ILGPU.ArrayView<float>, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>,
    ILGPU.ArrayView<float>, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>,
    FusedOpt.Gpu.GpuArgs>;

namespace FusedOpt.Gpu;

/// <summary>
/// Steps a <see cref="ParameterArena"/> on an ILGPU accelerator (CUDA, OpenCL or ILGPU's CPU accelerator) with the
/// rule's generated GPU kernel. Parameters, gradients and every state the hyperparameters need live in device memory
/// with the arena's layout; a step is the host-side prologue (<c>Prepare</c>, in float64, per group) and one kernel
/// launch per parameter group, with no host round trip unless the step needs the gradient norm
/// (<see cref="OptimizerOptions.SkipNonFinite"/>, <see cref="OptimizerOptions.MaxGradNorm"/>), which is then one
/// device reduction read once.
/// </summary>
/// <remarks>
/// The host arena is the device's mirror: <see cref="UploadParameters"/> / <see cref="UploadGradients"/> copy it to
/// the device and <see cref="DownloadParameters"/> back. <see cref="Save"/> and <see cref="Load"/> write and read the
/// CPU path's state format (<see cref="State.StateFile"/>) straight from and to device memory, so a file saved here
/// loads on the CPU path and the other way round; both download the device parameters into the arena. The device is an
/// executor of an <see cref="OptimizerCore"/>, like <see cref="Optimizer"/>: rules, step counts, per-step states,
/// scalars and the gradient-norm policy are the core's. Of <see cref="OptimizerOptions"/> the device uses <c>SkipNonFinite</c>,
/// <c>MaxGradNorm</c> and <c>Sweep</c>; <c>Threads</c> and <c>Isa</c> are host settings.
/// </remarks>
/// <example>
/// <code>
/// using var session = GpuDevices.Open(DeviceSpec.Parse("cuda"));
/// using var opt = new DeviceOptimizer(session.Accelerator, arena, new Adam(Lr: 3e-4f));
/// opt.UploadGradients();   // or write opt.Gradients from a device backward pass
/// opt.Step();              // one launch per parameter group
/// opt.DownloadParameters();
/// </code>
/// </example>
public sealed class DeviceOptimizer : IDisposable, IDeviceStateBuffers, IDeviceSteps
{
    /// <summary>Most elements one launch covers; longer groups are launched in chunks of this size.</summary>
    public const int MaxLaunch = 1 << 30;

    private readonly OptimizerCore _core;
    private readonly Accelerator _accelerator;
    private readonly ParameterArena _arena;
    private readonly GpuArgs[] _args;
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _params;
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _grads;
    private readonly MemoryBuffer1D<float, Stride1D.Dense>?[] _states;
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _dummy;
    private readonly ArrayView<float>[] _views = new ArrayView<float>[10];
    private readonly RuleKernel _kernel;
    private readonly Action<Index1D, ArrayView<float>, float> _fill;
    private DeviceGradNorm? _norm;
    private bool _disposed;

    /// <summary>Creates a device optimizer whose every group starts with the hyperparameters of <paramref name="rule"/>.</summary>
    public DeviceOptimizer(Accelerator accelerator, ParameterArena arena, IOptimizerRule rule, OptimizerOptions? options = null)
        : this(accelerator, arena, Enumerable.Repeat(rule ?? throw new ArgumentNullException(nameof(rule)), arena?.Groups.Length ?? 0).ToArray(), options)
    {
    }

    /// <summary>
    /// Creates a device optimizer with one rule per parameter group, allocates the device buffers, uploads the arena's
    /// parameters and gradients and compiles the rule's kernel. Throws <see cref="ArgumentException"/> for a rule
    /// without a GPU kernel or the naive mode, and <see cref="DeviceUnavailableException"/> when the device cannot hold
    /// the buffers or lacks float64 for the gradient-norm reduction.
    /// </summary>
    public DeviceOptimizer(Accelerator accelerator, ParameterArena arena, IReadOnlyList<IOptimizerRule> groupRules, OptimizerOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(accelerator);
        _core = new OptimizerCore(arena, groupRules, options);
        try
        {
            OptimizerCore.RequireFloat32States(Options, "The ILGPU device optimizer");
            if (Options.Mode != StepMode.Fused)
            {
                throw new ArgumentException($"The device runs the generated fused kernel only; StepMode.{Options.Mode} is a CPU baseline (use Optimizer).", nameof(options));
            }

            if (OptimizerCore.NeedsGradNorm(Options) && !GpuDevices.SupportsFloat64(accelerator))
            {
                throw new DeviceUnavailableException(
                    $"{accelerator.Name} has no float64 (OpenCL cl_khr_fp64), which the gradient-norm reduction behind SkipNonFinite and MaxGradNorm needs; use another device or --device cpu.");
            }

            _accelerator = accelerator;
            _arena = arena;
            _args = new GpuArgs[_core.GroupCount];
            _kernel = DeviceKernels.LoadRule(accelerator, _core.Rule(0));
            _fill = DeviceKernels.LoadFill(accelerator);
            _states = new MemoryBuffer1D<float, Stride1D.Dense>?[Descriptor.States.Count];
            _dummy = Allocate(1, "a placeholder");
            _params = Allocate(arena.Length, "the parameters");
            _grads = Allocate(arena.Length, "the gradients");
            RefreshViews();
            _core.Attach(this);
            if (OptimizerCore.NeedsGradNorm(Options))
            {
                _norm = new DeviceGradNorm(accelerator, arena.Length);
            }
        }
        catch
        {
            DisposeBuffers();
            _core.Dispose();
            throw;
        }

        UploadParameters();
        UploadGradients();
    }

    /// <summary>The declaration every group uses.</summary>
    public OptimizerDescriptor Descriptor => _core.Descriptor;

    /// <summary>The options given at construction.</summary>
    public OptimizerOptions Options => _core.Options;

    /// <summary>The accelerator the kernels run on.</summary>
    public Accelerator Accelerator => _accelerator;

    /// <summary>The host arena this optimizer mirrors (layout, host copies of parameters and gradients).</summary>
    public ParameterArena Arena => _arena;

    /// <summary>Number of parameter groups.</summary>
    public int GroupCount => _core.GroupCount;

    /// <summary>The device parameters, with the arena's layout.</summary>
    public ArrayView<float> Parameters => _params.View;

    /// <summary>The device gradients, with the arena's layout; a device backward pass may write them directly.</summary>
    public ArrayView<float> Gradients => _grads.View;

    /// <summary>Bytes one step moves per parameter (Adam: 28), as <see cref="Optimizer.BytesPerParameter"/> counts them.</summary>
    public int BytesPerParameter => OptimizerCore.BytesPerParameterOf(Descriptor, s => _states[s] is not null);

    /// <summary>The hyperparameters of a group.</summary>
    public IOptimizerRule GetRule(int group) => _core.PublishRule(group);

    /// <summary>
    /// Replaces the hyperparameters of a group (as <see cref="Optimizer.SetRule"/>): same declaration, validated;
    /// states it newly needs are allocated on the device at their initial value.
    /// </summary>
    public void SetRule(int group, IOptimizerRule rule)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        _core.SetRule(group, rule);
    }

    /// <summary>
    /// Sets one hyperparameter (PascalCase or snake_case name) on every group, or on one, as
    /// <see cref="Optimizer.SetHyperparameter"/> does: validated, allocating nothing.
    /// </summary>
    public void SetHyperparameter(string name, double value, int? group = null)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        _core.SetHyperparameter(_core.RequireHyperparameter(name), value, group);
    }

    /// <summary>A hyperparameter's value in a group.</summary>
    public double GetHyperparameter(string name, int group = 0) => _core.Hyperparameters(group)[_core.RequireHyperparameter(name)];

    /// <summary>A handle on one hyperparameter, looked up once, to set it every step (see <see cref="Optimizer.Hyperparameter"/>).</summary>
    public HyperparameterHandle Hyperparameter(string name) => new(_core, _core.RequireHyperparameter(name));

    /// <summary>The number of steps group <paramref name="group"/> has taken.</summary>
    public long GetStepCount(int group = 0) => _core.Steps[group];

    /// <summary>The per-step states of a group (e.g. NAdam's μ product), read only.</summary>
    public ReadOnlySpan<double> GetStepStates(int group = 0) => _core.StepStates(group);

    /// <summary>A per-element state on the device, or null when these hyperparameters never used it.</summary>
    public ArrayView<float>? GetState(int index) => _states[index] is { } b ? b.View : null;

    /// <summary>Copies the arena's parameters to the device.</summary>
    public void UploadParameters() => Upload(_arena.Params, _params);

    /// <summary>Copies the arena's gradients to the device.</summary>
    public void UploadGradients() => Upload(_arena.Grads, _grads);

    /// <summary>Copies the device parameters into the arena (waits for the device).</summary>
    public void DownloadParameters() => Download(_params, _arena.Params);

    /// <summary>Copies the device gradients into the arena (waits for the device).</summary>
    public void DownloadGradients() => Download(_grads, _arena.Grads);

    /// <summary>Waits until every launch and copy queued so far has finished.</summary>
    public void Synchronize() => _accelerator.Synchronize();

    /// <summary>
    /// Takes one step on the device, with the semantics of <see cref="Optimizer.Step"/>: gradients are divided by
    /// <paramref name="lossScale"/> as they are read, clipped to <see cref="OptimizerOptions.MaxGradNorm"/> if set, and
    /// with <see cref="OptimizerOptions.SkipNonFinite"/> a non-finite gradient anywhere skips the whole step (parameters,
    /// states and step counts untouched). The launches are queued, not awaited.
    /// </summary>
    public StepResult Step(double lossScale = 1)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return _core.Step(lossScale);
    }

    /// <summary>The global sum of squared device gradients in float64 (NaN or ∞ when any is not finite); waits for the device.</summary>
    public double GradSumOfSquares()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        _norm ??= new DeviceGradNorm(_accelerator, _arena.Length);
        return _norm.SumOfSquares(_grads.View);
    }

    /// <summary>
    /// Copies the parameters and the whole optimizer state (hyperparameters, step counts, per-step and per-element
    /// states) into <paramref name="host"/>, a CPU optimizer of the same declaration over an arena of the same layout.
    /// </summary>
    public void DownloadTo(Optimizer host)
    {
        CheckCompatible(host);
        host.Core.Restore(Rules(), _core.Steps, StepStatesOfGroups());
        for (int s = 0; s < _states.Length; s++)
        {
            if (_states[s] is { } buffer)
            {
                Download(buffer, host.EnsureState(s));
            }
            else
            {
                host.ResetState(s);
            }
        }

        Download(_params, host.Arena.Params);
    }

    /// <summary>
    /// Replaces the parameters and the whole optimizer state with those of <paramref name="host"/>, a CPU optimizer of
    /// the same declaration over an arena of the same layout.
    /// </summary>
    public void UploadFrom(Optimizer host)
    {
        CheckCompatible(host);
        var core = host.Core;
        _core.Restore([.. Enumerable.Range(0, GroupCount).Select(core.PublishRule)], core.Steps, [.. Enumerable.Range(0, GroupCount).Select(core.StepStates)]);
        for (int s = 0; s < _states.Length; s++)
        {
            if (host.States[s] is { } source)
            {
                if (_states[s] is null)
                {
                    ((IDeviceStateBuffers)this).CreateStateBuffer(s);
                }

                Upload(source, _states[s]!);
            }
        }

        Upload(host.Arena.Params, _params);
    }

    /// <summary>
    /// Writes the state to <paramref name="path"/> in the CPU path's format (<see cref="State.StateFile"/>): the file
    /// loads with <see cref="Optimizer.Load(string)"/> as well as here. Downloads the device parameters into the arena first.
    /// </summary>
    public void Save(string path, bool includeParameters = true)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        DownloadParameters();
        State.StateFile.Save(this, path, includeParameters);
    }

    /// <summary>
    /// Restores a state file written by <see cref="Save"/> or by <see cref="Optimizer.Save(string, bool)"/>, with the CPU path's
    /// checks: a corrupt, truncated or mismatched file throws <see cref="State.StateFileException"/> and leaves the
    /// device state unchanged. A file without parameters keeps the device parameters.
    /// </summary>
    public void Load(string path)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        DownloadParameters();
        State.StateFile.Load(this, path);
    }

    /// <inheritdoc />
    public override string ToString() =>
        string.Create(CultureInfo.InvariantCulture, $"{Descriptor.Name} (device {_accelerator.Name}, {_arena.Tensors.Count} tensors, {_arena.ParameterCount:N0} parameters)");

    /// <inheritdoc />
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        DisposeBuffers();
        _core.Dispose();
    }

    private void Launch(int group, long start, long length)
    {
        var args = _args[group];
        var v = _views;
        for (long done = 0; done < length; done += MaxLaunch)
        {
            args.Offset = start + done;
            _kernel((int)Math.Min(MaxLaunch, length - done), v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], args);
        }
    }

    /// <summary>p, g and the eight state slots (a 1-element placeholder where a state is absent), in kernel order.</summary>
    private void RefreshViews()
    {
        _views[0] = _params.View;
        _views[1] = _grads.View;
        for (int s = 0; s < 8; s++)
        {
            _views[2 + s] = s < _states.Length && _states[s] is { } b ? b.View : _dummy.View;
        }
    }

    bool IOptimizerExecutor.HasState(int index) => _states[index] is not null;

    double IOptimizerExecutor.GradSumOfSquares() => _norm!.SumOfSquares(_grads.View);

    /// <summary>Sets every group's kernel arguments from the core's prologue and queues one launch per group (or tensor).</summary>
    void IOptimizerExecutor.Run(float gradScale)
    {
        for (int g = 0; g < _args.Length; g++)
        {
            ref var args = ref _args[g];
            args.SetScalars(_core.Scalars(g));
            args.GradScale = gradScale;
            args.Flags = _core.Flags(g);
        }

        if (Options.Sweep == SweepMode.PerTensor)
        {
            var tensors = _arena.Tensors;
            for (int i = 0; i < tensors.Count; i++)
            {
                Launch(tensors[i].Group, tensors[i].Offset, tensors[i].Length);
            }
        }
        else
        {
            foreach (var group in _arena.Groups)
            {
                Launch(group.Index, group.Start, group.Length);
            }
        }
    }

    OptimizerCore IDeviceStateBuffers.Core => _core;

    void IDeviceStateBuffers.CreateStateBuffer(int index)
    {
        _states[index] = Allocate(_arena.Length, $"state '{Descriptor.States[index].Name}'");
        RefreshViews();
    }

    void IDeviceStateBuffers.ZeroState(int index) => _states[index]!.MemSetToZero();

    void IDeviceStateBuffers.FillState(int index, long start, long length, float value) =>
        _fill(checked((int)length), _states[index]!.View.SubView(start, length), value);

    void IDeviceStateBuffers.DownloadState(int index, Span<float> destination, long offset)
    {
        if (destination.Length > 0)
        {
            _states[index]!.View.SubView(offset, destination.Length).CopyToCPU(_accelerator.DefaultStream, ref MemoryMarshal.GetReference(destination), destination.Length);
            _accelerator.DefaultStream.Synchronize();
        }
    }

    void IDeviceStateBuffers.UploadState(int index, ReadOnlySpan<float> source)
    {
        if (source.Length > 0)
        {
            _states[index]!.View.SubView(0, source.Length).CopyFromCPU(_accelerator.DefaultStream, ref MemoryMarshal.GetReference(source), source.Length);
            _accelerator.DefaultStream.Synchronize();
        }
    }

    private IOptimizerRule[] Rules() => [.. Enumerable.Range(0, GroupCount).Select(_core.PublishRule)];

    private double[][] StepStatesOfGroups() => [.. Enumerable.Range(0, GroupCount).Select(_core.StepStates)];

    private MemoryBuffer1D<float, Stride1D.Dense> Allocate(long length, string what)
    {
        try
        {
            return _accelerator.Allocate1D<float>(Math.Max(1, length));
        }
        catch (Exception e) when (e is AcceleratorException or OutOfMemoryException)
        {
            throw new DeviceUnavailableException(
                string.Create(CultureInfo.InvariantCulture, $"{_accelerator.Name}: cannot allocate {what} ({length * 4.0 / (1 << 30):0.00} GiB; the device has {_accelerator.MemorySize / (double)(1L << 30):0.0} GiB in all): {e.Message}"),
                e);
        }
    }

    private unsafe void Upload(AlignedBuffer source, MemoryBuffer1D<float, Stride1D.Dense> target)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (source.Length > 0)
        {
            target.View.SubView(0, source.Length).CopyFromCPU(_accelerator.DefaultStream, ref Unsafe.AsRef<float>(source.Pointer), source.Length);
        }
    }

    private unsafe void Download(MemoryBuffer1D<float, Stride1D.Dense> source, AlignedBuffer target)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (target.Length > 0)
        {
            source.View.SubView(0, target.Length).CopyToCPU(_accelerator.DefaultStream, ref Unsafe.AsRef<float>(target.Pointer), target.Length);
        }

        _accelerator.DefaultStream.Synchronize();
    }

    private void CheckCompatible(Optimizer host)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(host);
        if (host.Descriptor.TypeName != Descriptor.TypeName)
        {
            throw new ArgumentException($"The host optimizer runs {host.Descriptor.Name}; this device optimizer runs {Descriptor.Name}.", nameof(host));
        }

        if (host.GroupCount != GroupCount || host.Arena.Length != _arena.Length)
        {
            throw new ArgumentException(
                $"The host optimizer's arena ({host.GroupCount} groups, {host.Arena.Length} floats) does not have this one's layout ({GroupCount} groups, {_arena.Length} floats).",
                nameof(host));
        }

        if (host.StateStorage != Storage.StateStorage.Fp32)
        {
            // The device keeps float32 states; copying them buffer to buffer needs a float32 host (a state file converts).
            throw new ArgumentException(
                $"The host optimizer stores its states as {Storage.StateStorages.Name(host.StateStorage)}; the device copies float32 states only (save a state file and load it instead: it converts).",
                nameof(host));
        }
    }

    private void DisposeBuffers()
    {
        _params?.Dispose();
        _grads?.Dispose();
        _dummy?.Dispose();
        foreach (var s in _states ?? [])
        {
            s?.Dispose();
        }

        _norm?.Dispose();
    }
}

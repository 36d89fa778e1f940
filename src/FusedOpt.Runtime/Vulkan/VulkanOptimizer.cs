using System;
using System.Buffers;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Runtime.InteropServices;
using FusedOpt.Gpu;
using FusedOpt.Memory;
using FusedOpt.State;

namespace FusedOpt.Vulkan;

/// <summary>
/// Steps a <see cref="ParameterArena"/> on a Vulkan device with HLSL step shaders compiled to SPIR-V. Parameters,
/// gradients and every state the hyperparameters need live in device storage buffers with the arena's layout; a step is
/// the host-side prologue (<c>Prepare</c>, in float64, per group, shared with the CPU and ILGPU paths through the
/// optimizer core) and one dispatch per parameter group (groups that share a shader go in one submission).
/// </summary>
/// <remarks>
/// <para>The shader of a group comes from the function given to the constructor, asked with the group's rule and the
/// switch bits its <c>Prepare</c> returned (bit 0: the gradient is scaled); it must follow the <see cref="HlslShader"/>
/// contract. Each distinct shader text is compiled once (<see cref="ShaderCompiler"/>: prebuilt, cached or glslang) and
/// its pipeline kept for the optimizer's lifetime.</para>
/// <para><see cref="OptimizerOptions.SkipNonFinite"/> and <see cref="OptimizerOptions.MaxGradNorm"/> need the global
/// gradient norm. Here it is <b>not</b> reduced on the device: the gradients are downloaded in chunks and summed on the
/// host in float64, in element order (correct and deterministic, but a full read of the gradients per step). Of
/// <see cref="OptimizerOptions"/> the device uses <c>SkipNonFinite</c> and <c>MaxGradNorm</c>; <c>Sweep</c> is always
/// one range per group (a per-tensor sweep is a CPU cache policy), and <c>Threads</c> and <c>Isa</c> are host settings.</para>
/// <para>The host arena is the device's mirror, as for <see cref="DeviceOptimizer"/>: <see cref="UploadParameters"/> /
/// <see cref="UploadGradients"/> copy it to the device and <see cref="DownloadParameters"/> back. <see cref="Save"/> and
/// <see cref="Load"/> use the CPU path's state format (<see cref="StateFile"/>), so files move freely between the paths.</para>
/// </remarks>
/// <example>
/// <code>
/// using var device = VulkanDevice.Open(0);
/// using var opt = new VulkanOptimizer(device, arena, new Adam(Lr: 3e-4f), (rule, flags) => rule.Descriptor.Hlsl(flags));
/// opt.UploadGradients();
/// opt.Step();
/// opt.DownloadParameters();
/// </code>
/// </example>
public sealed class VulkanOptimizer : IDisposable, IDeviceStateBuffers, IDeviceSteps
{
    /// <summary>Elements the host-side gradient reduction downloads at a time.</summary>
    internal const int ReductionChunk = 1 << 20;

    private readonly OptimizerCore _core;
    private readonly VulkanDevice _device;
    private readonly ParameterArena _arena;
    private readonly Func<IOptimizerRule, int, HlslShader?> _shaders;
    private readonly ShaderCompiler _compiler;
    private readonly VulkanBuffer _params = null!;
    private readonly VulkanBuffer _grads = null!;
    private readonly VulkanBuffer?[] _states;
    private readonly Dictionary<string, Pipeline> _pipelines = new(StringComparer.Ordinal);
    private readonly (int Flags, IOptimizerRule? Rule, Pipeline? Pipeline)[] _groupPipelines;
    private bool _disposed;

    /// <summary>A compiled shader with its constant-buffer layout and its buffers as state indices (−1: p, −2: g).</summary>
    private sealed class Pipeline(VulkanStepKernel kernel, UniformLayout layout, int[] bindings, HlslShader shader) : IDisposable
    {
        public VulkanStepKernel Kernel { get; } = kernel;

        public UniformLayout Layout { get; } = layout;

        public int[] Bindings { get; } = bindings;

        public HlslShader Shader { get; } = shader;

        public void Dispose() => Kernel.Dispose();
    }

    /// <summary>Creates a Vulkan optimizer whose every group starts with the hyperparameters of <paramref name="rule"/>.</summary>
    public VulkanOptimizer(VulkanDevice device, ParameterArena arena, IOptimizerRule rule, Func<IOptimizerRule, int, HlslShader?> shaders,
        OptimizerOptions? options = null, ShaderCompiler? compiler = null)
        : this(device, arena, Enumerable.Repeat(rule ?? throw new ArgumentNullException(nameof(rule)), arena?.Groups.Length ?? 0).ToArray(), shaders, options, compiler)
    {
    }

    /// <summary>
    /// Creates a Vulkan optimizer with one rule per parameter group, allocates the device buffers and uploads the arena's
    /// parameters and gradients. <paramref name="shaders"/> gives the HLSL shader of a rule for a switch combination (null
    /// when there is none: the first step that needs it throws <see cref="DeviceUnavailableException"/> naming the optimizer);
    /// <paramref name="compiler"/> defaults to a <see cref="ShaderCompiler"/> with the default cache. Throws
    /// <see cref="ArgumentException"/> for a mode other than <see cref="StepMode.Fused"/>.
    /// </summary>
    public VulkanOptimizer(VulkanDevice device, ParameterArena arena, IReadOnlyList<IOptimizerRule> groupRules, Func<IOptimizerRule, int, HlslShader?> shaders,
        OptimizerOptions? options = null, ShaderCompiler? compiler = null)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(shaders);
        _core = new OptimizerCore(arena, groupRules, options);
        _device = device;
        _arena = arena;
        _shaders = shaders;
        _compiler = compiler ?? new ShaderCompiler();
        _states = new VulkanBuffer?[_core.Descriptor.States.Count];
        _groupPipelines = new (int, IOptimizerRule?, Pipeline?)[_core.GroupCount];
        try
        {
            OptimizerCore.RequireFloat32States(Options, "The Vulkan optimizer");
            if (Options.Mode != StepMode.Fused)
            {
                throw new ArgumentException($"The Vulkan device runs the fused step shader only; StepMode.{Options.Mode} is a CPU baseline (use Optimizer).", nameof(options));
            }

            _params = device.CreateStorageBuffer(arena.Length);
            _grads = device.CreateStorageBuffer(arena.Length);
            _core.Attach(this);
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

    /// <summary>The Vulkan device the shaders run on.</summary>
    public VulkanDevice Device => _device;

    /// <summary>The host arena this optimizer mirrors.</summary>
    public ParameterArena Arena => _arena;

    /// <summary>Number of parameter groups.</summary>
    public int GroupCount => _core.GroupCount;

    /// <summary>The device parameters, with the arena's layout.</summary>
    public VulkanBuffer Parameters => _params;

    /// <summary>The device gradients, with the arena's layout.</summary>
    public VulkanBuffer Gradients => _grads;

    /// <summary>Bytes one step moves per parameter (Adam: 28), as <see cref="Optimizer.BytesPerParameter"/> counts them.</summary>
    public int BytesPerParameter => OptimizerCore.BytesPerParameterOf(Descriptor, s => _states[s] is not null);

    /// <summary>
    /// How long the dispatches of the last <see cref="Step"/> ran on the device's clock (summed over its submissions);
    /// null before the first step, after a skipped one, and on a device without timestamps.
    /// </summary>
    public TimeSpan? LastGpuTime { get; private set; }

    /// <summary>The number of distinct shaders compiled so far.</summary>
    public int CompiledShaderCount => _pipelines.Count;

    /// <summary>The hyperparameters of a group.</summary>
    public IOptimizerRule GetRule(int group) => _core.PublishRule(group);

    /// <summary>Replaces the hyperparameters of a group (as <see cref="Optimizer.SetRule"/>); new states are allocated on the device.</summary>
    public void SetRule(int group, IOptimizerRule rule)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        _core.SetRule(group, rule);
    }

    /// <summary>Sets one hyperparameter on every group, or on one, as <see cref="Optimizer.SetHyperparameter"/> does.</summary>
    public void SetHyperparameter(string name, double value, int? group = null)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        _core.SetHyperparameter(_core.RequireHyperparameter(name), value, group);
    }

    /// <summary>The number of steps group <paramref name="group"/> has taken.</summary>
    public long GetStepCount(int group = 0) => _core.Steps[group];

    /// <summary>The per-step states of a group, read only.</summary>
    public ReadOnlySpan<double> GetStepStates(int group = 0) => _core.StepStates(group);

    /// <summary>A per-element state on the device, or null when these hyperparameters never used it.</summary>
    public VulkanBuffer? GetState(int index) => _states[index];

    /// <summary>Copies state <paramref name="index"/> from the device into <paramref name="values"/> (the arena's length).</summary>
    public void DownloadState(int index, Span<float> values)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var buffer = _states[index] ?? throw new InvalidOperationException($"State '{Descriptor.States[index].Name}' of {Descriptor.Name} is not allocated: these hyperparameters never use it.");
        _device.Download(buffer, values);
    }

    /// <summary>Copies the arena's parameters to the device.</summary>
    public void UploadParameters()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        _device.Upload(_params, _arena.Params.Span);
    }

    /// <summary>Copies the arena's gradients to the device.</summary>
    public void UploadGradients()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        _device.Upload(_grads, _arena.Grads.Span);
    }

    /// <summary>Copies the device parameters into the arena.</summary>
    public void DownloadParameters()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        _device.Download(_params, _arena.Params.Span);
    }

    /// <summary>Copies the device gradients into the arena.</summary>
    public void DownloadGradients()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        _device.Download(_grads, _arena.Grads.Span);
    }

    /// <summary>
    /// Takes one step on the device, with the semantics of <see cref="Optimizer.Step"/>: gradients are divided by
    /// <paramref name="lossScale"/> as they are read, clipped to <see cref="OptimizerOptions.MaxGradNorm"/> if set, and
    /// with <see cref="OptimizerOptions.SkipNonFinite"/> a non-finite gradient anywhere skips the whole step. Waits for the
    /// device. Throws <see cref="DeviceUnavailableException"/> (a <see cref="NotSupportedException"/>) when the shader function has no shader for a group's switches.
    /// </summary>
    public StepResult Step(double lossScale = 1)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        LastGpuTime = null;
        return _core.Step(lossScale);
    }

    /// <summary>
    /// The global sum of squared device gradients in float64 (NaN or ∞ when any is not finite), reduced on the host:
    /// the gradients are downloaded in chunks and summed in element order.
    /// </summary>
    public double GradSumOfSquares()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        long length = _arena.Length;
        var chunk = ArrayPool<float>.Shared.Rent((int)Math.Min(ReductionChunk, Math.Max(1, length)));
        try
        {
            double sum = 0;
            for (long start = 0; start < length; start += chunk.Length)
            {
                var part = chunk.AsSpan(0, (int)Math.Min(chunk.Length, length - start));
                _device.Download(_grads, part, start);
                foreach (float x in part)
                {
                    sum += (double)x * x;
                }
            }

            return sum;
        }
        finally
        {
            ArrayPool<float>.Shared.Return(chunk);
        }
    }

    /// <summary>
    /// Writes the state to <paramref name="path"/> in the CPU path's format (<see cref="StateFile"/>): the file loads
    /// with <see cref="Optimizer.Load(string)"/> as well as here. Downloads the device parameters into the arena first.
    /// </summary>
    public void Save(string path, bool includeParameters = true)
    {
        DownloadParameters();
        StateFile.Save((IOptimizerStateStore)this, path, includeParameters);
    }

    /// <summary>
    /// Restores a state file written by <see cref="Save"/>, <see cref="Optimizer.Save(string, bool)"/> or
    /// <see cref="DeviceOptimizer.Save"/>, with the CPU path's checks (a bad file throws
    /// <see cref="StateFileException"/> and changes nothing). A file without parameters keeps the device parameters.
    /// </summary>
    public void Load(string path)
    {
        DownloadParameters();
        StateFile.Load((IOptimizerStateStore)this, path);
    }

    /// <inheritdoc />
    public override string ToString() =>
        string.Create(CultureInfo.InvariantCulture, $"{Descriptor.Name} (Vulkan {_device.Info.Name}, {_arena.Tensors.Count} tensors, {_arena.ParameterCount:N0} parameters)");

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

    bool IOptimizerExecutor.HasState(int index) => _states[index] is not null;

    double IOptimizerExecutor.GradSumOfSquares() => GradSumOfSquares();

    /// <summary>Fills each group's constant buffer from the core's prologue and dispatches every group, one submission per shader.</summary>
    void IOptimizerExecutor.Run(float gradScale)
    {
        var order = new List<(Pipeline Pipeline, List<int> Groups)>();
        for (int g = 0; g < _core.GroupCount; g++)
        {
            if (_arena.Groups[g].Length == 0)
            {
                continue;
            }

            var pipeline = PipelineOf(g);
            int at = order.FindIndex(x => ReferenceEquals(x.Pipeline, pipeline));
            if (at < 0)
            {
                order.Add((pipeline, [g]));
            }
            else
            {
                order[at].Groups.Add(g);
            }
        }

        TimeSpan? total = TimeSpan.Zero;
        foreach (var (pipeline, groups) in order)
        {
            var layout = pipeline.Layout;
            var uniforms = new byte[groups.Count * layout.Size];
            var ranges = new VulkanRange[groups.Count];
            var values = new float[pipeline.Shader.Constants.Count];
            for (int i = 0; i < groups.Count; i++)
            {
                int g = groups[i];
                var group = _arena.Groups[g];
                ranges[i] = new VulkanRange(group.Start, group.Length);
                values[0] = gradScale;
                _core.Scalars(g)[..(values.Length - 1)].CopyTo(values.AsSpan(1));
                layout.SetScalars(uniforms.AsSpan(i * layout.Size, layout.Size), values);
            }

            pipeline.Kernel.Dispatch(Bind(pipeline), ranges, uniforms);
            total = total + pipeline.Kernel.LastGpuTime;
        }

        LastGpuTime = total;
    }

    /// <summary>The compiled shader of group <paramref name="group"/>'s rule and current switches, asked for and compiled once.</summary>
    private Pipeline PipelineOf(int group)
    {
        var rule = _core.Rule(group);
        int flags = _core.Flags(group);
        var cached = _groupPipelines[group];
        if (cached.Pipeline is not null && cached.Flags == flags && ReferenceEquals(cached.Rule, rule))
        {
            return cached.Pipeline;
        }

        var shader = _shaders(rule, flags)
            ?? throw new DeviceUnavailableException(
                string.Create(CultureInfo.InvariantCulture, $"no HLSL shader for {Descriptor.Name} yet (switches 0x{flags:x}): the shader source gave none, so {Descriptor.Name} cannot run on Vulkan; run it with --device cpu or an ILGPU device."));
        if (!_pipelines.TryGetValue(shader.Source, out var pipeline))
        {
            pipeline = Compile(shader, flags);
            _pipelines.Add(shader.Source, pipeline);
        }

        _groupPipelines[group] = (flags, rule, pipeline);
        return pipeline;
    }

    private Pipeline Compile(HlslShader shader, int flags)
    {
        string name = Descriptor.Name;
        if (shader.Flags != flags)
        {
            throw new ArgumentException($"The shader source gave {name}'s shader for switches 0x{shader.Flags:x} when asked for 0x{flags:x}.");
        }

        if (shader.Constants.Count == 0 || shader.Constants[0] != "gradScale")
        {
            throw new ArgumentException($"{name}'s shader must declare gradScale as its first constant after n; it declares [{string.Join(", ", shader.Constants)}].");
        }

        if (shader.Constants.Count - 1 > Descriptor.ScalarCount)
        {
            throw new ArgumentException($"{name}'s shader declares {shader.Constants.Count - 1} scalars after gradScale; Prepare writes {Descriptor.ScalarCount}.");
        }

        var bindings = new int[shader.Buffers.Count];
        for (int i = 0; i < bindings.Length; i++)
        {
            string buffer = shader.Buffers[i];
            bindings[i] = buffer switch
            {
                "p" when i == 0 => -1,
                "g" when i == 1 => -2,
                _ when i >= 2 => IndexOfState(buffer),
                _ => throw new ArgumentException($"{name}'s shader binds '{buffer}' at u{i}; the contract is p at u0, g at u1, then states."),
            };
        }

        var layout = UniformLayout.Create([.. shader.Constants.Select(static c => (c, UniformType.Float))]);
        var spirv = _compiler.Compile(shader.Source, string.Create(CultureInfo.InvariantCulture, $"{name}_{flags:x}"));
        return new Pipeline(new VulkanStepKernel(_device, spirv.Spirv.AsSpan(), bindings.Length, layout.Size), layout, bindings, shader);
    }

    private int IndexOfState(string name)
    {
        for (int s = 0; s < Descriptor.States.Count; s++)
        {
            if (Descriptor.States[s].Name == name)
            {
                return s;
            }
        }

        throw new ArgumentException($"{Descriptor.Name}'s shader binds '{name}', which is not one of its states ({string.Join(", ", Descriptor.States.Select(static s => s.Name))}).");
    }

    private VulkanBuffer[] Bind(Pipeline pipeline)
    {
        var bound = new VulkanBuffer[pipeline.Bindings.Length];
        for (int i = 0; i < bound.Length; i++)
        {
            int b = pipeline.Bindings[i];
            bound[i] = b switch
            {
                -1 => _params,
                -2 => _grads,
                _ => _states[b] ?? throw new InvalidOperationException($"{Descriptor.Name}'s shader binds state '{Descriptor.States[b].Name}', which these hyperparameters do not allocate."),
            };
        }

        return bound;
    }

    OptimizerCore IDeviceStateBuffers.Core => _core;

    void IDeviceStateBuffers.CreateStateBuffer(int index) => _states[index] = _device.CreateStorageBuffer(_arena.Length);

    void IDeviceStateBuffers.ZeroState(int index) => _device.Fill(_states[index]!, 0, _arena.Length, 0f);

    void IDeviceStateBuffers.FillState(int index, long start, long length, float value) => _device.Fill(_states[index]!, start, length, value);

    void IDeviceStateBuffers.DownloadState(int index, Span<float> destination, long offset) => _device.Download(_states[index]!, destination, offset);

    void IDeviceStateBuffers.UploadState(int index, ReadOnlySpan<float> source) => _device.Upload(_states[index]!, source);

    private void DisposeBuffers()
    {
        foreach (var p in _pipelines.Values)
        {
            p.Dispose();
        }

        _pipelines.Clear();
        foreach (var s in _states ?? [])
        {
            s?.Dispose();
        }

        _grads?.Dispose();
        _params?.Dispose();
    }
}

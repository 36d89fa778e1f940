using System;
using System.Collections.Generic;
using System.Linq;
using FusedOpt.Memory;

namespace FusedOpt.Vulkan;

/// <summary>
/// A <see cref="ParameterArena"/> on a Vulkan device: parameters, gradients and the per-element states, each one
/// storage buffer with the arena's layout (element i of the device buffer is element i of the host buffer), and the
/// copies between host and device. <see cref="Bind"/> and <see cref="Groups"/> give what
/// <see cref="VulkanStepKernel.Dispatch"/> takes.
/// </summary>
public sealed class VulkanArenaBuffers : IDisposable
{
    private readonly VulkanBuffer?[] _states;
    private bool _disposed;

    /// <summary>
    /// Allocates the buffers (zero-filled) of a built <paramref name="arena"/> on <paramref name="device"/>: parameters,
    /// gradients, and state s when <paramref name="allocateStates"/>[s] is true (a state used only under a switch that is
    /// off needs none). Nothing is copied yet.
    /// </summary>
    public VulkanArenaBuffers(VulkanDevice device, ParameterArena arena, ReadOnlySpan<bool> allocateStates)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(arena);
        if (!arena.IsBuilt)
        {
            throw new ArgumentException("Build the arena (ParameterArena.Build) before putting it on a device.", nameof(arena));
        }

        Device = device;
        Arena = arena;
        _states = new VulkanBuffer?[allocateStates.Length];
        try
        {
            Parameters = device.CreateStorageBuffer(arena.Length);
            Gradients = device.CreateStorageBuffer(arena.Length);
            for (int s = 0; s < _states.Length; s++)
            {
                _states[s] = allocateStates[s] ? device.CreateStorageBuffer(arena.Length) : null;
            }
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>Allocates parameters, gradients and <paramref name="stateCount"/> states.</summary>
    public VulkanArenaBuffers(VulkanDevice device, ParameterArena arena, int stateCount)
        : this(device, arena, Enumerable.Repeat(true, Math.Max(0, stateCount)).ToArray())
    {
    }

    /// <summary>The device.</summary>
    public VulkanDevice Device { get; }

    /// <summary>The host arena whose layout the buffers share.</summary>
    public ParameterArena Arena { get; }

    /// <summary>The parameters (register u0 of a step shader).</summary>
    public VulkanBuffer Parameters { get; } = null!;

    /// <summary>The gradients (register u1).</summary>
    public VulkanBuffer Gradients { get; } = null!;

    /// <summary>The number of state slots, allocated or not.</summary>
    public int StateCount => _states.Length;

    /// <summary>State <paramref name="index"/>, or null when it was not allocated.</summary>
    public VulkanBuffer? State(int index) => _states[index];

    /// <summary>The arena's parameter groups as ranges: one dispatch range per group.</summary>
    public VulkanRange[] Groups => [.. Arena.Groups.Select(static g => new VulkanRange(g.Start, g.Length))];

    /// <summary>
    /// The buffers a step shader binds, in register order: parameters (u0), gradients (u1), then the states
    /// <paramref name="states"/> names (u2, u3…). Throws when one of them was not allocated.
    /// </summary>
    public VulkanBuffer[] Bind(params ReadOnlySpan<int> states)
    {
        var bound = new VulkanBuffer[2 + states.Length];
        bound[0] = Parameters;
        bound[1] = Gradients;
        for (int i = 0; i < states.Length; i++)
        {
            int s = states[i];
            if ((uint)s >= (uint)_states.Length)
            {
                throw new ArgumentOutOfRangeException(nameof(states), s, $"State {s} does not exist; there are {_states.Length}.");
            }

            bound[2 + i] = _states[s] ?? throw new InvalidOperationException($"State {s} was not allocated on the device; the step's switches do not use it.");
        }

        return bound;
    }

    /// <summary>Copies the arena's parameters to the device.</summary>
    public void UploadParameters() => Device.Upload(Parameters, Arena.Params.Span);

    /// <summary>Copies the arena's gradients to the device.</summary>
    public void UploadGradients() => Device.Upload(Gradients, Arena.Grads.Span);

    /// <summary>Copies the device's parameters into the arena.</summary>
    public void DownloadParameters() => Device.Download(Parameters, Arena.Params.Span);

    /// <summary>Copies the device's gradients into the arena.</summary>
    public void DownloadGradients() => Device.Download(Gradients, Arena.Grads.Span);

    /// <summary>Copies <paramref name="values"/> (the arena's length) into state <paramref name="index"/>.</summary>
    public void UploadState(int index, ReadOnlySpan<float> values)
    {
        CheckLength(values.Length);
        Device.Upload(Allocated(index), values);
    }

    /// <summary>Copies state <paramref name="index"/> into <paramref name="values"/> (the arena's length).</summary>
    public void DownloadState(int index, Span<float> values)
    {
        CheckLength(values.Length);
        Device.Download(Allocated(index), values);
    }

    /// <summary>Sets every element of state <paramref name="index"/> in [<paramref name="start"/>, +<paramref name="length"/>) to <paramref name="value"/>.</summary>
    public void FillState(int index, long start, long length, float value) => Device.Fill(Allocated(index), start, length, value);

    private VulkanBuffer Allocated(int index)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if ((uint)index >= (uint)_states.Length)
        {
            throw new ArgumentOutOfRangeException(nameof(index), index, $"State {index} does not exist; there are {_states.Length}.");
        }

        return _states[index] ?? throw new InvalidOperationException($"State {index} was not allocated on the device.");
    }

    private void CheckLength(int length)
    {
        if (length != Arena.Length)
        {
            throw new ArgumentException($"A state holds the arena's {Arena.Length} floats; {length} were given.");
        }
    }

    /// <summary>Frees every buffer.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        foreach (var b in _states)
        {
            b?.Dispose();
        }

        Gradients?.Dispose();
        Parameters?.Dispose();
    }
}

/// <summary>Helpers to feed a list of ranges to <see cref="VulkanStepKernel"/>.</summary>
public static class VulkanKernelExtensions
{
    /// <summary>
    /// Runs <paramref name="kernel"/> over every group of <paramref name="data"/> with the parameters, gradients and the
    /// states <paramref name="states"/> names bound in that order, <paramref name="uniforms"/> holding one constant
    /// buffer per group.
    /// </summary>
    public static void Step(this VulkanStepKernel kernel, VulkanArenaBuffers data, ReadOnlySpan<byte> uniforms, params ReadOnlySpan<int> states)
    {
        ArgumentNullException.ThrowIfNull(kernel);
        ArgumentNullException.ThrowIfNull(data);
        kernel.Dispatch(data.Bind(states), data.Groups, uniforms);
    }

}

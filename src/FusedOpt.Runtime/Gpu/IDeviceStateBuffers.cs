using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using FusedOpt.State;

namespace FusedOpt.Gpu;

/// <summary>
/// The state plumbing both device executors (<see cref="DeviceOptimizer"/> on ILGPU, <see cref="Vulkan.VulkanOptimizer"/>)
/// share: per-element states are float32 device buffers with the arena's layout, the host arena mirrors the parameters,
/// and everything else is the <see cref="OptimizerCore"/>'s. An executor gives the buffer primitives (create, zero, fill,
/// copy a state up or down); this interface turns them, once for both, into state allocation with the declared initial
/// values (<see cref="IOptimizerExecutor.AllocateState"/>) and the <see cref="IOptimizerStateStore"/> a state file reads and
/// writes (a compressed state from a CPU run is widened to float32 on load).
/// </summary>
internal interface IDeviceStateBuffers : IOptimizerExecutor, IOptimizerStateStore
{
    /// <summary>The core whose rules, step counts and per-step states the executor runs.</summary>
    OptimizerCore Core { get; }

    /// <summary>Allocates state <paramref name="index"/> on the device (the arena's length), contents unspecified.</summary>
    void CreateStateBuffer(int index);

    /// <summary>Sets all of allocated state <paramref name="index"/> to zero.</summary>
    void ZeroState(int index);

    /// <summary>Sets elements [<paramref name="start"/>, + <paramref name="length"/>) of allocated state <paramref name="index"/> to <paramref name="value"/>.</summary>
    void FillState(int index, long start, long length, float value);

    /// <summary>Copies elements [<paramref name="offset"/>, + destination length) of allocated state <paramref name="index"/> into <paramref name="destination"/>; waits for the device.</summary>
    void DownloadState(int index, Span<float> destination, long offset);

    /// <summary>Copies <paramref name="source"/> to the start of allocated state <paramref name="index"/>; waits for the device.</summary>
    void UploadState(int index, ReadOnlySpan<float> source);

    /// <summary>Copies the arena's parameters to the device.</summary>
    void UploadParameters();

    /// <summary>Allocates a state on the device, filled group by group with its initial value.</summary>
    void IOptimizerExecutor.AllocateState(int index)
    {
        CreateStateBuffer(index);
        FillInitial(index);
    }

    ReadOnlySpan<double> IOptimizerStateStore.GetHyperparameterValues(int group) => Core.Hyperparameters(group);

    StateFormat IOptimizerStateStore.GetStateFormat(int index) => HasState(index) ? StateFormat.Float32 : StateFormat.None;

    /// <summary>Reads parameter bytes from the arena (a save has just downloaded the device parameters into it).</summary>
    unsafe void IOptimizerStateStore.ReadParameters(long byteOffset, Span<byte> destination) =>
        new ReadOnlySpan<byte>((byte*)Arena.Params.Pointer + byteOffset, destination.Length).CopyTo(destination);

    void IOptimizerStateStore.ReadState(int index, long byteOffset, Span<byte> destination)
    {
        if (!HasState(index))
        {
            throw new InvalidOperationException($"State '{Descriptor.States[index].Name}' is not allocated.");
        }

        var floats = MemoryMarshal.Cast<byte, float>(destination);
        if (byteOffset % sizeof(float) != 0 || floats.Length * sizeof(float) != destination.Length)
        {
            throw new ArgumentException($"A device state is read in whole floats; got bytes [{byteOffset}, {byteOffset + destination.Length}).", nameof(byteOffset));
        }

        DownloadState(index, floats, byteOffset / sizeof(float));
    }

    void IOptimizerStateStore.Restore(IReadOnlyList<IOptimizerRule> rules, ReadOnlySpan<long> steps, IReadOnlyList<double[]> stepStates) =>
        Core.Restore(rules, steps, stepStates);

    /// <summary>Writes the parameters into the arena and uploads them.</summary>
    void IOptimizerStateStore.WriteParameters(ReadOnlySpan<byte> bytes)
    {
        MemoryMarshal.Cast<byte, float>(bytes).CopyTo(Arena.Params.Span);
        UploadParameters();
    }

    void IOptimizerStateStore.WriteState(int index, StateFormat storage, ReadOnlySpan<byte> bytes)
    {
        // A compressed state from a CPU run: the device keeps float32 states, so it is widened on load.
        bytes = Storage.StateFormats.AsFloat32(storage, bytes, Arena);

        if (!HasState(index))
        {
            CreateStateBuffer(index);
        }

        UploadState(index, MemoryMarshal.Cast<byte, float>(bytes));
    }

    void IOptimizerStateStore.ResetState(int index)
    {
        if (HasState(index))
        {
            FillInitial(index);
        }
    }

    /// <summary>Sets a state to its initial value, group by group (zero outside the groups).</summary>
    private void FillInitial(int index)
    {
        ZeroState(index);
        for (int g = 0; g < Core.GroupCount; g++)
        {
            var group = Arena.Groups[g];
            float initial = Core.InitialValue(index, g);
            if (initial != 0 && group.Length > 0)
            {
                FillState(index, group.Start, group.Length, initial);
            }
        }
    }
}

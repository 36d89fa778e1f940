using System;
using System.Runtime.InteropServices;

namespace FusedOpt.Models.Gadam;

/// <summary>
/// The few collective and point-to-point operations Gadam needs between processes: gathering fitness values, moving a
/// parent's parameters to the process that makes its child, and broadcasting a number. One process:
/// <see cref="LocalComm"/>; several: <see cref="MpiComm"/> (Open MPI).
/// </summary>
public interface IGadamComm : IDisposable
{
    /// <summary>This process's rank, 0 … <see cref="Size"/> − 1.</summary>
    int Rank { get; }

    /// <summary>Number of processes.</summary>
    int Size { get; }

    /// <summary>Bytes this process has sent so far (payloads only).</summary>
    long BytesSent { get; }

    /// <summary>Every rank's <paramref name="mine"/>, concatenated in rank order into <paramref name="all"/> (Size × mine.Length bytes).</summary>
    void Allgather(ReadOnlySpan<byte> mine, Span<byte> all);

    /// <summary>Sends <paramref name="data"/> to <paramref name="destination"/> (blocking).</summary>
    void Send(ReadOnlySpan<byte> data, int destination, int tag);

    /// <summary>Receives exactly <paramref name="data"/>.Length bytes from <paramref name="source"/> (blocking).</summary>
    void Receive(Span<byte> data, int source, int tag);

    /// <summary>Copies <paramref name="data"/> from <paramref name="root"/> to every rank.</summary>
    void Broadcast(Span<byte> data, int root);

    /// <summary>Waits until every rank gets here.</summary>
    void Barrier();
}

/// <summary>Typed helpers over <see cref="IGadamComm"/>.</summary>
public static class GadamCommExtensions
{
    /// <summary>
    /// Gathers a per-rank array in which each rank filled only the entries it owns (<paramref name="owner"/>(i) == rank)
    /// into one array holding every owner's entry: the values travel as bytes, so nothing is rounded.
    /// </summary>
    public static T[] GatherOwned<T>(this IGadamComm comm, T[] local, Func<int, int> owner)
        where T : unmanaged
    {
        ArgumentNullException.ThrowIfNull(comm);
        ArgumentNullException.ThrowIfNull(local);
        ArgumentNullException.ThrowIfNull(owner);
        if (comm.Size == 1)
        {
            return [.. local];
        }

        var all = new T[local.Length * comm.Size];
        comm.Allgather(MemoryMarshal.AsBytes(local.AsSpan()), MemoryMarshal.AsBytes(all.AsSpan()));
        var result = new T[local.Length];
        for (int i = 0; i < local.Length; i++)
        {
            result[i] = all[(owner(i) * local.Length) + i];
        }

        return result;
    }

    /// <summary>Broadcasts <paramref name="values"/> from <paramref name="root"/>.</summary>
    public static void Broadcast<T>(this IGadamComm comm, T[] values, int root)
        where T : unmanaged
    {
        ArgumentNullException.ThrowIfNull(comm);
        if (comm.Size > 1)
        {
            comm.Broadcast(MemoryMarshal.AsBytes(values.AsSpan()), root);
        }
    }
}

/// <summary>A single process: rank 0 of 1; nothing is ever sent.</summary>
public sealed class LocalComm : IGadamComm
{
    /// <inheritdoc />
    public int Rank => 0;

    /// <inheritdoc />
    public int Size => 1;

    /// <inheritdoc />
    public long BytesSent => 0;

    /// <inheritdoc />
    public void Allgather(ReadOnlySpan<byte> mine, Span<byte> all) => mine.CopyTo(all);

    /// <inheritdoc />
    public void Send(ReadOnlySpan<byte> data, int destination, int tag) =>
        throw new InvalidOperationException($"A single process has no rank {destination} to send to.");

    /// <inheritdoc />
    public void Receive(Span<byte> data, int source, int tag) =>
        throw new InvalidOperationException($"A single process has no rank {source} to receive from.");

    /// <inheritdoc />
    public void Broadcast(Span<byte> data, int root)
    {
    }

    /// <inheritdoc />
    public void Barrier()
    {
    }

    /// <inheritdoc />
    public void Dispose()
    {
    }
}

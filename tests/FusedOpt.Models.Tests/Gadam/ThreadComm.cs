using System;
using System.Collections.Concurrent;
using System.Threading;
using FusedOpt.Models.Gadam;

namespace FusedOpt.Tests.Gadam;

/// <summary>
/// Ranks as threads of one process: an in-memory <see cref="IGadamComm"/> with the semantics Gadam relies on from MPI
/// (collectives meet at a barrier, sends are matched by (source, destination, tag)), so the distributed code path is
/// tested without Open MPI.
/// </summary>
internal sealed class ThreadComm : IGadamComm
{
    private readonly Group _group;

    private ThreadComm(Group group, int rank)
    {
        _group = group;
        Rank = rank;
    }

    public int Rank { get; }

    public int Size => _group.Size;

    public long BytesSent { get; private set; }

    public static ThreadComm[] Create(int size)
    {
        var group = new Group(size);
        var comms = new ThreadComm[size];
        for (int r = 0; r < size; r++)
        {
            comms[r] = new ThreadComm(group, r);
        }

        return comms;
    }

    public void Allgather(ReadOnlySpan<byte> mine, Span<byte> all)
    {
        _group.Slots[Rank] = mine.ToArray();
        _group.Barrier.SignalAndWait();
        for (int r = 0; r < Size; r++)
        {
            _group.Slots[r].CopyTo(all[(r * mine.Length)..]);
        }

        _group.Barrier.SignalAndWait();
        BytesSent += (long)mine.Length * (Size - 1);
    }

    public void Send(ReadOnlySpan<byte> data, int destination, int tag)
    {
        _group.Mailbox(Rank, destination, tag).Add(data.ToArray());
        BytesSent += data.Length;
    }

    public void Receive(Span<byte> data, int source, int tag)
    {
        byte[] message = _group.Mailbox(source, Rank, tag).Take();
        if (message.Length != data.Length)
        {
            throw new InvalidOperationException($"rank {Rank} expected {data.Length} bytes from {source} (tag {tag}), got {message.Length}.");
        }

        message.CopyTo(data);
    }

    public void Broadcast(Span<byte> data, int root)
    {
        if (Rank == root)
        {
            _group.Slots[root] = data.ToArray();
            BytesSent += (long)data.Length * (Size - 1);
        }

        _group.Barrier.SignalAndWait();
        if (Rank != root)
        {
            _group.Slots[root].CopyTo(data);
        }

        _group.Barrier.SignalAndWait();
    }

    public void Barrier() => _group.Barrier.SignalAndWait();

    public void Dispose()
    {
    }

    private sealed class Group(int size)
    {
        private readonly ConcurrentDictionary<(int, int, int), BlockingCollection<byte[]>> _mailboxes = new();

        public int Size { get; } = size;

        public Barrier Barrier { get; } = new(size);

        public byte[][] Slots { get; } = new byte[size][];

        public BlockingCollection<byte[]> Mailbox(int from, int to, int tag) => _mailboxes.GetOrAdd((from, to, tag), static _ => []);
    }
}

using System;
using System.Threading;

namespace FusedOpt.Threading;

/// <summary>Work split into a fixed number of parts, part i always run by the same thread.</summary>
public interface IParallelWork
{
    /// <summary>Runs part <paramref name="part"/> of <see cref="WorkerPool.Count"/>.</summary>
    void Execute(int part);
}

/// <summary>
/// A small persistent pool for optimizer steps: <see cref="Count"/> − 1 dedicated threads plus the caller.
/// <see cref="Run"/> hands part i to thread i (the caller takes part 0), so a static partition touches the same
/// bytes from the same thread every step; nothing is allocated per call.
/// </summary>
public sealed class WorkerPool : IDisposable
{
    private readonly Thread[] _threads;
    private readonly SemaphoreSlim[] _start;
    private readonly ManualResetEventSlim _done = new(false, spinCount: 2000);
    private IParallelWork? _work;
    private Exception? _error;
    private int _pending;
    private volatile bool _disposed;

    /// <summary>Creates a pool running work in <paramref name="threads"/> parts.</summary>
    public WorkerPool(int threads)
    {
        if (threads < 1 || threads > 1024)
        {
            throw new ArgumentOutOfRangeException(nameof(threads), threads, $"The thread count must be between 1 and 1024, got {threads}.");
        }

        Count = threads;
        _threads = new Thread[threads - 1];
        _start = new SemaphoreSlim[threads - 1];
        for (int i = 0; i < _threads.Length; i++)
        {
            _start[i] = new SemaphoreSlim(0);
            int part = i + 1;
            _threads[i] = new Thread(() => Loop(part)) { IsBackground = true, Name = $"fusedopt-worker-{part}" };
            _threads[i].Start();
        }

        // The first wait that blocks creates the event's lock and wait objects (about 2 KB, measured) on the calling
        // thread. Blocking once here, for 1 ms on the unset event, moves that allocation out of the first Run that
        // happens to block, so that a step allocates nothing however the threads are scheduled.
        if (threads > 1)
        {
            _done.Wait(1);
        }
    }

    /// <summary>Number of parts (threads, the caller included).</summary>
    public int Count { get; }

    /// <summary>Runs every part of <paramref name="work"/> and returns when all are done; rethrows the first failure.</summary>
    public void Run(IParallelWork work)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (Count == 1)
        {
            work.Execute(0);
            return;
        }

        _work = work;
        _error = null;
        _done.Reset();
        Volatile.Write(ref _pending, Count - 1);
        foreach (var s in _start)
        {
            s.Release();
        }

        try
        {
            work.Execute(0);
        }
        finally
        {
            _done.Wait();
            _work = null;
        }

        if (_error is { } e)
        {
            throw new AggregateException("A worker thread failed during an optimizer step.", e);
        }
    }

    private void Loop(int part)
    {
        var start = _start[part - 1];
        while (true)
        {
            start.Wait();
            if (_disposed)
            {
                return;
            }

            try
            {
                _work!.Execute(part);
            }
            catch (Exception e)
            {
                Interlocked.CompareExchange(ref _error, e, null);
            }

            if (Interlocked.Decrement(ref _pending) == 0)
            {
                _done.Set();
            }
        }
    }

    /// <summary>Stops the threads.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        foreach (var s in _start)
        {
            s.Release();
        }

        foreach (var t in _threads)
        {
            t.Join();
        }

        foreach (var s in _start)
        {
            s.Dispose();
        }

        _done.Dispose();
    }
}

/// <summary>Static partitions of a range across threads, on 64-byte (16-float) boundaries.</summary>
public static class Partition
{
    /// <summary>Elements per cache line.</summary>
    public const int Granule = 16;

    /// <summary>
    /// The slice [start, end) of [0, <paramref name="length"/>) owned by <paramref name="part"/> of <paramref name="parts"/>.
    /// Every slice but the last is a multiple of 16 floats, so no two threads share a cache line and only the last
    /// slice has a tail; slices may be empty.
    /// </summary>
    public static (long Start, long End) Of(long length, int part, int parts) => Of(length, part, parts, Granule);

    /// <summary>
    /// As <see cref="Of(long, int, int)"/> with cuts on multiples of <paramref name="granule"/> elements (q8 states cut
    /// on their 256-element blocks, bf16 states on 32 elements: a cache line of words).
    /// </summary>
    public static (long Start, long End) Of(long length, int part, int parts, long granule)
    {
        long granules = (length + granule - 1) / granule;
        long per = (granules + parts - 1) / parts;
        long start = Math.Min(length, per * granule * part);
        long end = Math.Min(length, per * granule * (part + 1));
        return (start, end);
    }
}

using System;

namespace FusedOpt.Tests;

/// <summary>
/// Measures what code under test allocates, and nothing else: bytes allocated by the calling thread only (xunit runs
/// test classes in parallel, and their allocations land on other threads), and the least over several windows that
/// each run the whole scenario. The runtime now and then allocates on a thread on its own behalf — a lazily created
/// lock when a wait first blocks, a method tiering up in the middle of a window — which shows in one window; an
/// allocation by the code under test shows in every window.
/// </summary>
public static class Allocations
{
    /// <summary>The fewest bytes the calling thread allocated in one of <paramref name="windows"/> runs of <paramref name="scenario"/>.</summary>
    public static long OnThisThread(Action scenario, int windows = 5)
    {
        ArgumentNullException.ThrowIfNull(scenario);
        ArgumentOutOfRangeException.ThrowIfLessThan(windows, 1);
        long least = long.MaxValue;
        for (int w = 0; w < windows; w++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            scenario();
            least = Math.Min(least, GC.GetAllocatedBytesForCurrentThread() - before);
        }

        return least;
    }
}

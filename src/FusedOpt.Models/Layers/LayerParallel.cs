using FusedOpt.Threading;

namespace FusedOpt.Models.Layers;

/// <summary>Static partitions for the layers' threaded loops.</summary>
internal static class LayerParallel
{
    /// <summary>Part <paramref name="part"/> of <paramref name="parts"/> contiguous ranges of [0, <paramref name="count"/>).</summary>
    public static (int First, int End) Split(int count, int part, int parts) =>
        ((int)((long)count * part / parts), (int)((long)count * (part + 1) / parts));

    /// <summary>Runs <paramref name="work"/> on <paramref name="pool"/>, or as one part on the caller without a pool.</summary>
    public static void Run(WorkerPool? pool, IParallelWork work)
    {
        if (pool is null)
        {
            work.Execute(0);
        }
        else
        {
            pool.Run(work);
        }
    }

    /// <summary>Parts a run is split into.</summary>
    public static int Parts(WorkerPool? pool) => pool?.Count ?? 1;
}

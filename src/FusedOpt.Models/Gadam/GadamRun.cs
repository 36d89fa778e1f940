using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO.Hashing;
using System.Linq;
using System.Runtime.InteropServices;
using System.Threading.Tasks;
using FusedOpt.Models.Data;
using FusedOpt.Threading;

namespace FusedOpt.Models.Gadam;

/// <summary>
/// Gadam (seed 004 §6.1; Zhang and Gouza, arXiv:1805.07500): a population of g unit models, each trained with the
/// fused Adam, evolved by a genetic algorithm. One <see cref="Step"/> is one generation k:
/// </summary>
/// <remarks>
/// <code>
/// learn      every member Mᵢ trains E epochs with Adam on its own batches            (eq. 43)
/// fitness    Lᵢ on a shared validation batch; L̂ = min–max(L); P = softmax(−L̂)      (eq. 44–45)
/// pairs      g pairs (i, j) drawn with replacement by P                              (eq. 45)
/// crossover  child element from i with probability p_ij = e^−L̂ᵢ / (e^−L̂ᵢ + e^−L̂ⱼ)   (eq. 46–47)
/// mutation   with rate p_q = p·(1 − Pᵢ − Pⱼ) an element is redrawn                    (eq. 48–49)
/// children   train E epochs with a fresh Adam
/// select     parents and children scored on a new shared batch; the best g survive
/// stop       after K generations, or when |ΣL⁽ᵏ⁾ − ΣL⁽ᵏ⁺¹⁾| ≤ λ                        (eq. 50)
/// </code>
/// <para><b>Where members live.</b> There are 2g slots (g members and g children); slot s belongs to rank s mod R.
/// Members never move: a child is made on the rank of the free slot it goes to, and the only data that crosses ranks
/// are the fitness values (allgather) and, at crossover, the parameters of a parent whose child lives elsewhere —
/// the seed's O(g·d) communication. Everything random is keyed by (seed, generation, index) through Philox, so the
/// numbers never depend on the mode, the rank count, the worker count or which slot a member sits in.</para>
/// <para><b>Children's Adam state: fresh.</b> A child starts with zero moments and step 0. The seed says the children
/// "will be further trained with Adam", a new run from their crossed parameters; a fresh state also keeps the
/// communication to parameters only (inheriting m and v by the same mask would triple it), and a parent's moments
/// describe the curvature around that parent, not around a mixture of two.</para>
/// <para><b>Survivors keep theirs.</b> A member that survives keeps its Adam moments and step count into the next
/// generation's learning phase.</para>
/// </remarks>
public sealed class GadamRun : IDisposable
{
    private const int LearnPhase = 0;
    private const int ChildPhase = 1;
    private const int FitnessBatch = 0;
    private const int SelectionBatch = 1;

    private readonly Cifar10Dataset _data;
    private readonly IGadamComm _comm;
    private readonly GadamMember?[] _slots;
    private readonly int[] _population;
    private readonly List<double> _sums = [];
    private readonly Dictionary<string, MutationValue> _mutation;
    private readonly ModelSpec _spec;

    /// <summary>Creates generation 0: g members with independently seeded parameters.</summary>
    public GadamRun(Cifar10Dataset data, GadamOptions options, IGadamComm comm)
        : this(data, options, comm, initialize: true)
    {
    }

    private GadamRun(Cifar10Dataset data, GadamOptions options, IGadamComm comm, bool initialize)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(comm);
        options.Validate();
        if (comm.Size > 2 * options.Population)
        {
            throw new ArgumentException($"gadam: {comm.Size} processes for a population of {options.Population} (2g = {2 * options.Population} slots); use at most {2 * options.Population} ranks.");
        }

        if (data.Train.Count == 0)
        {
            throw new ArgumentException("gadam: the training set is empty.");
        }

        _data = data;
        _comm = comm;
        Options = options;
        _spec = Fcn.Spec(hidden: options.Hidden);
        _slots = new GadamMember?[2 * options.Population];
        _population = [.. Enumerable.Range(0, options.Population)];
        try
        {
            for (int s = 0; s < _slots.Length; s++)
            {
                if (Owner(s) == comm.Rank)
                {
                    _slots[s] = new GadamMember(_spec, options);
                }
            }

            var any = _slots.First(static m => m is not null)!;
            ParameterCount = any.Arena.ParameterCount;
            _mutation = any.MutationValues(options.Mutation);
            if (initialize)
            {
                for (int i = 0; i < options.Population; i++)
                {
                    _slots[_population[i]]?.Model.Initialize(GadamRandom.Seed64(options.Seed, GadamStream.Init, (uint)i, 0));
                }
            }
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>The run's settings.</summary>
    public GadamOptions Options { get; private set; }

    /// <summary>Generations completed.</summary>
    public int Generation { get; private set; }

    /// <summary>Parameters per member (d).</summary>
    public long ParameterCount { get; }

    /// <summary>Eq. 50 held after the last generation.</summary>
    public bool Converged { get; private set; }

    /// <summary>The run is over: K generations done, or converged.</summary>
    public bool Finished => Converged || Generation >= Options.Generations;

    /// <summary>Σ of the survivors' selection losses after each generation.</summary>
    public IReadOnlyList<double> SurvivorSums => _sums;

    /// <summary>This process's rank and the number of processes.</summary>
    public (int Rank, int Size) Process => (_comm.Rank, _comm.Size);

    /// <summary>Bytes this process has sent.</summary>
    public long BytesSent => _comm.BytesSent;

    private int Owner(int slot) => slot % _comm.Size;

    /// <summary>Runs one generation (see the class remarks) and returns what it decided.</summary>
    public GenerationRecord Step()
    {
        if (Finished)
        {
            throw new InvalidOperationException($"gadam: the run is finished ({(Converged ? "converged" : $"{Options.Generations} generations")}).");
        }

        int g = Options.Population, k = Generation;
        long bytesBefore = _comm.BytesSent;
        var clock = Stopwatch.StartNew();

        // Learning (eq. 43): each member of G⁽ᵏ⁾ trains E epochs on batches from its own stream (k, learn, i).
        var trainClock = Stopwatch.StartNew();
        long images = TrainAll([.. Enumerable.Range(0, g).Select(i => (_population[i], Seed(k, LearnPhase, i)))]);
        double trainSeconds = trainClock.Elapsed.TotalSeconds;

        // Fitness (eq. 44–45) on a validation batch sampled from the training set, shared by the population.
        var (vx, vy, vn) = ValidationBatch(k, FitnessBatch);
        double[] fitness = Losses(_population, vx, vy, vn);
        double[] normalized = GadamMath.Normalize(fitness);
        double[] probabilities = GadamMath.SelectionProbabilities(normalized);

        // Parent pairs, drawn with replacement, and each child's thresholds (eq. 47, 49).
        var pairs = new (int First, int Second, double Pij, double Pq)[g];
        for (int p = 0; p < g; p++)
        {
            var (i, j) = GadamMath.DrawPair(probabilities, Options.Seed, k, p);
            pairs[p] = (i, j, GadamMath.CrossoverProbability(normalized[i], normalized[j]), GadamMath.MutationRate(Options.MutationRate, probabilities[i], probabilities[j]));
        }

        // Children go to the free slots, in order; a parent living on another rank is sent there once.
        int[] childSlots = [.. Enumerable.Range(0, _slots.Length).Except(_population).Order()];
        var received = Exchange(pairs, childSlots);
        var counts = new GeneCounts[g];
        for (int p = 0; p < g; p++)
        {
            if (_slots[childSlots[p]] is { } child)
            {
                var plan = new ChildPlan(Options.Seed, k, p, GadamMath.Threshold24(pairs[p].Pij), GadamMath.Threshold24(pairs[p].Pq));
                counts[p] = Cross(ParentParams(_population[pairs[p].First], received), ParentParams(_population[pairs[p].Second], received), child, plan);
                child.ResetOptimizer();
            }
        }

        // The children train E epochs with a fresh Adam, each on its own stream (k, child, p).
        trainClock.Restart();
        images += TrainAll([.. Enumerable.Range(0, g).Select(p => (childSlots[p], Seed(k, ChildPhase, p)))]);
        trainSeconds += trainClock.Elapsed.TotalSeconds;

        // Selection: parents and children on a new shared batch; the best g form G⁽ᵏ⁺¹⁾.
        (vx, vy, vn) = ValidationBatch(k, SelectionBatch);
        int[] candidates = [.. _population, .. childSlots];
        double[] losses = Losses(candidates, vx, vy, vn);
        int[] survivors = GadamMath.SelectTop(losses, g);
        for (int i = 0; i < g; i++)
        {
            _population[i] = candidates[survivors[i]];
        }

        // Stop criterion (eq. 50) on the summed losses of consecutive generations.
        double sum = survivors.Sum(c => losses[c]);
        Converged = _sums.Count > 0 && GadamMath.HasConverged(_sums[^1], sum, Options.Lambda);
        _sums.Add(sum);
        Generation = k + 1;

        (double Loss, double Accuracy)? test = Options.EvaluateTest ? TestBest() : null;
        long[] gatheredCounts = _comm.GatherOwned([.. counts.SelectMany(static c => new[] { c.FromFirst, c.Mutated })], i => Owner(childSlots[i / 2]));
        long bytes = _comm.GatherOwned([.. Enumerable.Range(0, _comm.Size).Select(r => r == _comm.Rank ? _comm.BytesSent - bytesBefore : 0)], static r => r).Sum();
        return new GenerationRecord(
            k,
            fitness,
            normalized,
            probabilities,
            [.. Enumerable.Range(0, g).Select(p => new PairRecord(p, pairs[p].First, pairs[p].Second, pairs[p].Pij, pairs[p].Pq, gatheredCounts[2 * p], gatheredCounts[(2 * p) + 1]))],
            losses,
            survivors,
            sum,
            losses[survivors[0]],
            sum / g,
            test?.Accuracy,
            test?.Loss,
            Converged,
            images,
            trainSeconds,
            clock.Elapsed.TotalSeconds,
            bytes);
    }

    /// <summary>XxHash3 of each member's parameters (every tensor, in arena order), in population order, from every rank.</summary>
    public ulong[] MemberHashes()
    {
        var local = new ulong[Options.Population];
        for (int i = 0; i < local.Length; i++)
        {
            if (_slots[_population[i]] is { } member)
            {
                var hash = new XxHash3();
                foreach (var t in member.Arena.Tensors)
                {
                    hash.Append(MemoryMarshal.AsBytes((ReadOnlySpan<float>)member.Arena.Param(t)));
                }

                local[i] = hash.GetCurrentHashAsUInt64();
            }
        }

        return _comm.GatherOwned(local, i => Owner(_population[i]));
    }

    /// <summary>One hash of the whole population (<see cref="MemberHashes"/> hashed in order), as 16 hex digits.</summary>
    public string PopulationHash() => XxHash3.HashToUInt64(MemoryMarshal.AsBytes(MemberHashes().AsSpan())).ToString("x16", System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>
    /// Writes the population after the last completed generation into <paramref name="directory"/>: one optimizer
    /// state file (parameters, Adam moments, step count) per member, written by the rank that holds it, then — once
    /// every rank is done — <c>gadam.json</c>, the manifest that makes them a checkpoint. Older member files are removed.
    /// </summary>
    public void SaveCheckpoint(string directory)
    {
        GadamCheckpoint.Save(directory, this, (i, path) => _slots[_population[i]]?.Optimizer.Save(path), _comm);
    }

    /// <summary>
    /// Continues a run from the checkpoint in <paramref name="directory"/> with the same data: it then goes on exactly
    /// as if it had never stopped, on any number of ranks and in either mode. <paramref name="generations"/> may extend it.
    /// </summary>
    public static GadamRun Resume(Cifar10Dataset data, string directory, IGadamComm comm, int? generations = null, GadamMode? mode = null, int? workers = null)
    {
        ArgumentNullException.ThrowIfNull(data);
        var manifest = GadamCheckpoint.Read(directory);
        if (!manifest.Mean.SequenceEqual(data.Normalization.Mean) || !manifest.Std.SequenceEqual(data.Normalization.Std) || manifest.TrainImages != data.Train.Count)
        {
            throw new ArgumentException(
                $"gadam: the checkpoint in {directory} was trained on {manifest.TrainImages} images normalised with mean [{string.Join(", ", manifest.Mean)}]; this data has {data.Train.Count} with [{string.Join(", ", data.Normalization.Mean)}]. Load the same images (--data, --subset) to resume.");
        }

        var options = manifest.Options with
        {
            Generations = generations ?? manifest.Options.Generations,
            Mode = mode ?? manifest.Options.Mode,
            Workers = workers ?? manifest.Options.Workers,
        };
        var run = new GadamRun(data, options, comm, initialize: false);
        try
        {
            for (int i = 0; i < options.Population; i++)
            {
                run._slots[run._population[i]]?.Optimizer.Load(GadamCheckpoint.MemberPath(directory, manifest, i));
            }

            run.Generation = manifest.Generation;
            run.Converged = manifest.Converged;
            run._sums.AddRange(manifest.SurvivorSums);
            return run;
        }
        catch
        {
            run.Dispose();
            throw;
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var member in _slots)
        {
            member?.Dispose();
        }
    }

    internal (double[] Mean, double[] Std, int TrainImages) DataIdentity => ([.. _data.Normalization.Mean], [.. _data.Normalization.Std], _data.Train.Count);

    private ulong Seed(int generation, int phase, int index) => GadamRandom.Seed64(Options.Seed, GadamStream.Batches, (uint)generation, (uint)phase, (uint)index);

    /// <summary>Trains the listed (slot, stream) pairs this rank holds: one after another, or <see cref="GadamOptions.Workers"/> at a time.</summary>
    private long TrainAll((int Slot, ulong Seed)[] work)
    {
        var local = work.Where(w => _slots[w.Slot] is not null).ToArray();
        var images = new long[local.Length];
        ForEachLocal(local.Length, n => images[n] = _slots[local[n].Slot]!.Train(_data.Train, _data.Normalization, local[n].Seed, Options.EpochsPerGeneration).Images);
        long all = images.Sum();
        return _comm.GatherOwned([.. Enumerable.Range(0, _comm.Size).Select(r => r == _comm.Rank ? all : 0)], static r => r).Sum();
    }

    /// <summary>The loss (eq. 44) of every listed slot on a batch, computed by the slots' owners and gathered.</summary>
    private double[] Losses(int[] slots, float[] inputs, int[] labels, int count)
    {
        var local = new double[slots.Length];
        int[] mine = [.. Enumerable.Range(0, slots.Length).Where(c => _slots[slots[c]] is not null)];
        ForEachLocal(mine.Length, n => local[mine[n]] = _slots[slots[mine[n]]]!.Loss(inputs, labels, count));
        return _comm.GatherOwned(local, c => Owner(slots[c]));
    }

    private void ForEachLocal(int count, Action<int> body)
    {
        if (Options.Mode == GadamMode.Parallel && count > 1)
        {
            Parallel.For(0, count, new ParallelOptions { MaxDegreeOfParallelism = Options.Workers }, body);
        }
        else
        {
            for (int n = 0; n < count; n++)
            {
                body(n);
            }
        }
    }

    /// <summary>
    /// A validation batch: <see cref="GadamOptions.ValidationBatch"/> distinct training images chosen by a partial
    /// Fisher–Yates shuffle seeded from (k, purpose), normalised like the training batches.
    /// </summary>
    private (float[] Inputs, int[] Labels, int Count) ValidationBatch(int generation, int purpose)
    {
        var train = _data.Train;
        int n = Math.Min(Options.ValidationBatch, train.Count);
        var rng = new Rng(GadamRandom.Seed64(Options.Seed, GadamStream.Validation, (uint)generation, (uint)purpose));
        var order = Enumerable.Range(0, train.Count).ToArray();
        var inputs = new float[n * Cifar10Layout.ImageSize];
        var labels = new int[n];
        var table = _data.Normalization.Table;
        for (int r = 0; r < n; r++)
        {
            int pick = r + rng.NextInt(order.Length - r);
            (order[r], order[pick]) = (order[pick], order[r]);
            ImageTransform.Normalize(train.Image(order[r]), table, inputs.AsSpan(r * Cifar10Layout.ImageSize, Cifar10Layout.ImageSize));
            labels[r] = train.Label(order[r]);
        }

        return (inputs, labels, n);
    }

    /// <summary>
    /// Sends each parent whose child is made on another rank to that rank, once per (parent, rank). Every rank walks the
    /// same list in the same order and takes part only in its own transfers, so the blocking sends and receives cannot
    /// deadlock (the earliest pending transfer can always complete).
    /// </summary>
    private Dictionary<int, float[]> Exchange((int First, int Second, double Pij, double Pq)[] pairs, int[] childSlots)
    {
        var received = new Dictionary<int, float[]>();
        if (_comm.Size == 1)
        {
            return received;
        }

        var transfers = new List<(int Slot, int To)>();
        for (int p = 0; p < pairs.Length; p++)
        {
            foreach (int parent in new[] { pairs[p].First, pairs[p].Second })
            {
                int slot = _population[parent], to = Owner(childSlots[p]);
                if (Owner(slot) != to && !transfers.Contains((slot, to)))
                {
                    transfers.Add((slot, to));
                }
            }
        }

        long length = _slots.First(static m => m is not null)!.Arena.Length;
        for (int t = 0; t < transfers.Count; t++)
        {
            var (slot, to) = transfers[t];
            if (Owner(slot) == _comm.Rank)
            {
                _comm.Send(MemoryMarshal.AsBytes((ReadOnlySpan<float>)_slots[slot]!.Arena.Params.Span), to, t);
            }
            else if (to == _comm.Rank)
            {
                var buffer = new float[length];
                _comm.Receive(MemoryMarshal.AsBytes(buffer.AsSpan()), Owner(slot), t);
                received[slot] = buffer;
            }
        }

        return received;
    }

    private ReadOnlySpan<float> ParentParams(int slot, Dictionary<int, float[]> received) =>
        _slots[slot] is { } local ? local.Arena.Params.Span : received[slot];

    /// <summary>The fused crossover + mutation pass over every tensor of the arena, split across the workers.</summary>
    private GeneCounts Cross(ReadOnlySpan<float> first, ReadOnlySpan<float> second, GadamMember child, ChildPlan plan)
    {
        var total = default(GeneCounts);
        int parts = Options.Mode == GadamMode.Parallel ? Options.Workers : 1;
        unsafe
        {
            fixed (float* a = first, b = second)
            {
                float* pa = a, pb = b, pc = child.Arena.Params.Pointer;
                foreach (var tensor in child.Arena.Tensors)
                {
                    var value = _mutation[tensor.Name];
                    long offset = tensor.Offset, length = tensor.Length;
                    var partCounts = new GeneCounts[parts];
                    ForParts(parts, part =>
                    {
                        var (s, e) = Partition.Of(length, part, parts);
                        long at = offset + s;
                        partCounts[part] = GeneticOps.Apply(
                            new ReadOnlySpan<float>(pa + at, (int)(e - s)), new ReadOnlySpan<float>(pb + at, (int)(e - s)), new Span<float>(pc + at, (int)(e - s)),
                            at, value, plan, Options.Isa);
                    });
                    foreach (var c in partCounts)
                    {
                        total += c;
                    }
                }
            }
        }

        return total;
    }

    private static void ForParts(int parts, Action<int> body)
    {
        if (parts == 1)
        {
            body(0);
        }
        else
        {
            Parallel.For(0, parts, new ParallelOptions { MaxDegreeOfParallelism = parts }, body);
        }
    }

    private (double Loss, double Accuracy) TestBest()
    {
        int owner = Owner(_population[0]);
        var result = new double[] { double.NaN, double.NaN };
        if (_data.Test.Count == 0)
        {
            return (result[0], result[1]);
        }

        if (_slots[_population[0]] is { } best)
        {
            (result[0], result[1]) = best.Evaluate(_data.Test, _data.Normalization);
        }

        _comm.Broadcast(result, owner);
        return (result[0], result[1]);
    }
}

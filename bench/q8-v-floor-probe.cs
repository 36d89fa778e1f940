#:project ../src/FusedOpt.Models/FusedOpt.Models.csproj
#:property OutputType=Exe
#:property TargetFramework=net10.0

// Why Adam with q8 states trains slower than with fp32 states (docs/experiments.md, "Why Adam's q8 states train
// slower"). Trains seed 001's FCN protocol (3×500 ReLU, the first 4,000 CIFAR-10 images, batch 100, 10 epochs) and,
// after every step, reads the optimizer's second state back as stored (Optimizer.CopyState: q8 dequantized) to find
// the elements whose second state is stored as 0 while m is not; at the next step it measures how far those elements
// move against all the others. With fp32 states it marks the elements whose second state q8 would store as 0 (code 0
// of the unsigned map in its 256-block). --emulate quantizes chosen states of an fp32-state optimizer after each step
// (Q8.Quantize then Q8.Dequantize per tensor, blocks from each tensor's start: what --state q8 stores; emulating m and v
// gives --state q8's bits), so m and v can be stored differently; --v-store tries two ways of storing the second state.
// Writes nothing; prints every --every steps, each epoch, and a SUMMARY line.
//
//   dotnet run bench/q8-v-floor-probe.cs -- --state q8 [--optimizer adam|adabelief] [--eps E] [--seed S] [--threads T]
//     [--q8-min-elements N] [--emulate m|v|mv --v-store plain|nozero|sqrt] [--data DIR] [--every N]
using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using FusedOpt;
using FusedOpt.Kernels;
using FusedOpt.Memory;
using FusedOpt.Models.Data;
using FusedOpt.Models.Training;
using FusedOpt.Storage;

var inv = CultureInfo.InvariantCulture;
var known = new[] { "--optimizer", "--state", "--emulate", "--v-store", "--lr", "--eps", "--q8-min-elements", "--seed", "--threads", "--data", "--every", "--epochs" };
var given = new Dictionary<string, string>(StringComparer.Ordinal);
for (int i = 0; i < args.Length; i += 2)
{
    if (!known.Contains(args[i]) || i + 1 >= args.Length)
    {
        Console.Error.WriteLine($"'{args[i]}' is not an option with a value; expected one of {string.Join(", ", known)}, each followed by its value.");
        return 2;
    }

    given[args[i]] = args[i + 1];
}

string Arg(string name, string fallback) => given.TryGetValue(name, out var value) ? value : fallback;
string optimizerName = Arg("--optimizer", "adam");
var storage = StateStorages.Parse(Arg("--state", "fp32"), "--state");
string emulate = Arg("--emulate", "");
string vStore = Arg("--v-store", "plain");
if (emulate is not ("" or "m" or "v" or "mv") || vStore is not ("plain" or "nozero" or "sqrt") || (emulate.Length > 0 && storage != StateStorage.Fp32))
{
    Console.Error.WriteLine($"--emulate '{emulate}' / --v-store '{vStore}': expected --emulate m, v or mv (with --state fp32) and --v-store plain, nozero or sqrt.");
    return 2;
}

double lr = double.Parse(Arg("--lr", "3e-4"), inv);
long q8Min = long.Parse(Arg("--q8-min-elements", "4096"), inv);
int every = int.Parse(Arg("--every", "40"), inv);
var hyper = new Dictionary<string, double>(StringComparer.OrdinalIgnoreCase) { ["lr"] = lr };
if (given.TryGetValue("--eps", out var eps))
{
    hyper["eps"] = double.Parse(eps, inv);
}

var options = new TrainOptions
{
    Model = "fcn",
    Hidden = [500, 500, 500],
    Optimizer = optimizerName,
    Hyperparameters = hyper,
    Epochs = int.Parse(Arg("--epochs", "10"), inv),
    BatchSize = 100,
    Subset = 4000,
    Seed = ulong.Parse(Arg("--seed", "1"), inv),
    Threads = int.Parse(Arg("--threads", "1"), inv),
    StateStorage = storage,
    Q8MinElements = q8Min,
};
var data = Cifar10.Load(Arg("--data", "../shared/data/cifar-10-batches-bin"), options.DataOptions());
using var trainer = new Trainer(data, options);
var optimizer = trainer.Optimizer;
var arena = trainer.Arena;
string second = optimizer.Descriptor.States[1].Name;   // Adam: v; AdaBelief: s
var isa = IsaSupport.Best;
Console.WriteLine($"{optimizerName}, states {storage}{(emulate.Length > 0 ? $", emulating q8 for {emulate} ({second} stored {vStore})" : "")}, {string.Join(", ", hyper.Select(kv => $"{kv.Key} {kv.Value.ToString(inv)}"))}, q8 tensors ≥ {q8Min:N0} elements, seed {options.Seed}, {options.Threads} thread(s)");

TensorSlot[] quantized = [.. arena.Tensors.Where(t => t.Length >= q8Min)];
int count = (int)quantized.Sum(t => t.Length);
var before = arena.Params.Span.ToArray();
var marked = new bool[count];    // after the last step: the second state stored (fp32: would be stored) as 0, m not
var m = new float[count];
var v = new float[count];
var codes = new byte[quantized.Max(t => t.Length)];
var absmax = new float[Q8.BlockCount(codes.Length)];
var run = new Sums();
var window = new Sums();

// What storing x in q8 keeps, written into x: the map's nearest code × the block's absmax ("nozero": a positive value
// whose code would be 0 keeps the smallest nonzero code; "sqrt": √x is stored and squared on reading).
void StoreQ8(Span<float> x, DynamicMap map, string how)
{
    var c = codes.AsSpan(0, x.Length);
    var a = absmax.AsSpan(0, (int)Q8.BlockCount(x.Length));
    if (how == "sqrt")
    {
        for (int i = 0; i < x.Length; i++)
        {
            x[i] = MathF.Sqrt(x[i]);
        }
    }

    Q8.Quantize(x, c, a, map, isa);
    if (how == "nozero")
    {
        for (int i = 0; i < x.Length; i++)
        {
            c[i] = c[i] == 0 && x[i] > 0 ? (byte)1 : c[i];
        }
    }

    Q8.Dequantize(c, a, x, map, isa);
    if (how == "sqrt")
    {
        for (int i = 0; i < x.Length; i++)
        {
            x[i] *= x[i];
        }
    }
}

void AfterStep(long step)
{
    foreach (var t in quantized)
    {
        if (emulate.Contains('m', StringComparison.Ordinal))
        {
            StoreQ8(optimizer.GetState("m", t), DynamicMap.Signed, "plain");
        }

        if (emulate.Contains('v', StringComparison.Ordinal))
        {
            StoreQ8(optimizer.GetState(second, t), DynamicMap.Unsigned, vStore);
        }
    }

    var p = arena.Params.Span;
    var g = arena.Grads.Span;
    var perTensor = new int[quantized.Length];
    bool wouldBe = storage == StateStorage.Fp32 && !emulate.Contains('v', StringComparison.Ordinal);
    int offset = 0;
    for (int ti = 0; ti < quantized.Length; ti++)
    {
        var t = quantized[ti];
        int n = (int)t.Length;
        for (int i = 0; i < n; i++)
        {
            int k = (int)t.Offset + i;
            window.Add(before[k] - p[k], lr, marked[offset + i], g[k] == 0);
        }

        var ms = m.AsSpan(offset, n);
        var vs = v.AsSpan(offset, n);
        optimizer.CopyState("m", t, ms);
        optimizer.CopyState(second, t, vs);
        if (wouldBe)
        {
            Q8.Quantize(vs, codes.AsSpan(0, n), absmax.AsSpan(0, (int)Q8.BlockCount(n)), DynamicMap.Unsigned, isa);
        }

        for (int i = 0; i < n; i++)
        {
            bool zero = wouldBe ? codes[i] == 0 && vs[i] > 0 : vs[i] == 0;
            marked[offset + i] = zero && ms[i] != 0;
            perTensor[ti] += marked[offset + i] ? 1 : 0;
        }

        offset += n;
    }

    p.CopyTo(before);
    if (step % every == 0)
    {
        Console.WriteLine(string.Create(inv, $"step {step,4}: {perTensor.Sum(),5} marked now ({string.Join(", ", quantized.Select((t, i) => $"{t.Name} {perTensor[i]}"))}); last {every} steps: {window}"));
        run.Merge(window);
        window = new Sums();
    }
}

var losses = new List<double>();
var progress = new Synchronous(p => AfterStep(p.Iteration));
double accuracy = 0;
for (int epoch = 0; epoch < options.Epochs; epoch++)
{
    var result = trainer.RunEpoch(progress: progress);
    losses.Add(result.TrainLoss);
    accuracy = result.Test.Accuracy;
    Console.WriteLine(string.Create(inv, $"epoch {result.Epoch,2}: train loss {result.TrainLoss:F4}, test accuracy {result.Test.Accuracy:P2}"));
}

run.Merge(window);
Console.WriteLine(string.Create(inv, $"SUMMARY final train loss {losses[^1]:F4}, test accuracy {accuracy:P2}; epoch losses {string.Join(" ", losses.Select(l => l.ToString("F3", inv)))}; over the run: {run}"));
return 0;

/// <summary>Element-steps of the quantized tensors: all, and those marked after the previous step.</summary>
internal sealed class Sums
{
    private long _all, _marked, _markedZeroGradient, _markedOver10;
    private double _all2, _marked2, _allAbs, _markedAbs, _markedMax, _otherMax;

    public void Add(double step, double lr, bool marked, bool zeroGradient)
    {
        double size = Math.Abs(step) / lr;
        _all++;
        _all2 += step * step;
        _allAbs += size;
        if (marked)
        {
            _marked++;
            _marked2 += step * step;
            _markedAbs += size;
            _markedMax = Math.Max(_markedMax, size);
            _markedZeroGradient += zeroGradient ? 1 : 0;
            _markedOver10 += size > 10 ? 1 : 0;
        }
        else
        {
            _otherMax = Math.Max(_otherMax, size);
        }
    }

    public void Merge(Sums o)
    {
        _all += o._all;
        _marked += o._marked;
        _markedZeroGradient += o._markedZeroGradient;
        _markedOver10 += o._markedOver10;
        _all2 += o._all2;
        _marked2 += o._marked2;
        _allAbs += o._allAbs;
        _markedAbs += o._markedAbs;
        _markedMax = Math.Max(_markedMax, o._markedMax);
        _otherMax = Math.Max(_otherMax, o._otherMax);
    }

    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"{_marked:N0} marked element-steps of {_all:N0} ({(double)_marked / Math.Max(_all, 1):P4}), {(double)_markedZeroGradient / Math.Max(_marked, 1):P1} of them with g = 0, {_markedOver10:N0} over 10 lr; their share of Σ Δp² {_marked2 / Math.Max(_all2, double.Epsilon):P2}; mean |Δp| marked {_markedAbs / Math.Max(_marked, 1):F3} lr vs all {_allAbs / Math.Max(_all, 1):F3} lr; max marked {_markedMax:G4} lr vs others {_otherMax:G4} lr");
}

/// <summary>Reports on the training thread, after each step (System.Progress would post to the thread pool).</summary>
internal sealed class Synchronous(Action<TrainProgress> report) : IProgress<TrainProgress>
{
    public void Report(TrainProgress value) => report(value);
}

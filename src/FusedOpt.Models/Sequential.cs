using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using System.Numerics;
using System.Text;
using FusedOpt.Kernels;
using FusedOpt.Memory;
using FusedOpt.Models.Layers;
using FusedOpt.Threading;

namespace FusedOpt.Models;

/// <summary>
/// A feed-forward model: layers applied in order to row-major [batch, features] activations. It registers every
/// parameter in a <see cref="ParameterArena"/>, owns the activation buffers, and runs forward and backward passes.
/// </summary>
/// <remarks>
/// <para>Lifecycle, as a training loop uses it:</para>
/// <code>
/// using var model = Fcn.Create(threads: 2);          // 3072 → 500 → 500 → 500 → 10, ReLU
/// using var arena = new ParameterArena();
/// model.Register(arena);                              // adds fc1.weight, fc1.bias, …
/// arena.Build();
/// model.Initialize(seed: 1);                          // He/Xavier draws into the arena
/// using var opt = new Optimizer(arena, new Adam(Lr: 1e-3f), new() { Threads = 2 });
/// // per batch:
/// arena.ZeroGrads();
/// ReadOnlySpan&lt;float&gt; logits = model.Forward(images, batch, training: true);
/// double loss = new SoftmaxCrossEntropy().Evaluate(logits, labels, 10, dLogits);
/// model.Backward(dLogits);                            // gradients accumulate (+=) in arena.Grads
/// opt.Step();
/// </code>
/// <para>Buffers: the model copies the input (so the caller may reuse its buffer before <see cref="Backward"/>) and
/// keeps one output buffer per layer plus two gradient buffers, sized for the largest batch seen; a smaller batch
/// (the last one of an epoch) uses a prefix. Nothing is allocated per batch after the first.</para>
/// <para>Spans returned by <see cref="Forward"/> and <see cref="Backward"/> point into these buffers and are valid
/// until the next call. An instance is not thread-safe.</para>
/// </remarks>
/// <typeparam name="T"><see cref="float"/> (training) or <see cref="double"/> (gradient checks).</typeparam>
public sealed class Sequential<T> : IDisposable
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly Layer<T>[] _layers;
    private readonly MatMul<T> _matMul;
    private readonly WorkerPool? _pool;
    private T[][] _activations;
    private T[] _gradA = [];
    private T[] _gradB = [];
    private int _capacity;
    private int _batch = -1;
    private int _firstTrainable;
    private (int First, int Count)[] _tensorRanges = [];
    private ParameterArena? _arena;
    private ParameterStore<T>? _store;

    /// <summary>Chains <paramref name="layers"/>; each layer's input width must equal the previous layer's output width.</summary>
    /// <param name="layers">The layers, first to last.</param>
    /// <param name="threads">Threads for the matrix products (float32).</param>
    /// <param name="isa">Instruction set to force; null picks <c>FUSEDOPT_ISA</c> or the widest supported.</param>
    public Sequential(IEnumerable<Layer<T>> layers, int threads = 1, Isa? isa = null)
    {
        ArgumentNullException.ThrowIfNull(layers);
        _layers = [.. layers];
        if (_layers.Length == 0)
        {
            throw new ArgumentException("A model needs at least one layer.", nameof(layers));
        }

        for (int i = 1; i < _layers.Length; i++)
        {
            if (_layers[i].InputFeatures != _layers[i - 1].OutputFeatures)
            {
                throw new ArgumentException(
                    $"Layer {i} '{_layers[i].Name}' takes {_layers[i].InputFeatures} features but layer {i - 1} '{_layers[i - 1].Name}' produces {_layers[i - 1].OutputFeatures}.",
                    nameof(layers));
            }
        }

        var duplicate = _layers.GroupBy(static l => l.Name, StringComparer.Ordinal).FirstOrDefault(static g => g.Count() > 1 && g.Any(static l => l.HasParameters));
        if (duplicate is not null)
        {
            throw new ArgumentException($"Two layers are named '{duplicate.Key}'; layers with parameters need distinct names.", nameof(layers));
        }

        _matMul = new MatMul<T>(threads, isa);
        if (typeof(T) == typeof(float) && threads > 1)
        {
            _pool = new WorkerPool(threads);
            foreach (var layer in _layers)
            {
                layer.Attach(_pool);
            }
        }
        _activations = new T[_layers.Length + 1][];
        Array.Fill(_activations, []);
    }

    /// <summary>Builds the model described by <paramref name="spec"/>.</summary>
    public Sequential(ModelSpec spec, int threads = 1, Isa? isa = null)
        : this((spec ?? throw new ArgumentNullException(nameof(spec))).Layers.Select(static s => s.Create<T>()), threads, isa)
    {
    }

    /// <summary>The layers, first to last.</summary>
    public IReadOnlyList<Layer<T>> Layers => _layers;

    /// <summary>Features per input row.</summary>
    public int InputFeatures => _layers[0].InputFeatures;

    /// <summary>Features per output row (classes, for a classifier).</summary>
    public int OutputFeatures => _layers[^1].OutputFeatures;

    /// <summary>
    /// The largest batch a forward pass has taken so far: the model's activation and gradient buffers are sized for it
    /// and grow only when a larger batch comes (0 before the first forward). The layers' workspaces (im2col columns,
    /// Winograd tiles, BatchNorm partial sums) follow the same rule.
    /// </summary>
    public int BatchCapacity => _capacity;

    /// <summary>The architecture as data, to rebuild it elsewhere (another precision, a report).</summary>
    public ModelSpec Spec => new([.. _layers.Select(static l => l.Spec)]);

    /// <summary>The instruction set and threads of the matrix products.</summary>
    public MatMul<T> MatMul => _matMul;

    /// <summary>Every parameter tensor, in registration order (empty before <see cref="Register"/>).</summary>
    public IReadOnlyList<TensorSlot> Parameters => [.. _layers.SelectMany(static l => l.Parameters)];

    /// <summary>Every non-trainable buffer (BatchNorm running statistics), in layer order: saved in checkpoints, never stepped.</summary>
    public IReadOnlyList<LayerBuffer<T>> Buffers => [.. _layers.SelectMany(static l => l.Buffers)];

    /// <summary>Number of parameters (weights and biases).</summary>
    public long ParameterCount => _layers.SelectMany(static l => l.Parameters).Sum(static t => t.Length);

    /// <summary>The store the model reads parameters from and adds gradients to, once bound.</summary>
    public ParameterStore<T> Store => _store ?? EnsureStore();

    /// <summary>
    /// Registers every layer's tensors in <paramref name="arena"/> (before its <see cref="ParameterArena.Build"/>).
    /// </summary>
    /// <param name="arena">The arena; may already hold other tensors.</param>
    /// <param name="groupOf">Parameter group of each tensor by name (e.g. biases in group 1, without weight decay); default 0.</param>
    public void Register(ParameterArena arena, Func<string, int>? groupOf = null)
    {
        ArgumentNullException.ThrowIfNull(arena);
        if (_arena is not null)
        {
            throw new InvalidOperationException("The model is already registered in an arena.");
        }

        groupOf ??= static _ => 0;
        _tensorRanges = new (int First, int Count)[_layers.Length];
        for (int i = 0; i < _layers.Length; i++)
        {
            int before = arena.Tensors.Count;
            _layers[i].Register(arena, groupOf);
            _tensorRanges[i] = (before, arena.Tensors.Count - before);
        }

        _arena = arena;
        _firstTrainable = Array.FindIndex(_layers, static l => l.Parameters.Count > 0);
        _firstTrainable = _firstTrainable < 0 ? _layers.Length : _firstTrainable;
    }

    /// <summary>
    /// Makes the layers read parameters from and write gradients to <paramref name="store"/>, which must follow the
    /// arena the model registered in. A float32 model binds the arena itself on first use, so only other stores
    /// (float64 copies for checks) need this.
    /// </summary>
    public void Bind(ParameterStore<T> store)
    {
        ArgumentNullException.ThrowIfNull(store);
        if (_arena is null)
        {
            throw new InvalidOperationException("Register the model in an arena before binding a parameter store.");
        }

        if (!ReferenceEquals(store.Arena, _arena))
        {
            throw new ArgumentException("The store follows a different arena than the one the model is registered in.", nameof(store));
        }

        foreach (var layer in _layers)
        {
            layer.Bind(store);
        }

        _store = store;
    }

    /// <summary>
    /// Draws every layer's initial parameters: each tensor from its own stream <c>Rng.Derive(seed, name)</c>, so a
    /// tensor's values depend only on the seed, its name and its shape.
    /// </summary>
    public void Initialize(ulong seed)
    {
        EnsureStore();
        foreach (var layer in _layers)
        {
            layer.Initialize(seed);
        }
    }

    /// <summary>Draws the initial parameters with the seed <c>rng.NextUInt64()</c>; see <see cref="Initialize(ulong)"/>.</summary>
    public void Initialize(Rng rng)
    {
        ArgumentNullException.ThrowIfNull(rng);
        Initialize(rng.NextUInt64());
    }

    /// <summary>Restarts the random streams of stochastic layers (dropout): layer i gets <c>Derive(seed, i)</c>.</summary>
    public void Reseed(ulong seed)
    {
        for (int i = 0; i < _layers.Length; i++)
        {
            _layers[i].Reseed(Rng.Derive(seed, (ulong)i).NextUInt64());
        }
    }

    /// <summary>Runs the layers on <paramref name="batch"/> rows and returns the output [batch, <see cref="OutputFeatures"/>].</summary>
    /// <param name="input">[batch, <see cref="InputFeatures"/>], row-major; copied, so the caller may reuse it at once.</param>
    /// <param name="batch">Rows, ≥ 1.</param>
    /// <param name="training">True for training (dropout active), false for evaluation.</param>
    public ReadOnlySpan<T> Forward(ReadOnlySpan<T> input, int batch, bool training)
    {
        if (batch < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(batch), batch, $"The batch must hold at least one row, got {batch}.");
        }

        if (input.Length != (long)batch * InputFeatures)
        {
            throw new ArgumentException($"The input holds {input.Length} values but a batch of {batch} rows × {InputFeatures} features needs {(long)batch * InputFeatures}.", nameof(input));
        }

        EnsureStore();
        EnsureCapacity(batch);
        input.CopyTo(_activations[0]);
        for (int i = 0; i < _layers.Length; i++)
        {
            var layer = _layers[i];
            long start = Stopwatch.GetTimestamp();
            layer.Forward(_matMul, Rows(_activations[i], batch, layer.InputFeatures), Rows(_activations[i + 1], batch, layer.OutputFeatures), batch, training);
            layer.Timings.AddForward(Stopwatch.GetTimestamp() - start);
        }

        _batch = batch;
        return Rows(_activations[^1], batch, OutputFeatures);
    }

    /// <summary>
    /// Back-propagates dL/d(output) of the latest <see cref="Forward"/>: adds dL/dθ into every parameter gradient
    /// (the caller zeroes them, e.g. <see cref="ParameterArena.ZeroGrads"/>, before the batch).
    /// </summary>
    /// <param name="outputGradient">dL/d(output), [batch, <see cref="OutputFeatures"/>].</param>
    /// <param name="inputGradient">
    /// Also compute dL/d(input) and return it. Otherwise layers below the first one with parameters are not run at
    /// all and that layer skips its dL/dx.
    /// </param>
    /// <param name="hook">
    /// Told after each layer with parameters, as soon as its gradients are complete (the step inside backward steps
    /// the layer's tensors there); null for none.
    /// </param>
    /// <returns>dL/d(input) [batch, <see cref="InputFeatures"/>] when <paramref name="inputGradient"/>, else empty.</returns>
    public ReadOnlySpan<T> Backward(ReadOnlySpan<T> outputGradient, bool inputGradient = false, IBackwardHook? hook = null)
    {
        if (_batch < 0)
        {
            throw new InvalidOperationException("Backward needs a Forward first.");
        }

        int batch = _batch;
        if (outputGradient.Length != (long)batch * OutputFeatures)
        {
            throw new ArgumentException($"The output gradient holds {outputGradient.Length} values but the last forward produced {batch} rows × {OutputFeatures} features = {(long)batch * OutputFeatures}.", nameof(outputGradient));
        }

        // Below the first layer with parameters nothing needs a gradient unless the caller asks for dL/d(input): in
        // Flatten → fc1 → …, fc1's dL/dx (a [B, in]·[in, out] product, as costly as its forward) is skipped.
        ReadOnlySpan<T> dy = outputGradient;
        bool useA = true;
        int last = inputGradient ? 0 : _firstTrainable;
        for (int i = _layers.Length - 1; i >= last; i--)
        {
            var layer = _layers[i];
            bool needDx = i > last || inputGradient;
            Span<T> dx = Rows(useA ? _gradA : _gradB, batch, layer.InputFeatures);
            long start = Stopwatch.GetTimestamp();
            layer.Backward(
                _matMul,
                Rows(_activations[i], batch, layer.InputFeatures),
                Rows(_activations[i + 1], batch, layer.OutputFeatures),
                dy, dx, batch, needDx);
            layer.Timings.AddBackward(Stopwatch.GetTimestamp() - start);

            // The layer has added its dL/dθ and read its θ for dL/dx: nothing below it touches either again.
            if (hook is not null && _tensorRanges[i].Count > 0)
            {
                hook.GradientsComplete(_tensorRanges[i].First, _tensorRanges[i].Count);
            }

            dy = dx;
            useA = !useA;
        }

        return inputGradient ? dy : [];
    }

    /// <summary>A table of the layers, their output widths and parameter counts.</summary>
    public string Summary()
    {
        var text = new StringBuilder();
        text.Append("input ").Append(InputFeatures).AppendLine();
        foreach (var layer in _layers)
        {
            long count = layer.Parameters.Sum(static t => t.Length);
            text.Append("  ").Append(layer.Name.PadRight(10)).Append(' ').Append(layer.Spec.ToString().PadRight(36));
            text.Append(count > 0 ? $" {count,10:N0} parameters" : string.Empty).AppendLine();
        }

        text.Append("total ").Append(ParameterCount.ToString("N0", System.Globalization.CultureInfo.InvariantCulture)).Append(" parameters");
        return text.ToString();
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _matMul.Dispose();
        _pool?.Dispose();
    }

    private static Span<T> Rows(T[] buffer, int batch, int features) => buffer.AsSpan(0, batch * features);

    private ParameterStore<T> EnsureStore()
    {
        if (_store is not null)
        {
            return _store;
        }

        if (_arena is null)
        {
            throw new InvalidOperationException("Register the model in a ParameterArena (model.Register(arena); arena.Build()) before using it.");
        }

        if (!_arena.IsBuilt)
        {
            throw new InvalidOperationException("Build the arena (arena.Build()) after registering the model and before using it.");
        }

        if (typeof(T) != typeof(float))
        {
            throw new InvalidOperationException($"A {typeof(T).Name} model cannot compute in the float32 arena: bind an ArrayParameters<{typeof(T).Name}> store first.");
        }

        Bind((ParameterStore<T>)(object)new ArenaParameters(_arena));
        return _store!;
    }

    private void EnsureCapacity(int batch)
    {
        if (batch <= _capacity)
        {
            return;
        }

        _activations[0] = new T[batch * InputFeatures];
        int widest = InputFeatures;
        for (int i = 0; i < _layers.Length; i++)
        {
            _activations[i + 1] = new T[batch * _layers[i].OutputFeatures];
            widest = Math.Max(widest, _layers[i].OutputFeatures);
        }

        _gradA = new T[batch * widest];
        _gradB = new T[batch * widest];
        _capacity = batch;
    }
}

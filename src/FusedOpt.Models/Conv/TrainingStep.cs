using System;
using FusedOpt.Memory;
using FusedOpt.Models.Losses;

namespace FusedOpt.Models;

/// <summary>
/// One model, its arena and an optimizer, stepping on minibatches: zero the gradients, forward in training mode,
/// softmax cross-entropy, backward, optimizer step (after backward, or layer by layer inside it). Everything is allocated on construction and on the first step of
/// the largest batch; later steps allocate nothing. Used by <c>bench train --model vgg11</c> and the allocation test.
/// </summary>
public sealed class TrainingStep : IDisposable
{
    private readonly ParameterArena _arena;
    private readonly Optimizer _optimizer;
    private readonly SoftmaxCrossEntropy _loss = new();
    private readonly Training.Trainer.StepTensorsHook? _stepInBackward;
    private float[] _dLogits = [];

    /// <summary>Builds <paramref name="spec"/> in float32, draws its parameters from <paramref name="seed"/>, and the optimizer.</summary>
    /// <param name="spec">The model.</param>
    /// <param name="rule">The update rule (e.g. <c>new Sgd(Lr: 0.01f, Momentum: 0.9f)</c>).</param>
    /// <param name="threads">Threads of the GEMM and the optimizer step.</param>
    /// <param name="mode">Fused or naive optimizer step.</param>
    /// <param name="seed">Seed of the parameters.</param>
    /// <param name="stepInBackward">Step each layer's tensors inside the backward pass instead of after it (same bits).</param>
    public TrainingStep(ModelSpec spec, IOptimizerRule rule, int threads, StepMode mode = StepMode.Fused, ulong seed = 1, bool stepInBackward = false)
        : this(spec, rule, new OptimizerOptions { Threads = threads, Mode = mode }, seed, stepInBackward)
    {
    }

    /// <summary>
    /// Builds <paramref name="spec"/> in float32 on <paramref name="optimizerOptions"/>' thread count, draws its parameters
    /// from <paramref name="seed"/>, and the optimizer with those options (step mode, state storage, …).
    /// </summary>
    /// <param name="spec">The model.</param>
    /// <param name="rule">The update rule.</param>
    /// <param name="optimizerOptions">The optimizer's options; their <see cref="OptimizerOptions.Threads"/> and
    /// <see cref="OptimizerOptions.Isa"/> also run the model's GEMMs.</param>
    /// <param name="seed">Seed of the parameters.</param>
    /// <param name="stepInBackward">Step each layer's tensors inside the backward pass instead of after it (same bits).</param>
    /// <exception cref="NotSupportedException"><paramref name="stepInBackward"/> with MaxGradNorm or SkipNonFinite set.</exception>
    public TrainingStep(ModelSpec spec, IOptimizerRule rule, OptimizerOptions optimizerOptions, ulong seed, bool stepInBackward)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(rule);
        ArgumentNullException.ThrowIfNull(optimizerOptions);
        if (stepInBackward)
        {
            // The optimizer's own refusal, at construction rather than at the first step.
            OptimizerCore.RequirePartialStepOptions(optimizerOptions);
        }

        Model = spec.Build<float>(optimizerOptions.Threads, optimizerOptions.Isa);
        _arena = new ParameterArena();
        try
        {
            Model.Register(_arena);
            _arena.Build();
            Model.Initialize(seed);
            _optimizer = new Optimizer(_arena, rule, optimizerOptions);
        }
        catch
        {
            Model.Dispose();
            _arena.Dispose();
            throw;
        }

        _stepInBackward = stepInBackward ? new Training.Trainer.StepTensorsHook(_optimizer) : null;
    }

    /// <summary>Whether the optimizer steps each layer inside the backward pass.</summary>
    public bool StepInBackward => _stepInBackward is not null;

    /// <summary>The optimizer.</summary>
    public Optimizer Optimizer => _optimizer;

    /// <summary>The model.</summary>
    public Sequential<float> Model { get; }

    /// <summary>The arena holding parameters and gradients.</summary>
    public ParameterArena Arena => _arena;

    /// <summary>One training iteration on <paramref name="batch"/> images; returns the loss.</summary>
    /// <param name="images">At least [batch, input features] (a prefix is used), in the model's input layout.</param>
    /// <param name="labels">Class of each image.</param>
    /// <param name="batch">Images.</param>
    public double Step(ReadOnlySpan<float> images, ReadOnlySpan<int> labels, int batch)
    {
        int classes = Model.OutputFeatures;
        if (_dLogits.Length < batch * classes)
        {
            _dLogits = new float[batch * classes];
        }

        if (!_optimizer.GradientsZeroed)
        {
            // The step inside backward zeroed every gradient it stepped, in cache; otherwise one pass here.
            _arena.ZeroGrads();
        }

        var logits = Model.Forward(images[..(batch * Model.InputFeatures)], batch, training: true);
        Span<float> dLogits = _dLogits.AsSpan(0, batch * classes);
        double loss = _loss.Evaluate(logits, labels[..batch], classes, dLogits);
        if (_stepInBackward is { } hook)
        {
            _optimizer.BeginStep();
            Model.Backward(dLogits, hook: hook);
            _optimizer.EndStep();
        }
        else
        {
            Model.Backward(dLogits);
            _optimizer.Step();
        }

        return loss;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _optimizer.Dispose();
        Model.Dispose();
        _arena.Dispose();
    }
}

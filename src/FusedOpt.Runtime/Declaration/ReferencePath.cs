using System;
using System.Collections.Generic;
using FusedOpt.Kernels;

namespace FusedOpt;

/// <summary>
/// Runs a declaration's reference path (<see cref="IOptimizerRule.RunReference"/>: its own <c>Update</c> method, element
/// by element, as the user wrote it) over one tensor for several steps. This is the oracle the tests hold the fused,
/// naive and GPU paths to; it is slow and is not a training path.
/// </summary>
public static class ReferencePath
{
    /// <summary>The parameters, per-element states and per-step states after the steps.</summary>
    /// <param name="Params">Final parameters.</param>
    /// <param name="States">Final per-element states in declaration order (null for a state the rule does not need).</param>
    /// <param name="StepStates">Final per-step states.</param>
    public sealed record Result(float[] Params, float[]?[] States, double[] StepStates);

    /// <summary>
    /// Takes one step per gradient in <paramref name="grads"/> from <paramref name="initial"/>, with states starting at
    /// their declared initial values, as <see cref="Optimizer"/> does (steps counted from 1).
    /// </summary>
    /// <param name="rule">A generated rule.</param>
    /// <param name="initial">Starting parameters (not modified).</param>
    /// <param name="grads">One gradient per step, each as long as <paramref name="initial"/>.</param>
    /// <param name="gradScale">Multiplier applied to every gradient (1: none).</param>
    public static unsafe Result Run(IOptimizerRule rule, ReadOnlySpan<float> initial, IReadOnlyList<float[]> grads, float gradScale = 1f)
    {
        ArgumentNullException.ThrowIfNull(rule);
        ArgumentNullException.ThrowIfNull(grads);
        var d = rule.Descriptor;
        if (d.States.Count > StatePointers.Capacity)
        {
            throw new ArgumentException($"{d.Name}: {d.States.Count} states; at most {StatePointers.Capacity} are supported.", nameof(rule));
        }

        int n = initial.Length;
        var p = initial.ToArray();
        var hypers = rule.GetHyperparameters();
        var states = new float[]?[d.States.Count];
        for (int s = 0; s < states.Length; s++)
        {
            if (!rule.IsStateNeeded(s))
            {
                continue;
            }

            var info = d.States[s];
            float start = (float)(info.InitialFrom is null ? info.InitialValue : hypers[d.IndexOfHyperparameter(info.InitialFrom)]);
            states[s] = new float[Math.Max(n, 1)];
            Array.Fill(states[s]!, start);
        }

        var stepStates = new double[d.StepStates.Count];
        for (int q = 0; q < stepStates.Length; q++)
        {
            stepStates[q] = d.StepStates[q].InitialValue;
        }

        var handles = new System.Runtime.InteropServices.GCHandle[states.Length];
        try
        {
            for (int s = 0; s < states.Length; s++)
            {
                if (states[s] is { } buffer)
                {
                    handles[s] = System.Runtime.InteropServices.GCHandle.Alloc(buffer, System.Runtime.InteropServices.GCHandleType.Pinned);
                }
            }

            var pBuffer = new float[Math.Max(n, 1)];
            p.CopyTo(pBuffer, 0);
            var gBuffer = new float[Math.Max(n, 1)];
            fixed (float* pp = pBuffer, gp = gBuffer)
            {
                var frame = new StepFrame { PPtr = pp, GPtr = gp, GradScale = gradScale };
                for (int s = 0; s < states.Length; s++)
                {
                    frame.States[s] = handles[s].IsAllocated ? handles[s].AddrOfPinnedObject() : 0;
                }

                int flags = gradScale != 1f ? 1 : 0;
                for (int step = 0; step < grads.Count; step++)
                {
                    if (grads[step].Length != n)
                    {
                        throw new ArgumentException($"Gradient {step} has {grads[step].Length} elements; the parameters have {n}.", nameof(grads));
                    }

                    grads[step].CopyTo(gBuffer, 0);
                    rule.RunReference(flags, step + 1, stepStates, in frame, 0, n);
                }
            }

            Array.Copy(pBuffer, p, n);
        }
        finally
        {
            foreach (var h in handles)
            {
                if (h.IsAllocated)
                {
                    h.Free();
                }
            }
        }

        for (int s = 0; s < states.Length; s++)
        {
            if (states[s] is { } buffer && buffer.Length != n)
            {
                states[s] = buffer.AsSpan(0, n).ToArray();
            }
        }

        return new Result(p, states, stepStates);
    }
}

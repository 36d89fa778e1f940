using System;
using System.Collections.Generic;
using System.Linq;
using FusedOpt.Kernels;
using FusedOpt.Memory;

namespace FusedOpt.Models.Training;

/// <summary>What an optimizer rule's <c>weight_decay</c> hyperparameter does.</summary>
public enum WeightDecayStyle
{
    /// <summary>The rule has no <c>weight_decay</c>, or it acts neither as L2 nor as decoupled decay.</summary>
    None,

    /// <summary>λ·p is added to the gradient (torch.optim.Adam, SGD, RMSprop…).</summary>
    L2,

    /// <summary>p ← p·(1 − γ·λ), apart from the gradient (torch.optim.AdamW).</summary>
    Decoupled,
}

/// <summary>
/// Weight decay through the optimizer's own hyperparameters, one rule per parameter group: the trainer puts weights
/// (tensors of rank ≥ 2: Linear and convolution kernels) in group 0 and biases and normalisation parameters (rank 1)
/// in group 1; with <see cref="TrainOptions.WeightDecay"/> λ &gt; 0, group 0 gets <c>weight_decay = λ</c> and group 1
/// <c>weight_decay = 0</c>. <c>--decay l2|decoupled</c> must match what the rule's <c>weight_decay</c> does
/// (<see cref="StyleOf"/>), so <c>adam --decay decoupled</c> is refused with a pointer to <c>adamw</c> rather than
/// silently turned into something else.
/// </summary>
public static class WeightDecay
{
    /// <summary>Group of weights, which are decayed.</summary>
    public const int WeightGroup = 0;

    /// <summary>Group of biases and normalisation parameters, never decayed.</summary>
    public const int NoDecayGroup = 1;

    /// <summary>The group of a tensor of shape <paramref name="shape"/>: rank ≥ 2 is a weight, rank ≤ 1 a bias or normalisation parameter.</summary>
    public static int GroupOf(ReadOnlySpan<int> shape) => shape.Length >= 2 ? WeightGroup : NoDecayGroup;

    /// <summary>The optimizer rule of each of <paramref name="groups"/> parameter groups for <paramref name="options"/>.</summary>
    /// <exception cref="ArgumentException">The optimizer cannot express the weight decay asked for; the message says why and what to use.</exception>
    public static IOptimizerRule[] GroupRules(TrainOptions options, int groups)
    {
        ArgumentNullException.ThrowIfNull(options);
        var rule = OptimizerCatalog.Create(options.Optimizer, options.Hyperparameters);
        var rules = Enumerable.Repeat(rule, groups).ToArray();
        if (options.WeightDecay == 0)
        {
            return rules;
        }

        var d = rule.Descriptor;
        int index = d.IndexOfHyperparameter("weight_decay");
        if (index < 0)
        {
            throw new ArgumentException($"--weight-decay {options.WeightDecay}: {d.Name} has no weight_decay hyperparameter; optimizers with one: {string.Join(", ", WithStyle(null))}.");
        }

        if (options.Hyperparameters.Keys.Any(k => d.IndexOfHyperparameter(k) == index))
        {
            throw new ArgumentException($"--weight-decay {options.WeightDecay} and --set weight_decay both given: --weight-decay decays weights only, --set weight_decay every tensor; give one.");
        }

        var style = StyleOf(rule);
        var wanted = options.DecayMode == WeightDecayMode.L2 ? WeightDecayStyle.L2 : WeightDecayStyle.Decoupled;
        if (style != wanted)
        {
            string mode = wanted.ToString().ToLowerInvariant();
            throw new ArgumentException(style == WeightDecayStyle.None
                ? $"--weight-decay: the weight_decay of {d.Name} is neither L2 nor decoupled decay, so the trainer cannot apply --decay {mode} with it."
                : $"--decay {mode}: the weight_decay of {d.Name} is {Describe(style)}; use --decay {style.ToString().ToLowerInvariant()}, or an optimizer with {Describe(wanted)} weight decay: {string.Join(", ", WithStyle(wanted))}.");
        }

        var values = rule.GetHyperparameters();
        for (int g = 0; g < groups; g++)
        {
            values[index] = g == WeightGroup ? options.WeightDecay : 0;
            rules[g] = d.Create(values);
            rules[g].Validate();
        }

        return rules;
    }

    /// <summary>
    /// What <paramref name="rule"/>'s <c>weight_decay</c> does, found by running it rather than by a list of names:
    /// one scalar step from p = 1, g = 0 with λ = 0.1 (and lr = 0.1 where the rule has one) is compared with a step
    /// without decay from g = λ·p (L2) and from p·(1 − lr·λ) (decoupled).
    /// </summary>
    public static WeightDecayStyle StyleOf(IOptimizerRule rule)
    {
        ArgumentNullException.ThrowIfNull(rule);
        var d = rule.Descriptor;
        int index = d.IndexOfHyperparameter("weight_decay");
        if (index < 0)
        {
            return WeightDecayStyle.None;
        }

        const float Lambda = 0.1f, P = 1;
        var values = rule.GetHyperparameters();
        int lr = d.IndexOfHyperparameter("lr");
        if (lr >= 0)
        {
            values[lr] = 0.1;
        }

        double rate = lr >= 0 ? values[lr] : 1;
        values[index] = Lambda;
        var decayed = d.Create(values);
        values[index] = 0;
        var plain = d.Create(values);
        try
        {
            decayed.Validate();
            plain.Validate();
        }
        catch (ArgumentException)
        {
            return WeightDecayStyle.None;
        }

        float withDecay = OneStep(decayed, P, 0);
        if (Math.Abs(withDecay - OneStep(plain, P, Lambda * P)) <= 1e-6f)
        {
            return WeightDecayStyle.L2;
        }

        return Math.Abs(withDecay - OneStep(plain, (float)(P * (1 - (rate * Lambda))), 0)) <= 1e-6f ? WeightDecayStyle.Decoupled : WeightDecayStyle.None;
    }

    private static float OneStep(IOptimizerRule rule, float p, float g)
    {
        using var arena = new ParameterArena();
        var slot = arena.Add("p", 1);
        arena.Build();
        arena.Param(slot)[0] = p;
        arena.Grad(slot)[0] = g;
        using var optimizer = new Optimizer(arena, rule, new OptimizerOptions { Threads = 1, Isa = Isa.Scalar });
        optimizer.Step();
        return arena.Param(slot)[0];
    }

    private static IEnumerable<string> WithStyle(WeightDecayStyle? style) =>
        OptimizerCatalog.All.Where(d => d.IndexOfHyperparameter("weight_decay") >= 0
                                        && (style is null || StyleOf(OptimizerCatalog.Create(d.Name)) == style))
            .Select(static d => d.Name);

    private static string Describe(WeightDecayStyle style) => style switch
    {
        WeightDecayStyle.L2 => "L2 (added to the gradient)",
        WeightDecayStyle.Decoupled => "decoupled (p·(1 − lr·λ))",
        _ => "neither L2 nor decoupled",
    };
}

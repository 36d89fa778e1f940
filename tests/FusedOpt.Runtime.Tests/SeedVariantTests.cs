using System;
using System.Collections.Generic;
using System.Linq;
using Xunit;

namespace FusedOpt.Tests;

/// <summary>
/// The seed variants against their seed documents' formulas, written out here independently (float64 loops over the
/// elements, nothing shared with the declarations), over several steps, with non-default hyperparameters.
/// </summary>
public sealed class SeedVariantTests
{
    private const int Steps = 10;

    [Fact]
    public void SgdEma_MatchesZhangAlgorithm4()
    {
        // Zhang (seed 004), Algorithm 4, lines 7–8: Δv = ρ·Δv + (1 − ρ)·∇L;  θ = θ − η·Δv.
        const double eta = 0.05, rho = 0.8;
        Check("sgd-ema", new() { ["lr"] = eta, ["rho"] = rho }, (theta, g, v, _) =>
        {
            for (int i = 0; i < theta.Length; i++)
            {
                v[0][i] = rho * v[0][i] + (1 - rho) * g[i];
                theta[i] -= eta * v[0][i];
            }
        });
    }

    [Fact]
    public void SgdMomentum_MatchesFischerFigure3()
    {
        // Fischer (seed 001), Figure 3: v = mu * v - learning_rate * dw;  w += v.
        const double learningRate = 0.02, mu = 0.85;
        Check("sgd-momentum", new() { ["lr"] = learningRate, ["mu"] = mu }, (w, dw, v, _) =>
        {
            for (int i = 0; i < w.Length; i++)
            {
                v[0][i] = mu * v[0][i] - learningRate * dw[i];
                w[i] += v[0][i];
            }
        });
    }

    [Fact]
    public void SgdNesterov_MatchesFischerFigure5()
    {
        // Fischer (seed 001), Figure 5: v_prev = v;  v = mu * v - learning_rate * dw;  w += v + mu * (v - v_prev).
        const double learningRate = 0.02, mu = 0.85;
        Check("sgd-nesterov", new() { ["lr"] = learningRate, ["mu"] = mu }, (w, dw, v, _) =>
        {
            for (int i = 0; i < w.Length; i++)
            {
                double vPrev = v[0][i];
                v[0][i] = mu * v[0][i] - learningRate * dw[i];
                w[i] += v[0][i] + mu * (v[0][i] - vPrev);
            }
        });
    }

    [Fact]
    public void NadamSurvey_MatchesZhangEquation42()
    {
        // Zhang (seed 004), Eq. 40–42 with Algorithm 10's m, v, m̂, v̂ (ε outside the root, as Eq. 42 writes it):
        // m = β1·m + (1 − β1)·g;  v = β2·v + (1 − β2)·g⊙g;  m̂ = m/(1 − β1^τ);  v̂ = v/(1 − β2^τ);
        // θ = θ − η/(√v̂ + ε) ⊙ (β1·m̂ + (1 − β1)·g/(1 − β1^τ)).
        const double eta = 0.01, beta1 = 0.8, beta2 = 0.99, eps = 1e-6;
        Check("nadam-survey", new() { ["lr"] = eta, ["beta1"] = beta1, ["beta2"] = beta2, ["eps"] = eps }, (theta, g, s, tau) =>
        {
            double[] m = s[0], v = s[1];
            for (int i = 0; i < theta.Length; i++)
            {
                m[i] = beta1 * m[i] + (1 - beta1) * g[i];
                v[i] = beta2 * v[i] + (1 - beta2) * g[i] * g[i];
                double mHat = m[i] / (1 - Math.Pow(beta1, tau));
                double vHat = v[i] / (1 - Math.Pow(beta2, tau));
                theta[i] -= eta / (Math.Sqrt(vHat) + eps) * (beta1 * mHat + (1 - beta1) * g[i] / (1 - Math.Pow(beta1, tau)));
            }
        });
    }

    /// <summary>One step of the formula: parameters, gradient, per-element states (start at 0), step τ (from 1).</summary>
    private delegate void Formula(double[] parameters, double[] gradient, double[][] states, int tau);

    private static void Check(string name, Dictionary<string, double> hyperparameters, Formula formula)
    {
        var rule = OptimizerCatalog.Create(name, hyperparameters);
        var (p, grads) = TestData.Inputs(67, Steps, seed: 42);
        for (int s = 0; s < grads.Length; s++)
        {
            // Gradients of an ordinary scale (the shared inputs reach 1e2, which Fischer's velocity form turns into huge steps).
            grads[s] = grads[s].Select(static x => Math.Clamp(x, -1f, 1f)).ToArray();
        }

        double[] theta = [.. p.Select(static x => (double)x)];
        var states = Enumerable.Range(0, rule.Descriptor.States.Count).Select(_ => new double[p.Length]).ToArray();
        for (int t = 1; t <= Steps; t++)
        {
            formula(theta, [.. grads[t - 1].Select(static x => (double)x)], states, t);
        }

        foreach (var isa in TestData.SupportedIsas())
        {
            var run = TestData.Run(rule, p, grads, new OptimizerOptions { Isa = isa });
            OracleAgreementTests.AssertClose([.. theta.Select(static x => (float)x)], run.Params, $"{name} {isa} after {Steps} steps");
        }
    }
}

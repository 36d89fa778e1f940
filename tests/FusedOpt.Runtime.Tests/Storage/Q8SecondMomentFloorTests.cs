using System;
using System.Collections.Generic;
using System.Linq;
using FusedOpt.Kernels;
using FusedOpt.Memory;
using FusedOpt.Optimizers;
using FusedOpt.Storage;
using Xunit;

namespace FusedOpt.Tests.Storage;

/// <summary>
/// Why Adam with q8 states trains slower than with float32 states and AdaBelief does not (docs/experiments.md,
/// "Compressed optimizer states: accuracy"). Plan: one 256-element block whose element 0 carries the largest gradient;
/// every expectation is a formula written out here from bitsandbytes' code values (<see cref="DynamicMap"/>, itself
/// held to PyTorch's table) and Adam's and AdaBelief's update rules in float64 — not a second run of the optimizer.
/// <list type="number">
/// <item>After the first step v = (1 − β₂)g², so v/absmax(v) = (g/max|g|)²: v is stored as 0 exactly when that is at or
/// below half the unsigned map's smallest nonzero code U₁ = 3.25·10⁻⁷ (|g|/max|g| ≤ 4.03·10⁻⁴), while m, with
/// m/absmax(m) = g/max|g| in the signed map, is stored as 0 only below half its smallest code S₁ = 5.5·10⁻⁷.</item>
/// <item>An element whose v is stored as 0 and whose next gradient is 0 (a unit inactive for the whole batch) keeps
/// v = β₂·0 + (1 − β₂)·0² = 0, so Adam's step is lr/(1 − β₁ᵗ) · m/ε: thousands of times its float32-state step.</item>
/// <item>AdaBelief's s = β₂s + (1 − β₂)(g − m)² + ε gets (1 − β₂)m² when g = 0, so the same element's step stays about
/// lr·√(1 − β₂ᵗ)/((1 − β₁ᵗ)√(1 − β₂)) ≈ 7.4 lr whatever m is.</item>
/// <item>With <see cref="OptimizerOptions.Q8KeepPositive"/> a positive v is stored as at least U₁·absmax(v), so the same
/// zero-gradient step is lr/(1 − β₁ᵗ)·m/(√(β₂ṽ)/√(1 − β₂ᵗ) + ε), at most lr/(1 − β₁ᵗ)·|m|·√(1 − β₂ᵗ)/√(β₂·U₁·absmax(v))
/// whatever ε is: 0.104 lr here instead of 4,204 lr (0.670 lr with float32 states).</item>
/// </list>
/// </summary>
public sealed class Q8SecondMomentFloorTests(ITestOutputHelper output)
{
    private const double Lr = 1e-3, Beta1 = 0.9, Beta2 = 0.999;
    private const float AdamEps = 1e-8f, AdaBeliefEps = 1e-16f;

    /// <summary>The element followed in the step tests: |g|/max|g| = 10⁻⁴ at step 1, then g = 0.</summary>
    private const int Probe = 1;
    private const float ProbeRatio = 1e-4f;

    public static IEnumerable<TheoryDataRow<Isa>> Isas() => TestData.SupportedIsas().Select(static i => new TheoryDataRow<Isa>(i));

    private static OptimizerOptions Options(StateStorage storage, Isa isa, bool keepPositive = false) =>
        new() { StateStorage = storage, Q8MinElements = 0, Isa = isa, Threads = 1, Q8KeepPositive = keepPositive };

    /// <summary>Gradient ratios |g|/max|g| from 10⁻⁹ to 10⁻², log-spaced, on elements 2 … 255; element 0 is the max (1), element 1 the probe.</summary>
    private static float[] FirstGradient()
    {
        var g = new float[Q8.BlockSize];
        g[0] = 1f;
        g[Probe] = ProbeRatio;
        for (int i = 2; i < g.Length; i++)
        {
            double exponent = -9 + (7.0 * (i - 2) / (g.Length - 3));
            g[i] = (float)Math.Pow(10, exponent) * (i % 2 == 0 ? 1 : -1);
        }

        return g;
    }

    /// <summary>The code value nearest to <paramref name="y"/> (a linear scan of the map, not the library's encoder).</summary>
    private static double NearestCode(DynamicMap map, double y) => map.Codes.MinBy(c => Math.Abs(c - y));

    [Theory]
    [MemberData(nameof(Isas))]
    public void Q8Adam_FirstStep_StoresVAsZeroBelowHalfTheSmallestUnsignedCode_WhileMKeepsItsCode(Isa isa)
    {
        using var arena = new ParameterArena();
        var w = arena.Add("w", Q8.BlockSize);
        arena.Build();
        var g = FirstGradient();
        g.CopyTo(arena.Grad(w));
        using var optimizer = new Optimizer(arena, new Adam(Lr: (float)Lr), Options(StateStorage.Q8, isa));
        optimizer.Step();
        var m = new float[w.Length];
        var v = new float[w.Length];
        optimizer.CopyState("m", w, m);
        optimizer.CopyState("v", w, v);

        double u1 = DynamicMap.Unsigned.Codes[1], s1 = DynamicMap.Signed.Codes[DynamicMap.Signed.ZeroCode + 1];
        Assert.Equal(3.25e-7, u1, 1e-12);
        Assert.Equal(5.5e-7, s1, 1e-12);
        int vZeroMNot = 0;
        for (int i = 1; i < g.Length; i++)
        {
            double r = Math.Abs((double)g[i]);
            // Skip ratios within 1% of a decision boundary, where float32 rounding of the scaled value decides.
            bool vNearBoundary = Math.Abs((r * r) - (u1 / 2)) < 0.01 * u1 / 2;
            bool mNearBoundary = Math.Abs(r - (s1 / 2)) < 0.01 * s1 / 2;
            if (!vNearBoundary)
            {
                Assert.True((v[i] == 0) == (r * r <= u1 / 2), $"element {i}: |g|/max|g| = {r:G4}, (g/max|g|)² = {r * r:G4} against U₁/2 = {u1 / 2:G4}, stored v = {v[i]:G4}");
            }

            if (!mNearBoundary)
            {
                Assert.True((m[i] == 0) == (r < s1 / 2), $"element {i}: |g|/max|g| = {r:G4} against S₁/2 = {s1 / 2:G4}, stored m = {m[i]:G4}");
            }

            vZeroMNot += v[i] == 0 && m[i] != 0 ? 1 : 0;
        }

        // The window (S₁/2, √(U₁/2)] = (2.75e-7, 4.03e-4] spans three decades: over a quarter of these log-spaced ratios.
        output.WriteLine($"{isa}: {vZeroMNot} of {g.Length - 1} elements have v stored as 0 and m not; √(U₁/2) = {Math.Sqrt(u1 / 2):G4}");
        Assert.InRange(vZeroMNot, 70, 150);
        Assert.Equal(0f, v[Probe]);
        Assert.Equal(NearestCode(DynamicMap.Signed, ProbeRatio) * (1 - Beta1), m[Probe], 1e-6 * (1 - Beta1) * ProbeRatio);
    }

    [Theory]
    [MemberData(nameof(Isas))]
    public void Q8Adam_AfterVIsStoredAsZero_AZeroGradientStepIsLrMHatOverEps_ThousandsOfTimesTheFloat32StatesStep(Isa isa)
    {
        var (q8Step, q8M, _) = ProbeSecondStep(new Adam(Lr: (float)Lr, Eps: AdamEps), StateStorage.Q8, isa);
        var (fp32Step, _, _) = ProbeSecondStep(new Adam(Lr: (float)Lr, Eps: AdamEps), StateStorage.Fp32, isa);

        // q8: m₁ is stored as its nearest code (the block's absmax is m₁[0] = (1 − β₁)·1), v₁ as 0. Step 2, g = 0:
        // m₂ = β₁m̃₁, v₂ = β₂·0 + (1 − β₂)·0 = 0, so Δp = lr/(1 − β₁²) · m₂/(0 + ε).
        double mTilde = NearestCode(DynamicMap.Signed, ProbeRatio) * (1 - Beta1);
        Assert.Equal(mTilde, q8M, 1e-6 * mTilde);
        double m2 = Beta1 * mTilde;
        double expectedQ8 = Lr / (1 - (Beta1 * Beta1)) * m2 / AdamEps;
        Assert.Equal(expectedQ8, q8Step, 1e-5 * expectedQ8);

        // fp32: m₂ = β₁(1 − β₁)g₁, v₂ = β₂(1 − β₂)g₁², Δp = lr/(1 − β₁²) · m₂/(√v₂/√(1 − β₂²) + ε).
        double g1 = ProbeRatio;
        double fm2 = Beta1 * (1 - Beta1) * g1, fv2 = Beta2 * (1 - Beta2) * g1 * g1;
        double expectedFp32 = Lr / (1 - (Beta1 * Beta1)) * fm2 / ((Math.Sqrt(fv2) / Math.Sqrt(1 - (Beta2 * Beta2))) + AdamEps);
        Assert.Equal(expectedFp32, fp32Step, 1e-5 * expectedFp32);

        output.WriteLine($"{isa}: step 2 of an element with |g₁|/max|g₁| = {ProbeRatio:G}, g₂ = 0: q8 {q8Step / Lr:F1} lr, fp32 {fp32Step / Lr:F3} lr ({q8Step / fp32Step:F0}×)");
        Assert.True(q8Step > 1000 * fp32Step, $"q8 step {q8Step:G4} against fp32 step {fp32Step:G4}");
    }

    [Theory]
    [MemberData(nameof(Isas))]
    public void Q8AdaBelief_AfterSIsStoredAsZero_AZeroGradientStepStaysWithinAFewLr_BecauseSGetsMSquared(Isa isa)
    {
        var (step, mStored, _) = ProbeSecondStep(new AdaBelief(Lr: (float)Lr, Eps: AdaBeliefEps), StateStorage.Q8, isa);

        // Step 1: m₁ = (1 − β₁)g, s₁ = (1 − β₂)(g − m₁)² + ε = (1 − β₂)(β₁g)² + ε: s₁/absmax(s₁) ≈ (g/max|g|)² = 10⁻⁸,
        // stored as 0; m₁ as its nearest code. Step 2, g = 0: m₂ = β₁m̃₁, s₂ = β₂·0 + (1 − β₂)(0 − m₂)² + ε,
        // Δp = lr/(1 − β₁²) · m₂/(√s₂/√(1 − β₂²) + ε).
        double mTilde = NearestCode(DynamicMap.Signed, ProbeRatio) * (1 - Beta1);
        Assert.Equal(mTilde, mStored, 1e-6 * mTilde);
        double m2 = Beta1 * mTilde;
        double s2 = ((1 - Beta2) * m2 * m2) + AdaBeliefEps;
        double expected = Lr / (1 - (Beta1 * Beta1)) * m2 / ((Math.Sqrt(s2) / Math.Sqrt(1 - (Beta2 * Beta2))) + AdaBeliefEps);
        Assert.Equal(expected, step, 1e-5 * expected);

        // Independent of m: lr·√(1 − β₂²)/((1 − β₁²)·√(1 − β₂)) ≈ 7.44 lr.
        double bound = Lr * Math.Sqrt(1 - (Beta2 * Beta2)) / ((1 - (Beta1 * Beta1)) * Math.Sqrt(1 - Beta2));
        output.WriteLine($"{isa}: AdaBelief q8, step 2 of the same element: {step / Lr:F2} lr (m-free bound {bound / Lr:F2} lr)");
        Assert.Equal(bound, step, 1e-2 * bound);
    }

    [Theory]
    [MemberData(nameof(Isas))]
    public void Q8AdamKeepPositive_StoresEveryPositiveVAsAtLeastTheSmallestCode_AndAZeroGradientStepStaysBelowAnLrBound(Isa isa)
    {
        // Step 1 with the rule: every v that bitsandbytes' quantizer stores as 0 ((g/max|g|)² ≤ U₁/2, away from the
        // boundary) is stored as code 1, U₁·absmax(v) (absmax(v) = v[0], stored exactly as code 255 = 1·absmax).
        using (var arena = new ParameterArena())
        {
            var w = arena.Add("w", Q8.BlockSize);
            arena.Build();
            var g = FirstGradient();
            g.CopyTo(arena.Grad(w));
            using var optimizer = new Optimizer(arena, new Adam(Lr: (float)Lr), Options(StateStorage.Q8, isa, keepPositive: true));
            optimizer.Step();
            var v = new float[w.Length];
            optimizer.CopyState("v", w, v);
            double u1 = DynamicMap.Unsigned.Codes[1];
            int floored = 0;
            for (int i = 1; i < g.Length; i++)
            {
                double r = Math.Abs((double)g[i]);
                Assert.True(v[i] > 0, $"element {i}: |g|/max|g| = {r:G4}, stored v = {v[i]:G4}");
                if ((r * r) < 0.99 * u1 / 2)
                {
                    Assert.Equal(DynamicMap.Unsigned.Codes[1] * v[0], v[i]);
                    floored++;
                }
            }

            // Ratios 10⁻⁹ … 10⁻² log-spaced: those below √(U₁/2) = 4.03·10⁻⁴ are 5.6 of the 7 decades, about 204 of 254.
            Assert.InRange(floored, 190, 215);
        }

        var (step, mStored, vStored) = ProbeSecondStep(new Adam(Lr: (float)Lr, Eps: AdamEps), StateStorage.Q8, isa, keepPositive: true);
        var (plainStep, _, _) = ProbeSecondStep(new Adam(Lr: (float)Lr, Eps: AdamEps), StateStorage.Q8, isa);
        var (fp32Step, _, _) = ProbeSecondStep(new Adam(Lr: (float)Lr, Eps: AdamEps), StateStorage.Fp32, isa);

        // ṽ₁ = U₁·absmax(v₁), absmax(v₁) = (1 − β₂)·1² (β₂ the rule's float 0.999f, 1 − β₂ rounded to float once);
        // step 2 with g = 0: m₂ = β₁m̃₁, v₂ = β₂ṽ₁, Δp = lr/(1 − β₁²) · m₂/(√v₂/√(1 − β₂²) + ε).
        double vTilde = DynamicMap.Unsigned.Codes[1] * (double)(float)(1 - (double)(float)Beta2);
        Assert.Equal(vTilde, vStored, 1e-6 * vTilde);
        double mTilde = NearestCode(DynamicMap.Signed, ProbeRatio) * (1 - Beta1);
        Assert.Equal(mTilde, mStored, 1e-6 * mTilde);
        double m2 = Beta1 * mTilde, v2 = Beta2 * vTilde;
        double expected = Lr / (1 - (Beta1 * Beta1)) * m2 / ((Math.Sqrt(v2) / Math.Sqrt(1 - (Beta2 * Beta2))) + AdamEps);
        Assert.Equal(expected, step, 1e-5 * expected);

        // The bound that replaces lr·m̂/ε: ε dropped, v at its floor U₁·absmax(v).
        double bound = Lr / (1 - (Beta1 * Beta1)) * Math.Abs(m2) * Math.Sqrt(1 - (Beta2 * Beta2)) / Math.Sqrt(Beta2 * vTilde);
        output.WriteLine($"{isa}: step 2 of the probe (g₂ = 0) keeping positive v: {step / Lr:F3} lr (bound {bound / Lr:F3} lr); bitsandbytes' quantizer {plainStep / Lr:F0} lr; fp32 states {fp32Step / Lr:F3} lr");
        Assert.InRange(step, 0, bound);
        Assert.True(step < Lr, $"step {step / Lr:G4} lr");
        Assert.True(plainStep > 1000 * step, $"without the rule {plainStep:G4}, with it {step:G4}");
    }

    /// <summary>
    /// Two steps on one block: step 1 with <see cref="FirstGradient"/>, step 2 with the same gradient except 0 on the
    /// probe element. Returns the probe's step 2 (p₁ − p₂) and its stored m and v after step 1.
    /// </summary>
    private static (double Step, float M1, float V1) ProbeSecondStep(IOptimizerRule rule, StateStorage storage, Isa isa, bool keepPositive = false)
    {
        using var arena = new ParameterArena();
        var w = arena.Add("w", Q8.BlockSize);
        arena.Build();
        using var optimizer = new Optimizer(arena, rule, Options(storage, isa, keepPositive));
        var g = FirstGradient();
        g.CopyTo(arena.Grad(w));
        optimizer.Step();
        var m = new float[w.Length];
        optimizer.CopyState("m", w, m);
        var v = new float[w.Length];
        optimizer.CopyState(rule.Descriptor.States[1].Name, w, v);
        float p1 = arena.Param(w)[Probe];
        g[Probe] = 0;
        g.CopyTo(arena.Grad(w));
        optimizer.Step();
        float p2 = arena.Param(w)[Probe];
        return ((double)p1 - p2, m[Probe], v[Probe]);
    }
}

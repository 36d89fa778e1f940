using System;
using System.Globalization;
using CustomOptimizer;
using FusedOpt;
using FusedOpt.Memory;

// Five Signum steps over 1000 parameters with the fused kernels, then the same steps as the formula written out:
//   m ← β·m + (1 − β)·g;   p ← p − γ·sign(m)
// Exit code 0 when they agree, 1 when they do not.
const int N = 1000;
const int Steps = 5;
const float Lr = 0.01f;
const float Beta = 0.9f;

using var arena = new ParameterArena();
var w = arena.Add("w", N);
arena.Build();
for (int i = 0; i < N; i++)
{
    arena.Param(w)[i] = Initial(i);
}

var rule = new Signum(Lr: Lr, Beta: Beta);
rule.Validate();
using (var optimizer = new Optimizer(arena, rule, new OptimizerOptions { Threads = 2 }))
{
    for (int t = 1; t <= Steps; t++)
    {
        for (int i = 0; i < N; i++)
        {
            arena.Grad(w)[i] = Gradient(i, t);
        }

        optimizer.Step();
    }

    Console.WriteLine($"signum: {Steps} steps over {N} parameters, {optimizer.Isa} kernels");
}

// The formula, in double precision.
var p = new double[N];
var m = new double[N];
for (int i = 0; i < N; i++)
{
    p[i] = Initial(i);
}

for (int t = 1; t <= Steps; t++)
{
    for (int i = 0; i < N; i++)
    {
        m[i] = (Beta * m[i]) + ((1 - Beta) * Gradient(i, t));
        p[i] -= Lr * Math.Sign(m[i]);
    }
}

double maxError = 0;
for (int i = 0; i < N; i++)
{
    maxError = Math.Max(maxError, Math.Abs(arena.Param(w)[i] - p[i]));
}

Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"p[0] = {arena.Param(w)[0]:R} (formula {p[0]:R}), max |error| = {maxError:E2}"));
if (maxError > 1e-5)
{
    Console.WriteLine("FAILED: the fused steps differ from the formula.");
    return 1;
}

Console.WriteLine("OK: the fused steps match the formula.");
return 0;

// Deterministic data whose momentum stays well away from zero, so that sign(m) is the same in float and double.
static float Initial(int i) => MathF.Sin(i * 0.37f);

static float Gradient(int i, int t) => (i % 2 == 0 ? 1f : -1f) * (0.5f + (((i * 7) + t) % 5 * 0.1f));

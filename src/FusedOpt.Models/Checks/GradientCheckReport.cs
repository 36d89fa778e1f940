using System;
using System.Collections.Immutable;
using System.Globalization;
using System.Linq;
using System.Text;

namespace FusedOpt.Models.Checks;

/// <summary>The check of one tensor's gradient (a parameter, or the model input).</summary>
/// <param name="Name">Tensor name, e.g. <c>fc1.weight</c>; <c>input</c> for dL/dx.</param>
/// <param name="Shape">Its shape, e.g. <c>5×7</c>.</param>
/// <param name="Checked">Elements compared (all, or a seeded sample of <see cref="GradientCheckOptions.MaxElementsPerTensor"/>).</param>
/// <param name="BelowFloor">Checked elements whose gradients were both below <see cref="GradientCheckOptions.Floor"/>; they count as agreeing.</param>
/// <param name="MaxRelError">max over checked elements above the floor of |a − n| / max(|a|, |n|) (0 where both are 0), a analytic, n numeric.</param>
/// <param name="WorstIndex">Flat index of the element with the largest relative error.</param>
/// <param name="WorstAnalytic">Its analytic gradient (float64 backward pass).</param>
/// <param name="WorstNumeric">Its central-difference gradient.</param>
/// <param name="Float32Error">
/// max |g₃₂ − g₆₄| / max |g₆₄| over the whole tensor: how far the float32 model's backward pass (packed GEMM,
/// threads) is from the float64 one at the same parameters; null when not compared.
/// </param>
public sealed record TensorCheck(
    string Name, string Shape, int Checked, int BelowFloor, double MaxRelError, int WorstIndex, double WorstAnalytic, double WorstNumeric, double? Float32Error);

/// <summary>The result of <see cref="GradientCheck.Run"/>: one row per tensor.</summary>
/// <param name="Model">The model checked, as its spec's text.</param>
/// <param name="Loss">The loss's name.</param>
/// <param name="Batch">Rows in the check batch.</param>
/// <param name="Step">The central-difference step h.</param>
/// <param name="Tensors">Every parameter tensor in registration order, then <c>input</c>.</param>
public sealed record GradientCheckReport(string Model, string Loss, int Batch, double Step, ImmutableArray<TensorCheck> Tensors)
{
    /// <summary>The largest relative error over every tensor.</summary>
    public double MaxRelError => Tensors.Max(static t => t.MaxRelError);

    /// <summary>
    /// The largest float32-vs-float64 error over every tensor with a gradient above the floor, if compared. A tensor
    /// whose every element is below the floor is left out: its exact gradient is (near) zero — a convolution bias
    /// before batch normalization, which removes it — so the error relative to it is only float32 rounding noise.
    /// </summary>
    public double? MaxFloat32Error => Tensors.Any(static t => t.Float32Error is not null)
        ? Tensors.Where(static t => t.Checked > t.BelowFloor).Select(static t => t.Float32Error ?? 0).DefaultIfEmpty(0).Max()
        : null;

    /// <summary>Total elements compared.</summary>
    public int Checked => Tensors.Sum(static t => t.Checked);

    /// <summary>A fixed-width table, one line per tensor, for logs and test failures.</summary>
    public string Describe()
    {
        var inv = CultureInfo.InvariantCulture;
        var text = new StringBuilder();
        text.Append(inv, $"gradient check: {Model}; loss {Loss}; batch {Batch}; h = {Step:E0}").AppendLine();
        text.Append(inv, $"  {"tensor",-14} {"shape",-10} {"checked",8} {"< floor",8} {"max rel err",12} {"worst: analytic",18} {"numeric",14} {"fp32 vs fp64",13}").AppendLine();
        foreach (var t in Tensors)
        {
            string f32 = t.Float32Error is { } e ? e.ToString("E2", inv) : "-";
            text.Append(inv, $"  {t.Name,-14} {t.Shape,-10} {t.Checked,8} {t.BelowFloor,8} {t.MaxRelError,12:E2} {t.WorstAnalytic,18:E6} {t.WorstNumeric,14:E6} {f32,13}").AppendLine();
        }

        return text.ToString().TrimEnd();
    }
}

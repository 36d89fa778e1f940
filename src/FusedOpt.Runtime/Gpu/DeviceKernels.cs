using System;
using ILGPU;
using ILGPU.Runtime;
using RuleKernel = System.Action<
    ILGPU.Index1D,
    ILGPU.ArrayView<float>, ILGPU.ArrayView<float>,
    ILGPU.ArrayView<float>, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>,
    ILGPU.ArrayView<float>, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>,
    FusedOpt.Gpu.GpuArgs>;

namespace FusedOpt.Gpu;

/// <summary>
/// The runtime's own device kernels (fill, and the two levels of the gradient reduction) and the loader of a rule's
/// generated kernel. Nothing here is specific to an optimizer: every rule's kernel comes from the generator.
/// </summary>
internal static class DeviceKernels
{
    /// <summary>Compiles the generated kernel of <paramref name="rule"/> for <paramref name="accelerator"/> (once per optimizer).</summary>
    public static RuleKernel LoadRule(Accelerator accelerator, IOptimizerRule rule)
    {
        var kernel = rule.GpuKernel ?? throw new ArgumentException(
            $"{rule.Descriptor.Name} has no GPU kernel: its rule needs {rule.Descriptor.ScalarCount} step scalars and a GPU launch carries {GpuArgs.Capacity} (FOPT021). Use --device cpu.",
            nameof(rule));
        try
        {
            return accelerator.LoadAutoGroupedStreamKernel(kernel.Method.CreateDelegate<RuleKernel>());
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // A backend that cannot compile the kernel (a capability the device lacks, a driver error) is a device problem.
            throw new DeviceUnavailableException($"{accelerator.Name}: ILGPU could not compile the {rule.Descriptor.Name} kernel: {e.Message}", e);
        }
    }

    /// <summary>Loads <see cref="Fill"/>.</summary>
    public static Action<Index1D, ArrayView<float>, float> LoadFill(Accelerator accelerator) =>
        accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, float>(Fill);

    /// <summary>Loads <see cref="SumOfSquares"/>.</summary>
    public static Action<Index1D, ArrayView<float>, ArrayView<double>> LoadSumOfSquares(Accelerator accelerator) =>
        accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<double>>(SumOfSquares);

    /// <summary>Loads <see cref="Sum"/>.</summary>
    public static Action<Index1D, ArrayView<double>, ArrayView<double>> LoadSum(Accelerator accelerator) =>
        accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<double>, ArrayView<double>>(Sum);

    /// <summary>x[i] = value.</summary>
    private static void Fill(Index1D index, ArrayView<float> x, float value) => x[index] = value;

    /// <summary>
    /// partials[k] = Σ x[i]² over i ≡ k (mod partials.Length), in float64. Each thread strides by the thread count, so
    /// neighbouring threads read neighbouring elements (coalesced), and every partial has a fixed summation order:
    /// the result depends on the length alone, never on the device or on scheduling. A float squared is exact in
    /// float64, so a fused multiply-add gives the same bits as a multiply then an add.
    /// </summary>
    private static void SumOfSquares(Index1D index, ArrayView<float> x, ArrayView<double> partials)
    {
        long stride = partials.Length;
        double sum = 0;
        for (long i = index; i < x.Length; i += stride)
        {
            double d = x[i];
            sum += d * d;
        }

        partials[index] = sum;
    }

    /// <summary>partials[k] = Σ x[i] over i ≡ k (mod partials.Length), in float64 and in index order.</summary>
    private static void Sum(Index1D index, ArrayView<double> x, ArrayView<double> partials)
    {
        long stride = partials.Length;
        double sum = 0;
        for (long i = index; i < x.Length; i += stride)
        {
            sum += x[i];
        }

        partials[index] = sum;
    }
}

/// <summary>
/// The global Σ g² of the device gradients, in float64 and deterministic: a first launch of one thread per ~1024
/// elements (at most 2^18 threads, enough to keep a data-centre GPU's memory busy), a second launch folding those
/// partials to at most 512, then one copy of those 4 KiB to the host, summed there in index order. No atomics, so
/// the same gradients give the same bits on every run and every device; that is what makes a clipped step
/// reproducible. One host read per step, and only when the step needs the norm.
/// </summary>
internal sealed class DeviceGradNorm : IDisposable
{
    /// <summary>Elements each first-level thread sums (about).</summary>
    public const int ElementsPerThread = 1024;

    /// <summary>Most first-level threads.</summary>
    public const int MaxFirstLevel = 1 << 18;

    /// <summary>Most second-level threads (and doubles read back per step).</summary>
    public const int MaxSecondLevel = 512;

    private readonly Accelerator _accelerator;
    private readonly long _length;
    private readonly MemoryBuffer1D<double, Stride1D.Dense> _level1;
    private readonly MemoryBuffer1D<double, Stride1D.Dense> _level2;
    private readonly double[] _host;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<double>> _squares;
    private readonly Action<Index1D, ArrayView<double>, ArrayView<double>> _sum;

    public DeviceGradNorm(Accelerator accelerator, long length)
    {
        _accelerator = accelerator;
        _length = length;
        int first = (int)Math.Clamp((length + ElementsPerThread - 1) / ElementsPerThread, 1, MaxFirstLevel);
        int second = Math.Clamp((first + 511) / 512, 1, MaxSecondLevel);
        _level1 = accelerator.Allocate1D<double>(first);
        _level2 = accelerator.Allocate1D<double>(second);
        _host = new double[second];
        _squares = DeviceKernels.LoadSumOfSquares(accelerator);
        _sum = DeviceKernels.LoadSum(accelerator);
    }

    /// <summary>Σ x² over the first <c>length</c> elements of <paramref name="x"/>; NaN or ∞ when any is not finite.</summary>
    public double SumOfSquares(ArrayView<float> x)
    {
        if (_length == 0)
        {
            return 0;
        }

        _squares((int)_level1.Length, x.SubView(0, _length), _level1.View);
        _sum((int)_level2.Length, _level1.View, _level2.View);
        _level2.View.CopyToCPU(_accelerator.DefaultStream, _host);
        _accelerator.DefaultStream.Synchronize();
        double total = 0;
        foreach (double partial in _host)
        {
            total += partial;
        }

        return total;
    }

    public void Dispose()
    {
        _level1.Dispose();
        _level2.Dispose();
    }
}

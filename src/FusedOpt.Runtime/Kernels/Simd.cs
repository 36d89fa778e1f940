using System;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace FusedOpt.Kernels;

/// <summary>
/// The small vocabulary the hand-written width-generic kernels (the GEMM micro-kernel, the CPU and memory probes) are
/// written against, in the manner of DeepSpeed's <c>simd.h</c>: one body, generic over a struct implementing this
/// interface, serves every width. The JIT compiles a generic method separately for each struct type argument and
/// inlines these members, so each instantiation is the code that would have been written by hand for that width.
/// </summary>
/// <typeparam name="TVector">The register type: <see cref="Vector512{T}"/>, <see cref="Vector256{T}"/> or <see cref="float"/>.</typeparam>
/// <remarks>Implementations: <see cref="Simd512"/>, <see cref="Simd256"/> and <see cref="SimdScalar"/> (one lane).</remarks>
internal unsafe interface ISimd<TVector>
    where TVector : struct
{
    /// <summary>Floats per register.</summary>
    static abstract int Lanes { get; }

    /// <summary>All lanes +0.</summary>
    static abstract TVector Zero { get; }

    /// <summary>All lanes <paramref name="x"/>.</summary>
    static abstract TVector Splat(float x);

    /// <summary>Loads <see cref="Lanes"/> floats from <paramref name="p"/>.</summary>
    static abstract TVector Load(float* p);

    /// <summary>Loads <see cref="Lanes"/> floats from <paramref name="p"/>, which is aligned to the register size.</summary>
    static abstract TVector LoadAligned(float* p);

    /// <summary>Stores <paramref name="v"/> at <paramref name="p"/>.</summary>
    static abstract void Store(TVector v, float* p);

    /// <summary>a + b lane-wise.</summary>
    static abstract TVector Add(TVector a, TVector b);

    /// <summary>a · b lane-wise.</summary>
    static abstract TVector Multiply(TVector a, TVector b);

    /// <summary>a / b lane-wise.</summary>
    static abstract TVector Divide(TVector a, TVector b);

    /// <summary>√a lane-wise.</summary>
    static abstract TVector Sqrt(TVector a);

    /// <summary>a · b + c lane-wise, rounded once.</summary>
    static abstract TVector FusedMultiplyAdd(TVector a, TVector b, TVector c);

    /// <summary>The sum of the lanes.</summary>
    static abstract float Sum(TVector a);
}

/// <summary><see cref="ISimd{TVector}"/> over <see cref="Vector512{T}"/>: 16 lanes (AVX-512F).</summary>
internal readonly unsafe struct Simd512 : ISimd<Vector512<float>>
{
    /// <inheritdoc />
    public static int Lanes => 16;

    /// <inheritdoc />
    public static Vector512<float> Zero
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => Vector512<float>.Zero;
    }

    /// <inheritdoc />
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Splat(float x) => Vector512.Create(x);

    /// <inheritdoc />
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Load(float* p) => Vector512.Load(p);

    /// <inheritdoc />
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> LoadAligned(float* p) => Vector512.LoadAligned(p);

    /// <inheritdoc />
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(Vector512<float> v, float* p) => Vector512.Store(v, p);

    /// <inheritdoc />
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Add(Vector512<float> a, Vector512<float> b) => a + b;

    /// <inheritdoc />
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Multiply(Vector512<float> a, Vector512<float> b) => a * b;

    /// <inheritdoc />
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Divide(Vector512<float> a, Vector512<float> b) => a / b;

    /// <inheritdoc />
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Sqrt(Vector512<float> a) => Vector512.Sqrt(a);

    /// <inheritdoc />
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> FusedMultiplyAdd(Vector512<float> a, Vector512<float> b, Vector512<float> c) => Vector512.FusedMultiplyAdd(a, b, c);

    /// <inheritdoc />
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Sum(Vector512<float> a) => Vector512.Sum(a);
}

/// <summary><see cref="ISimd{TVector}"/> over <see cref="Vector256{T}"/>: 8 lanes (AVX2).</summary>
internal readonly unsafe struct Simd256 : ISimd<Vector256<float>>
{
    /// <inheritdoc />
    public static int Lanes => 8;

    /// <inheritdoc />
    public static Vector256<float> Zero
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => Vector256<float>.Zero;
    }

    /// <inheritdoc />
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Splat(float x) => Vector256.Create(x);

    /// <inheritdoc />
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Load(float* p) => Vector256.Load(p);

    /// <inheritdoc />
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> LoadAligned(float* p) => Vector256.LoadAligned(p);

    /// <inheritdoc />
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(Vector256<float> v, float* p) => Vector256.Store(v, p);

    /// <inheritdoc />
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Add(Vector256<float> a, Vector256<float> b) => a + b;

    /// <inheritdoc />
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Multiply(Vector256<float> a, Vector256<float> b) => a * b;

    /// <inheritdoc />
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Divide(Vector256<float> a, Vector256<float> b) => a / b;

    /// <inheritdoc />
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Sqrt(Vector256<float> a) => Vector256.Sqrt(a);

    /// <inheritdoc />
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> FusedMultiplyAdd(Vector256<float> a, Vector256<float> b, Vector256<float> c) => Vector256.FusedMultiplyAdd(a, b, c);

    /// <inheritdoc />
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Sum(Vector256<float> a) => Vector256.Sum(a);
}

/// <summary>
/// <see cref="ISimd{TVector}"/> over <see cref="float"/>: one lane, the scalar twin of the vector widths (its
/// <see cref="FusedMultiplyAdd"/> rounds once, as the vector FMA does).
/// </summary>
internal readonly unsafe struct SimdScalar : ISimd<float>
{
    /// <inheritdoc />
    public static int Lanes => 1;

    /// <inheritdoc />
    public static float Zero
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => 0f;
    }

    /// <inheritdoc />
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Splat(float x) => x;

    /// <inheritdoc />
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Load(float* p) => *p;

    /// <inheritdoc />
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float LoadAligned(float* p) => *p;

    /// <inheritdoc />
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(float v, float* p) => *p = v;

    /// <inheritdoc />
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Add(float a, float b) => a + b;

    /// <inheritdoc />
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Multiply(float a, float b) => a * b;

    /// <inheritdoc />
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Divide(float a, float b) => a / b;

    /// <inheritdoc />
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Sqrt(float a) => MathF.Sqrt(a);

    /// <inheritdoc />
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float FusedMultiplyAdd(float a, float b, float c) => MathF.FusedMultiplyAdd(a, b, c);

    /// <inheritdoc />
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Sum(float a) => a;
}

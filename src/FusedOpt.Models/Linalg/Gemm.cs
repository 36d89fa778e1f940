using System;
using FusedOpt.Kernels;
using FusedOpt.Memory;
using FusedOpt.Threading;

namespace FusedOpt.Models.Linalg;

/// <summary>
/// Single-precision general matrix multiply, C ← α·op(A)·op(B) + β·C, for row-major matrices: a packed,
/// cache-blocked, register-tiled kernel (Goto/BLIS style) threaded over a <see cref="WorkerPool"/>.
/// </summary>
/// <remarks>
/// <para>Shapes: op(A) is m×k, op(B) is k×n, C is m×n. A stored matrix with r rows has row i at offset i·ld, so
/// op(A) = A needs lda ≥ k and op(A) = Aᵀ (A stored k×m) needs lda ≥ m; likewise for B, and ldc ≥ n.
/// β = 0 overwrites C without reading it (BLAS semantics: NaN in C does not propagate).</para>
/// <para>Loop nest, per thread: for each Nc-wide block of columns, for each Kc-deep slice of k, pack op(B) into
/// Nr-column panels; for each Mc-tall block of rows, pack op(A) into Mr-row panels; then for each Mr-row panel
/// and each Nr-column panel run the micro-kernel (<see cref="MicroKernel512"/>, <see cref="MicroKernel256"/> or
/// <see cref="MicroKernelScalar"/>). Partial edge tiles are computed whole from the zero-padded panels into a
/// scratch tile and written back by a scalar loop that rounds like the vector write-back.</para>
/// <para>Threads and determinism: C is split into one rectangle per thread (along n, or along m when n is too
/// narrow), each computed from start to finish by one thread. Every element is the same chain of FMAs in k order,
/// cut only at multiples of <see cref="GemmBlocking.DepthBlock"/>, so the result is bitwise identical for every
/// thread count and instruction set, not only for the same ones.</para>
/// <para>An instance reuses its packing buffers: after the first call of a given size nothing is allocated. It is
/// not thread-safe; give each concurrent caller its own.</para>
/// </remarks>
/// <example>
/// <code>
/// using var gemm = new Gemm(threads: 2);
/// // Y[batch, out] = X[batch, in] · W[out, in]ᵀ
/// gemm.Multiply(Transpose.N, Transpose.T, batch, outputs, inputs, 1f, x, inputs, w, inputs, 0f, y, outputs);
/// </code>
/// </example>
public sealed unsafe partial class Gemm : IDisposable, IParallelWork
{
    /// <summary>Below this many multiply-adds (m·n·k) a call runs on the calling thread alone.</summary>
    public const long ParallelThreshold = 1L << 18;

    private readonly WorkerPool _pool;
    private readonly bool _ownsPool;
    private readonly Workspace[] _workspaces;
    private readonly int[] _rowStart;
    private readonly int[] _rowEnd;
    private readonly int[] _colStart;
    private readonly int[] _colEnd;

    // The call in flight, read by Execute on every thread.
    private float* _a;
    private float* _b;
    private float* _c;
    private nint _lda;
    private nint _ldb;
    private nint _ldc;
    private Transpose _transA;
    private Transpose _transB;
    private int _k;
    private float _alpha;
    private float _beta;
    private bool _disposed;

    /// <summary>Creates a GEMM with its own pool of <paramref name="threads"/> threads (the caller included).</summary>
    /// <param name="threads">Threads per call, at least 1.</param>
    /// <param name="isa">Instruction set to force; null picks <c>FUSEDOPT_ISA</c> or the widest supported.</param>
    public Gemm(int threads = 1, Isa? isa = null)
        : this(new WorkerPool(threads), ownsPool: true, isa, blocking: null)
    {
    }

    /// <summary>Creates a GEMM that runs on an existing pool, which it does not dispose.</summary>
    /// <param name="pool">The pool; every call splits its work into <see cref="WorkerPool.Count"/> parts.</param>
    /// <param name="isa">Instruction set to force; null picks <c>FUSEDOPT_ISA</c> or the widest supported.</param>
    public Gemm(WorkerPool pool, Isa? isa = null)
        : this(pool ?? throw new ArgumentNullException(nameof(pool)), ownsPool: false, isa, blocking: null)
    {
    }

    /// <summary>For tuning: explicit block sizes (Mr and Nr must match the ISA's kernel).</summary>
    internal Gemm(WorkerPool pool, bool ownsPool, Isa? isa, GemmBlocking? blocking)
    {
        _pool = pool;
        _ownsPool = ownsPool;
        Isa = IsaSupport.Resolve(isa);
        var natural = GemmBlocking.For(Isa);
        Blocking = blocking ?? natural;
        if (Blocking.Mr != natural.Mr || Blocking.Nr != natural.Nr || Blocking.Kc != GemmBlocking.DepthBlock
            || Blocking.Mc < Blocking.Mr || Blocking.Mc % Blocking.Mr != 0 || Blocking.Nc < Blocking.Nr || Blocking.Nc % Blocking.Nr != 0)
        {
            throw new ArgumentException($"gemm: blocking {Blocking} does not fit the {IsaSupport.Name(Isa)} kernel ({natural}); Mc and Nc must be multiples of Mr and Nr, Kc must be {GemmBlocking.DepthBlock}.", nameof(blocking));
        }

        int parts = pool.Count;
        _workspaces = new Workspace[parts];
        for (int i = 0; i < parts; i++)
        {
            _workspaces[i] = new Workspace();
        }

        _rowStart = new int[parts];
        _rowEnd = new int[parts];
        _colStart = new int[parts];
        _colEnd = new int[parts];
    }

    /// <summary>The instruction set the kernels run on.</summary>
    public Isa Isa { get; }

    /// <summary>Threads per call (parts of the pool).</summary>
    public int Threads => _pool.Count;

    /// <summary>The block and tile sizes in use.</summary>
    public GemmBlocking Blocking { get; }

    /// <summary>
    /// C ← α·op(A)·op(B) + β·C with op(A) m×k, op(B) k×n and C m×n, all row-major.
    /// </summary>
    /// <param name="transA">Whether op(A) = A (stored m×k) or Aᵀ (stored k×m).</param>
    /// <param name="transB">Whether op(B) = B (stored k×n) or Bᵀ (stored n×k).</param>
    /// <param name="m">Rows of op(A) and C.</param>
    /// <param name="n">Columns of op(B) and C.</param>
    /// <param name="k">Columns of op(A), rows of op(B).</param>
    /// <param name="alpha">Scale of the product.</param>
    /// <param name="a">The stored A.</param>
    /// <param name="lda">Elements between consecutive stored rows of A.</param>
    /// <param name="b">The stored B.</param>
    /// <param name="ldb">Elements between consecutive stored rows of B.</param>
    /// <param name="beta">Scale of the old C; 0 overwrites C without reading it.</param>
    /// <param name="c">C, updated in place; must not overlap A or B.</param>
    /// <param name="ldc">Elements between consecutive rows of C.</param>
    public void Multiply(
        Transpose transA, Transpose transB, int m, int n, int k,
        float alpha, ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb,
        float beta, Span<float> c, int ldc)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        GemmArguments.Validate(transA, transB, m, n, k, a, lda, b, ldb, c, ldc);
        if (m == 0 || n == 0)
        {
            return;
        }

        fixed (float* pa = a)
        fixed (float* pb = b)
        fixed (float* pc = c)
        {
            if (k == 0 || alpha == 0)
            {
                ScaleC(pc, ldc, m, n, beta);
                return;
            }

            _a = pa;
            _b = pb;
            _c = pc;
            _lda = lda;
            _ldb = ldb;
            _ldc = ldc;
            _transA = transA;
            _transB = transB;
            _k = k;
            _alpha = alpha;
            _beta = beta;
            try
            {
                int parts = Split(m, n, k);
                if (parts == 1)
                {
                    Execute(0);
                }
                else
                {
                    _pool.Run(this);
                }
            }
            finally
            {
                _a = _b = _c = null;
            }
        }
    }

    /// <summary>Runs this thread's rectangle of C. Called by the pool; not for direct use.</summary>
    void IParallelWork.Execute(int part) => Execute(part);

    private void Execute(int part)
    {
        int i0 = _rowStart[part], i1 = _rowEnd[part], j0 = _colStart[part], j1 = _colEnd[part];
        if (i0 >= i1 || j0 >= j1)
        {
            return;
        }

        var ws = _workspaces[part];
        switch (Isa)
        {
            case Isa.Avx512:
                Blocked<MicroKernel512>(ws, i0, i1, j0, j1);
                break;
            case Isa.Avx2:
                Blocked<MicroKernel256>(ws, i0, i1, j0, j1);
                break;
            default:
                Blocked<MicroKernelScalar>(ws, i0, i1, j0, j1);
                break;
        }
    }

    /// <summary>
    /// Splits C into one rectangle per part and returns the number of parts with work. Along n when it has at
    /// least one Nr-column tile per thread and A is the smaller operand to pack twice, else along m (tiles of Mr
    /// rows); a product under <see cref="ParallelThreshold"/> is one part.
    /// </summary>
    private int Split(int m, int n, int k)
    {
        int parts = _pool.Count;
        if (parts == 1 || (long)m * n * k < ParallelThreshold)
        {
            SetRange(0, 0, m, 0, n);
            for (int p = 1; p < parts; p++)
            {
                SetRange(p, 0, 0, 0, 0);
            }

            return 1;
        }

        int tilesM = (m + Blocking.Mr - 1) / Blocking.Mr;
        int tilesN = (n + Blocking.Nr - 1) / Blocking.Nr;
        bool alongN = tilesN >= parts && (m <= n || tilesM < parts);
        if (!alongN && tilesM < parts)
        {
            alongN = tilesN >= tilesM;
        }

        int tiles = alongN ? tilesN : tilesM;
        int tile = alongN ? Blocking.Nr : Blocking.Mr;
        int extent = alongN ? n : m;
        // Part p takes tiles [⌈tiles·p/parts⌉, ⌈tiles·(p+1)/parts⌉): rounding up front-loads the work, so when only one
        // part has any (a single tile) it is part 0, which the caller runs directly.
        int used = 0;
        for (int p = 0; p < parts; p++)
        {
            int start = Math.Min(extent, (int)(((long)tiles * p) + parts - 1) / parts * tile);
            int end = Math.Min(extent, (int)(((long)tiles * (p + 1)) + parts - 1) / parts * tile);
            if (alongN)
            {
                SetRange(p, 0, m, start, end);
            }
            else
            {
                SetRange(p, start, end, 0, n);
            }

            used += end > start ? 1 : 0;
        }

        return used;
    }

    private void SetRange(int part, int i0, int i1, int j0, int j1)
    {
        _rowStart[part] = i0;
        _rowEnd[part] = i1;
        _colStart[part] = j0;
        _colEnd[part] = j1;
    }

    /// <summary>C ← β·C (β = 0 writes zeros), for k = 0 or α = 0.</summary>
    private static void ScaleC(float* c, nint ldc, int m, int n, float beta)
    {
        for (int i = 0; i < m; i++)
        {
            var row = new Span<float>(c + (i * ldc), n);
            if (beta == 0)
            {
                row.Clear();
            }
            else if (beta != 1)
            {
                foreach (ref float x in row)
                {
                    x *= beta;
                }
            }
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        foreach (var ws in _workspaces)
        {
            ws.Dispose();
        }

        if (_ownsPool)
        {
            _pool.Dispose();
        }
    }
}

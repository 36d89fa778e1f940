using System;
using System.Runtime.CompilerServices;
using FusedOpt.Memory;

namespace FusedOpt.Models.Linalg;

public sealed unsafe partial class Gemm
{
    /// <summary>
    /// The loop nest over one rectangle C[i0..i1, j0..j1] (see the class remarks), specialized per kernel.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Blocked<TKernel>(Workspace ws, int i0, int i1, int j0, int j1)
        where TKernel : struct, IMicroKernel
    {
        int mr = TKernel.Mr, nr = TKernel.Nr;
        int mcMax = Blocking.Mc, kcMax = Blocking.Kc, ncMax = Blocking.Nc;
        int k = _k;
        float alpha = _alpha;
        nint ldc = _ldc;

        // Packed blocks never exceed the rectangle, rounded up to whole panels.
        int ncCap = Math.Min(ncMax, RoundUp(j1 - j0, nr));
        int mcCap = Math.Min(mcMax, RoundUp(i1 - i0, mr));
        int kcCap = Math.Min(kcMax, k);
        float* packedB = ws.B((long)kcCap * ncCap);
        float* packedA = ws.A((long)mcCap * kcCap);
        float* tile = ws.Tile(mr * nr);

        for (int jc = j0; jc < j1; jc += ncMax)
        {
            int nc = Math.Min(ncMax, j1 - jc);
            for (int pc = 0; pc < k; pc += kcMax)
            {
                int kc = Math.Min(kcMax, k - pc);

                // The first slice of k applies β (or overwrites when β = 0); later slices add to C.
                bool overwrite = pc == 0 && _beta == 0;
                float beta = pc == 0 ? _beta : 1f;
                GemmPacking.PackB<TKernel>(_b, _ldb, _transB, pc, kc, jc, nc, packedB);

                for (int ic = i0; ic < i1; ic += mcMax)
                {
                    int mc = Math.Min(mcMax, i1 - ic);
                    GemmPacking.PackA<TKernel>(_a, _lda, _transA, ic, mc, pc, kc, packedA);

                    // The A micro-panel (Mr·kc floats) stays in L1 while the B micro-panels stream past it from L2/L3.
                    for (int ir = 0; ir < mc; ir += mr)
                    {
                        int rows = Math.Min(mr, mc - ir);
                        float* ap = packedA + ((nint)ir * kc);
                        float* cRow = _c + ((ic + ir) * ldc) + jc;
                        for (int jr = 0; jr < nc; jr += nr)
                        {
                            int cols = Math.Min(nr, nc - jr);
                            float* bp = packedB + ((nint)jr * kc);
                            if (rows == mr && cols == nr)
                            {
                                TKernel.Run(kc, ap, bp, cRow + jr, ldc, alpha, beta, overwrite);
                            }
                            else
                            {
                                // Edge: the whole tile from the zero-padded panels, then the valid part by the scalar twin.
                                TKernel.Run(kc, ap, bp, tile, nr, 1f, 0f, overwrite: true);
                                TileWriteBack.Partial(tile, nr, rows, cols, cRow + jr, ldc, alpha, beta, overwrite);
                            }
                        }
                    }
                }
            }
        }
    }

    private static int RoundUp(int x, int multiple) => (x + multiple - 1) / multiple * multiple;

    /// <summary>One thread's packing buffers, grown on demand and reused by every later call.</summary>
    private sealed class Workspace : IDisposable
    {
        private AlignedBuffer? _a;
        private AlignedBuffer? _b;
        private AlignedBuffer? _tile;

        public float* A(long floats) => Ensure(ref _a, floats);

        public float* B(long floats) => Ensure(ref _b, floats);

        public float* Tile(long floats) => Ensure(ref _tile, floats);

        public void Dispose()
        {
            _a?.Dispose();
            _b?.Dispose();
            _tile?.Dispose();
        }

        private static float* Ensure(ref AlignedBuffer? buffer, long floats)
        {
            if (buffer is null || buffer.Length < floats)
            {
                buffer?.Dispose();
                buffer = new AlignedBuffer(floats);
            }

            return buffer.Pointer;
        }
    }
}

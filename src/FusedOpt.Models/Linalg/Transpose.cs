namespace FusedOpt.Models.Linalg;

/// <summary>
/// How a GEMM operand is read: op(X) = X (<see cref="N"/>) or op(X) = Xᵀ (<see cref="T"/>), as BLAS's
/// <c>transa</c>/<c>transb</c>. Matrices are always stored row-major.
/// </summary>
public enum Transpose
{
    /// <summary>op(X) = X: an r×c operand is stored as r rows of c elements, row i at offset i·ld.</summary>
    N = 0,

    /// <summary>op(X) = Xᵀ: an r×c operand is stored as c rows of r elements (the transpose), row j at offset j·ld.</summary>
    T = 1,
}

using System;

namespace FusedOpt.Tests;

/// <summary>
/// Declarations that once produced wrong or uncompilable kernels (issue 9), compiled by the generator in this test
/// project and held to the oracle by <see cref="OracleAgreementTests"/> like every library optimizer.
/// Double negation: <c>-(-m)</c> was written <c>--m</c>, a pre-decrement (the scalar loop and the GPU kernel computed
/// m − 1, the vector loops did not compile); so was <c>-(float)-m</c>, whose cast the element code drops.
/// </summary>
[Optimizer("hardening-negation", Summary = "Test rule: nested unary minus")]
public partial record HardeningNegation([NonNegative] float Lr = 0.01f, [Unit] float Mu = 0.5f)
{
    private void Update(ref float p, float g, ref float m)
    {
        m = -(-m) * Mu + g;
        float d = -(-(-g));
        p -= Lr * (m - -d) + Lr * -(float)-m - -(-(Lr * Mu)) * 0.001f;
    }
}

/// <summary>
/// Every name in the rule needs '@' (keywords) — hyperparameters, p, g, a state, a per-step state, t and locals — and
/// a local is named like a generated member (<c>Scalar</c>) and another like a type the kernels use (<c>Unsafe</c>).
/// </summary>
[Optimizer("hardening-keywords", Summary = "Test rule: keyword identifiers")]
public partial record HardeningKeywords([NonNegative] float Lr = 0.01f, [Unit] float @checked = 0.5f, [Unit] float @double = 0.9f, bool @fixed = true)
{
    private void Update(ref float @in, float @out, ref float @ref, [InitialValue(1)] ref double @long, int @int)
    {
        @long *= @double;
        float @float = @double * @ref + @out;
        float Scalar = @float * 0.5f;
        float Unsafe = @fixed ? Scalar : @float;
        @ref = Unsafe;
        @in -= Lr * @checked * (@ref + Scalar) * (1 - (float)@long) / (1 + 0.5f * (@int > 3 ? 1 : 0));
    }
}

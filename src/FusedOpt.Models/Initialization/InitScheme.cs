namespace FusedOpt.Models.Initialization;

/// <summary>How a weight matrix W[fan_out, fan_in] is drawn (seed 003, "Vanishing gradient: how to prevent it?").</summary>
public enum InitScheme
{
    /// <summary>
    /// Glorot and Bengio (2010), for tanh/sigmoid: W ~ U(−a, a), a = gain·√(6 / (fan_in + fan_out)), so that
    /// Var(W) = 2 / (fan_in + fan_out) keeps activation and gradient variances equal across layers.
    /// </summary>
    XavierUniform,

    /// <summary>Glorot and Bengio (2010): W ~ N(0, σ²), σ = gain·√(2 / (fan_in + fan_out)).</summary>
    XavierNormal,

    /// <summary>
    /// He et al. (2015), for ReLU: W ~ U(−a, a), a = √(6 / fan_in), so that Var(W) = 2 / fan_in compensates for
    /// ReLU zeroing half of its inputs.
    /// </summary>
    HeUniform,

    /// <summary>He et al. (2015): W ~ N(0, σ²), σ = √(2 / fan_in).</summary>
    HeNormal,
}

using System;
using System.Globalization;

namespace FusedOpt.Vulkan;

/// <summary>
/// Where <see cref="VulkanOptimizer"/> gets its HLSL step shaders. <see cref="Default"/> is <see cref="Generated"/>: the
/// shaders the generator emits from each declaration (<see cref="OptimizerDescriptor.Hlsl"/>, one per switch
/// combination). <see cref="HandWritten"/> keeps two shaders written by hand to the same <see cref="HlslShader"/>
/// contract, for <c>sgd</c> and <c>adam</c>: an implementation independent of the generator, run by the tests.
/// </summary>
public static class VulkanShaders
{
    /// <summary>The shader source <c>replay --device vulkan</c>, <c>bench step --device vulkan</c> and the tests use.</summary>
    public static Func<IOptimizerRule, int, HlslShader?> Default { get; } = Generated;

    /// <summary>The generated shader of <paramref name="rule"/> for switch combination <paramref name="flags"/>; null when the rule has none (FOPT024).</summary>
    public static HlslShader? Generated(IOptimizerRule rule, int flags)
    {
        ArgumentNullException.ThrowIfNull(rule);
        return rule.Descriptor.Hlsl(flags);
    }

    /// <summary>
    /// The hand-written shader of <paramref name="rule"/> for switch combination <paramref name="flags"/> (the bits its
    /// <c>Prepare</c> returns, bit 0 the gradient scale), specialised by a <c>#define FLAGS</c> line; null for an
    /// optimizer other than <c>sgd</c> and <c>adam</c>.
    /// </summary>
    public static HlslShader? HandWritten(IOptimizerRule rule, int flags)
    {
        ArgumentNullException.ThrowIfNull(rule);
        string define = string.Create(CultureInfo.InvariantCulture, $"#define FLAGS {flags}\n");
        return rule.Descriptor.Name switch
        {
            // Sgd.Prepare: weightDecay (bit 1), momentum, oneMinusDampening (bit 2; bit 3 first step, bit 4 Nesterov), lr.
            "sgd" => new HlslShader(define + SgdSource, flags,
                (flags & 4) != 0 ? ["p", "g", "buf"] : ["p", "g"],
                ["gradScale", "weightDecay", "momentum", "oneMinusDampening", "lr"]),

            // Adam.Prepare: weightDecay (bit 1), β₁, 1 − β₁, β₂, 1 − β₂, 1/√(1 − β₂ᵗ), ε, lr/(1 − β₁ᵗ); bit 2 AMSGrad.
            "adam" => new HlslShader(define + AdamSource, flags,
                (flags & 4) != 0 ? ["p", "g", "m", "v", "vMax"] : ["p", "g", "m", "v"],
                ["gradScale", "weightDecay", "beta1", "oneMinusBeta1", "beta2", "oneMinusBeta2", "invSqrtBiasCorrection2", "eps", "stepSize"]),
            _ => null,
        };
    }

    private const string SgdSource = """
        // sgd (torch.optim.SGD), written by hand (not generated): weight decay, momentum, dampening, Nesterov.
        cbuffer Step : register(b0)
        {
            uint n;                  // elements in this dispatch
            float gradScale;         // gradient multiplier (FLAGS bit 0)
            float weightDecay;       // WeightDecay
            float momentum;          // Momentum
            float oneMinusDampening; // 1 - Dampening
            float lr;                // Lr
        };

        RWStructuredBuffer<float> p : register(u0);
        RWStructuredBuffer<float> g : register(u1);
        #if (FLAGS & 4)
        RWStructuredBuffer<float> buf : register(u2);
        #endif

        [numthreads(256, 1, 1)]
        void main(uint3 id : SV_DispatchThreadID)
        {
            uint i = id.x;
            if (i >= n)
            {
                return;
            }

            float pi = p[i];
            float gi = g[i];
        #if (FLAGS & 1)
            gi *= gradScale;
        #endif
        #if (FLAGS & 2)
            gi = gi + weightDecay * pi;
        #endif
        #if (FLAGS & 4)
        #if (FLAGS & 8)
            float bi = gi;
        #else
            float bi = momentum * buf[i] + oneMinusDampening * gi;
        #endif
            buf[i] = bi;
        #if (FLAGS & 16)
            gi = gi + momentum * bi;
        #else
            gi = bi;
        #endif
        #endif
            p[i] = pi - lr * gi;
        }
        """;

    private const string AdamSource = """
        // adam (torch.optim.Adam), written by hand (not generated): L2 weight decay, AMSGrad.
        cbuffer Step : register(b0)
        {
            uint n;                       // elements in this dispatch
            float gradScale;              // gradient multiplier (FLAGS bit 0)
            float weightDecay;            // WeightDecay
            float beta1;                  // Beta1
            float oneMinusBeta1;          // 1 - Beta1
            float beta2;                  // Beta2
            float oneMinusBeta2;          // 1 - Beta2
            float invSqrtBiasCorrection2; // 1 / sqrt(1 - Beta2^t)
            float eps;                    // Eps
            float stepSize;               // Lr / (1 - Beta1^t)
        };

        RWStructuredBuffer<float> p : register(u0);
        RWStructuredBuffer<float> g : register(u1);
        RWStructuredBuffer<float> m : register(u2);
        RWStructuredBuffer<float> v : register(u3);
        #if (FLAGS & 4)
        RWStructuredBuffer<float> vMax : register(u4);
        #endif

        [numthreads(256, 1, 1)]
        void main(uint3 id : SV_DispatchThreadID)
        {
            uint i = id.x;
            if (i >= n)
            {
                return;
            }

            float pi = p[i];
            float gi = g[i];
        #if (FLAGS & 1)
            gi *= gradScale;
        #endif
        #if (FLAGS & 2)
            gi = gi + weightDecay * pi;
        #endif
            float mi = beta1 * m[i] + oneMinusBeta1 * gi;
            float vi = beta2 * v[i] + oneMinusBeta2 * gi * gi;
        #if (FLAGS & 4)
            float vMaxI = max(vMax[i], vi);
            vMax[i] = vMaxI;
            float denom = sqrt(vMaxI) * invSqrtBiasCorrection2 + eps;
        #else
            float denom = sqrt(vi) * invSqrtBiasCorrection2 + eps;
        #endif
            m[i] = mi;
            v[i] = vi;
            p[i] = pi - stepSize * (mi / denom);
        }
        """;
}

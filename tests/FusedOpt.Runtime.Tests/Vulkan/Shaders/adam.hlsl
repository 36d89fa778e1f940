// Adam, written by hand for the Vulkan host tests (not generated): PyTorch's Adam with L2 weight decay, no amsgrad.
// Per element, with the per-step values hoisted by the host in float64:
//   g += λ·p;  m = β₁·m + (1 − β₁)·g;  v = β₂·v + (1 − β₂)·g²;  p −= lr / (1 − β₁ᵗ) · m / (√v / √(1 − β₂ᵗ) + ε)
cbuffer Step : register(b0)
{
    uint n;               // elements in this dispatch, written by VulkanStepKernel
    float beta1;          // β₁
    float oneMinusBeta1;  // 1 − β₁
    float beta2;          // β₂
    float oneMinusBeta2;  // 1 − β₂
    float stepSize;       // lr / (1 − β₁ᵗ)
    float sqrtBc2;        // √(1 − β₂ᵗ)
    float eps;            // ε
    float weightDecay;    // λ
};

RWStructuredBuffer<float> p : register(u0);  // parameters
RWStructuredBuffer<float> g : register(u1);  // gradients (read only)
RWStructuredBuffer<float> m : register(u2);  // first moment
RWStructuredBuffer<float> v : register(u3);  // second moment

[numthreads(256, 1, 1)]
void main(uint3 id : SV_DispatchThreadID)
{
    uint i = id.x;
    if (i >= n)
    {
        return;
    }

    float pi = p[i];
    float gi = g[i] + weightDecay * pi;
    float mi = beta1 * m[i] + oneMinusBeta1 * gi;
    float vi = beta2 * v[i] + oneMinusBeta2 * gi * gi;
    m[i] = mi;
    v[i] = vi;
    p[i] = pi - stepSize * (mi / (sqrt(vi) / sqrtBc2 + eps));
}

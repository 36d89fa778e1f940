// SGD with momentum, written by hand for the Vulkan host tests (not generated): PyTorch's SGD, dampening, weight decay.
// Per element:  g += λ·p;  b = first ? g : μ·b + (1 − τ)·g;  p −= lr·b
cbuffer Step : register(b0)
{
    uint n;                  // elements in this dispatch, written by VulkanStepKernel
    float lr;
    float momentum;          // μ
    float oneMinusDampening; // 1 − τ
    float weightDecay;       // λ
    uint first;              // 1 on the first step: the buffer starts as the gradient
};

RWStructuredBuffer<float> p : register(u0);  // parameters
RWStructuredBuffer<float> g : register(u1);  // gradients (read only)
RWStructuredBuffer<float> b : register(u2);  // momentum buffer

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
    float bi = first != 0 ? gi : momentum * b[i] + oneMinusDampening * gi;
    b[i] = bi;
    p[i] = pi - lr * bi;
}

using System.Collections.Generic;

namespace FusedOpt;

/// <summary>
/// One HLSL compute shader generated from an optimizer declaration for one combination of its switches (the flags
/// <see cref="IOptimizerRule.Prepare"/> returns, bit 0 included). The contract between the generator and a host
/// (Vulkan through glslang's HLSL front end, or Direct3D 12):
/// <list type="bullet">
/// <item>entry point <c>main</c>, <c>[numthreads(<see cref="ThreadsPerGroup"/>, 1, 1)]</c>, one element per thread,
/// bounds-checked against <c>n</c>;</item>
/// <item>a <c>cbuffer</c> at <c>register(b0)</c> whose first member is <c>uint n</c> (elements in this dispatch),
/// followed by one <c>float</c> per entry of <see cref="Constants"/> in that order: <c>Constants[0]</c> is always
/// <c>gradScale</c> (the gradient multiplier, 1 when flag bit 0 is clear), then the step-invariant scalars in the order
/// <see cref="IOptimizerRule.Prepare"/> writes them (so <c>Constants[1 + i]</c> is <c>scalars[i]</c>);</item>
/// <item>one <c>RWStructuredBuffer&lt;float&gt;</c> per entry of <see cref="Buffers"/> at <c>register(u0)</c>,
/// <c>register(u1)</c>, … in that order: <c>"p"</c> (parameters), <c>"g"</c> (gradients), then the per-element
/// states this combination touches, by their declared names, in declaration order.</item>
/// </list>
/// </summary>
/// <param name="Source">The HLSL text.</param>
/// <param name="Flags">The switch combination this shader is specialised for.</param>
/// <param name="Buffers">Buffer names in binding order (u0, u1, …).</param>
/// <param name="Constants">Constant-buffer members after <c>uint n</c>, in order.</param>
public sealed record HlslShader(string Source, int Flags, IReadOnlyList<string> Buffers, IReadOnlyList<string> Constants)
{
    /// <summary>Threads per group of every generated shader.</summary>
    public const int ThreadsPerGroup = 256;
}

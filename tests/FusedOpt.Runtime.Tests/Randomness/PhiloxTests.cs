using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using FusedOpt.Randomness;
using Xunit;

namespace FusedOpt.Tests.Randomness;

/// <summary>Philox4x32-10 against Random123's known-answer vectors (kat_vectors), and its vector forms against the scalar one.</summary>
public sealed class PhiloxTests
{
    [Theory]
    [InlineData(0x00000000u, 0x00000000u, 0x00000000u, 0x00000000u, 0x00000000u, 0x00000000u, 0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u)]
    [InlineData(0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu)]
    [InlineData(0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u, 0xa4093822u, 0x299f31d0u, 0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u)]
    public void Block_MatchesRandom123KnownAnswers(uint c0, uint c1, uint c2, uint c3, uint k0, uint k1, uint e0, uint e1, uint e2, uint e3)
    {
        var actual = Philox.Block((c0, c1, c2, c3), (k0, k1));

        Assert.Equal((e0, e1, e2, e3), actual);
    }

    [Fact]
    public void VectorBlocks_MatchScalarBlock_LaneByLane()
    {
        var key = (0xa4093822u, 0x299f31d0u);
        var keys = Philox.Schedule(key);
        ulong[] c0 = [0, 1, 0xffffffff, 12345, 7, 0x243f6a88, 99, 3];
        ulong[] c1 = [0, 0, 0xffffffff, 1, 2, 0x85a308d3, 0, 5];
        if (Avx512F.IsSupported)
        {
            var (a, b, c, d) = (Vector512.Create(c0), Vector512.Create(c1), Vector512.Create(0x13198a2eUL), Vector512.Create(0x03707344UL));
            Philox.Block512(ref a, ref b, ref c, ref d, keys);
            for (int j = 0; j < 8; j++)
            {
                var expected = Philox.Block(((uint)c0[j], (uint)c1[j], 0x13198a2eu, 0x03707344u), key);
                Assert.Equal(expected, ((uint)a[j], (uint)b[j], (uint)c[j], (uint)d[j]));
            }
        }

        if (Avx2.IsSupported)
        {
            var (a, b, c, d) = (Vector256.Create(c0[..4]), Vector256.Create(c1[..4]), Vector256.Create(0x13198a2eUL), Vector256.Create(0x03707344UL));
            Philox.Block256(ref a, ref b, ref c, ref d, keys);
            for (int j = 0; j < 4; j++)
            {
                var expected = Philox.Block(((uint)c0[j], (uint)c1[j], 0x13198a2eu, 0x03707344u), key);
                Assert.Equal(expected, ((uint)a[j], (uint)b[j], (uint)c[j], (uint)d[j]));
            }
        }
    }
}

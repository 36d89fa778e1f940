using System;
using System.Linq;
using FusedOpt.Storage;
using Xunit;

namespace FusedOpt.Tests.Storage;

/// <summary>
/// bitsandbytes' dynamic code maps: the whole table against the output of bitsandbytes' own Python formula run with
/// PyTorch, and hand-derived entries and properties.
/// </summary>
public sealed class DynamicMapTests
{
    // The float32 bit patterns of create_dynamic_map(signed, max_exponent_bits=7, total_bits=8), ascending, as PyTorch
    // 1.13 (CPU) computes them from bitsandbytes/functional.py's formula, run outside this repository:
    //
    //   def create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8):
    //       data = []
    //       non_sign_bits = total_bits - 1
    //       for i in range(max_exponent_bits):
    //           fraction_items = int(2 ** (i + non_sign_bits - max_exponent_bits) + 1 if signed
    //                                else 2 ** (i + non_sign_bits - max_exponent_bits + 1) + 1)
    //           boundaries = torch.linspace(0.1, 1, fraction_items)
    //           means = (boundaries[:-1] + boundaries[1:]) / 2.0
    //           data += (10 ** (-(max_exponent_bits - 1) + i) * means).tolist()
    //           if signed:
    //               data += (-10 ** (-(max_exponent_bits - 1) + i) * means).tolist()
    //       data.append(0); data.append(1.0)
    //       data.sort()
    //       return torch.tensor(data)
    //
    //   [struct.unpack('<I', struct.pack('<f', float(x)))[0] for x in create_dynamic_map(signed)]
    private static readonly uint[] SignedBits =
    [
        0xBF7E3333, 0xBF7A9999, 0xBF770000, 0xBF736666, 0xBF6FCCCC, 0xBF6C3333, 0xBF68999A, 0xBF650000,
        0xBF616666, 0xBF5DCCCC, 0xBF5A3333, 0xBF569999, 0xBF530000, 0xBF4F6666, 0xBF4BCCCC, 0xBF483333,
        0xBF44999A, 0xBF410000, 0xBF3D6667, 0xBF39CCCD, 0xBF363334, 0xBF32999A, 0xBF2F0000, 0xBF2B6667,
        0xBF27CCCD, 0xBF243333, 0xBF20999A, 0xBF1D0000, 0xBF196666, 0xBF15CCCD, 0xBF123334, 0xBF0E999A,
        0xBF0B0000, 0xBF076666, 0xBF03CCCD, 0xBF003333, 0xBEF93334, 0xBEF20000, 0xBEEACCCC, 0xBEE3999A,
        0xBEDC6666, 0xBED53332, 0xBECE0000, 0xBEC6CCCC, 0xBEBF999A, 0xBEB86666, 0xBEB13332, 0xBEAA0000,
        0xBEA2CCCC, 0xBE9B999A, 0xBE946666, 0xBE8D3334, 0xBE860000, 0xBE7D999A, 0xBE6F3334, 0xBE60CCCD,
        0xBE526666, 0xBE440000, 0xBE359999, 0xBE273333, 0xBE18CCCD, 0xBE0A6666, 0xBDF80000, 0xBDDB3334,
        0xBDC9EB85, 0xBDC428F5, 0xBDBE6667, 0xBDB8A3D7, 0xBDB2E148, 0xBDAD1EB8, 0xBDA75C28, 0xBDA1999A,
        0xBD9BD70A, 0xBD96147B, 0xBD9051EB, 0xBD8A8F5D, 0xBD84CCCD, 0xBD7E147A, 0xBD728F5D, 0xBD670A3D,
        0xBD5B851F, 0xBD500000, 0xBD447AE1, 0xBD38F5C3, 0xBD2D70A3, 0xBD21EB85, 0xBD166667, 0xBD0AE147,
        0xBCFEB852, 0xBCE7AE13, 0xBCD0A3D7, 0xBCB9999A, 0xBCA28F5C, 0xBC8B851F, 0xBC68F5C3, 0xBC3AE148,
        0xBC1F3B64, 0xBC160418, 0xBC0CCCCD, 0xBC039581, 0xBBF4BC6A, 0xBBE24DD3, 0xBBCFDF3B, 0xBBBD70A4,
        0xBBAB020D, 0xBB989374, 0xBB8624DD, 0xBB676C8A, 0xBB428F5C, 0xBB1DB22D, 0xBAF1A9FC, 0xBAA7EF9D,
        0xBA7765FF, 0xBA59E83E, 0xBA3C6A80, 0xBA1EECC1, 0xBA016F01, 0xB9C7E283, 0xB98CE705, 0xB923D70B,
        0xB8BA1F4B, 0xB88AEFB3, 0xB8378034, 0xB7B24206, 0xB70205FF, 0xB65A1A94, 0xB513A3B7, 0x00000000,
        0x3513A3B7, 0x365A1A94, 0x370205FF, 0x37B24206, 0x38378034, 0x388AEFB3, 0x38BA1F4B, 0x3923D70B,
        0x398CE705, 0x39C7E283, 0x3A016F01, 0x3A1EECC1, 0x3A3C6A80, 0x3A59E83E, 0x3A7765FF, 0x3AA7EF9D,
        0x3AF1A9FC, 0x3B1DB22D, 0x3B428F5C, 0x3B676C8A, 0x3B8624DD, 0x3B989374, 0x3BAB020D, 0x3BBD70A4,
        0x3BCFDF3B, 0x3BE24DD3, 0x3BF4BC6A, 0x3C039581, 0x3C0CCCCD, 0x3C160418, 0x3C1F3B64, 0x3C3AE148,
        0x3C68F5C3, 0x3C8B851F, 0x3CA28F5C, 0x3CB9999A, 0x3CD0A3D7, 0x3CE7AE13, 0x3CFEB852, 0x3D0AE147,
        0x3D166667, 0x3D21EB85, 0x3D2D70A3, 0x3D38F5C3, 0x3D447AE1, 0x3D500000, 0x3D5B851F, 0x3D670A3D,
        0x3D728F5D, 0x3D7E147A, 0x3D84CCCD, 0x3D8A8F5D, 0x3D9051EB, 0x3D96147B, 0x3D9BD70A, 0x3DA1999A,
        0x3DA75C28, 0x3DAD1EB8, 0x3DB2E148, 0x3DB8A3D7, 0x3DBE6667, 0x3DC428F5, 0x3DC9EB85, 0x3DDB3334,
        0x3DF80000, 0x3E0A6666, 0x3E18CCCD, 0x3E273333, 0x3E359999, 0x3E440000, 0x3E526666, 0x3E60CCCD,
        0x3E6F3334, 0x3E7D999A, 0x3E860000, 0x3E8D3334, 0x3E946666, 0x3E9B999A, 0x3EA2CCCC, 0x3EAA0000,
        0x3EB13332, 0x3EB86666, 0x3EBF999A, 0x3EC6CCCC, 0x3ECE0000, 0x3ED53332, 0x3EDC6666, 0x3EE3999A,
        0x3EEACCCC, 0x3EF20000, 0x3EF93334, 0x3F003333, 0x3F03CCCD, 0x3F076666, 0x3F0B0000, 0x3F0E999A,
        0x3F123334, 0x3F15CCCD, 0x3F196666, 0x3F1D0000, 0x3F20999A, 0x3F243333, 0x3F27CCCD, 0x3F2B6667,
        0x3F2F0000, 0x3F32999A, 0x3F363334, 0x3F39CCCD, 0x3F3D6667, 0x3F410000, 0x3F44999A, 0x3F483333,
        0x3F4BCCCC, 0x3F4F6666, 0x3F530000, 0x3F569999, 0x3F5A3333, 0x3F5DCCCC, 0x3F616666, 0x3F650000,
        0x3F68999A, 0x3F6C3333, 0x3F6FCCCC, 0x3F736666, 0x3F770000, 0x3F7A9999, 0x3F7E3333, 0x3F800000,
    ];

    private static readonly uint[] UnsignedBits =
    [
        0x00000000, 0x34AE7BAA, 0x35500998, 0x360E9B38, 0x3692CCF6, 0x36DE4C51, 0x3714E5D5, 0x3783126E,
        0x37E171A0, 0x381FE868, 0x384F1800, 0x387E479A, 0x3896BB99, 0x38AE5364, 0x38C5EB31, 0x3906594B,
        0x394154CA, 0x397C5048, 0x399BA5E4, 0x39B923A2, 0x39D6A162, 0x39F41F22, 0x3A08CE71, 0x3A178D50,
        0x3A264C30, 0x3A350B10, 0x3A43C9EF, 0x3A5288D0, 0x3A6147AF, 0x3A70068E, 0x3A7EC56E, 0x3A958106,
        0x3ABA5E35, 0x3ADF3B64, 0x3B020C49, 0x3B147AE1, 0x3B26E978, 0x3B39580F, 0x3B4BC6A7, 0x3B5E353E,
        0x3B70A3D7, 0x3B818937, 0x3B8AC082, 0x3B93F7CF, 0x3B9D2F1A, 0x3BA66666, 0x3BAF9DB2, 0x3BB8D4FD,
        0x3BC20C4A, 0x3BCB4394, 0x3BD47AE1, 0x3BDDB22E, 0x3BE6E978, 0x3BF020C5, 0x3BF9580F, 0x3C0147AE,
        0x3C05E353, 0x3C0A7EF9, 0x3C0F1AA0, 0x3C13B645, 0x3C1851EB, 0x3C1CED90, 0x3C218937, 0x3C2F5C2A,
        0x3C466667, 0x3C5D70A3, 0x3C747AE2, 0x3C85C28F, 0x3C9147AE, 0x3C9CCCCD, 0x3CA851EB, 0x3CB3D70B,
        0x3CBF5C2A, 0x3CCAE148, 0x3CD66667, 0x3CE1EB87, 0x3CED70A3, 0x3CF8F5C3, 0x3D023D70, 0x3D080000,
        0x3D0DC28F, 0x3D13851F, 0x3D1947AF, 0x3D1F0A3D, 0x3D24CCCD, 0x3D2A8F5B, 0x3D3051EB, 0x3D36147B,
        0x3D3BD70A, 0x3D41999A, 0x3D475C2A, 0x3D4D1EB8, 0x3D52E148, 0x3D58A3D7, 0x3D5E6667, 0x3D6428F7,
        0x3D69EB87, 0x3D6FAE15, 0x3D7570A3, 0x3D7B3333, 0x3D807AE2, 0x3D835C29, 0x3D863D71, 0x3D891EB9,
        0x3D8C0000, 0x3D8EE148, 0x3D91C290, 0x3D94A3D7, 0x3D97851F, 0x3D9A6667, 0x3D9D47AF, 0x3DA028F6,
        0x3DA30A3D, 0x3DA5EB85, 0x3DA8CCCD, 0x3DABAE14, 0x3DAE8F5C, 0x3DB170A3, 0x3DB451EB, 0x3DB73333,
        0x3DBA147B, 0x3DBCF5C3, 0x3DBFD70A, 0x3DC2B852, 0x3DC5999A, 0x3DC87AE1, 0x3DCB5C29, 0x3DD40000,
        0x3DE26666, 0x3DF0CCCD, 0x3DFF3333, 0x3E06CCCC, 0x3E0E0000, 0x3E153334, 0x3E1C6666, 0x3E23999A,
        0x3E2ACCCC, 0x3E320000, 0x3E393334, 0x3E406666, 0x3E47999A, 0x3E4ECCCC, 0x3E560000, 0x3E5D3334,
        0x3E646666, 0x3E6B999A, 0x3E72CCCE, 0x3E7A0000, 0x3E80999A, 0x3E843333, 0x3E87CCCD, 0x3E8B6667,
        0x3E8F0000, 0x3E92999A, 0x3E963334, 0x3E99CCCD, 0x3E9D6667, 0x3EA10000, 0x3EA4999A, 0x3EA83333,
        0x3EABCCCC, 0x3EAF6666, 0x3EB30000, 0x3EB69999, 0x3EBA3333, 0x3EBDCCCC, 0x3EC16666, 0x3EC50000,
        0x3EC8999A, 0x3ECC3333, 0x3ECFCCCC, 0x3ED36666, 0x3ED70000, 0x3EDA9999, 0x3EDE3333, 0x3EE1CCCD,
        0x3EE56666, 0x3EE90000, 0x3EEC999A, 0x3EF03333, 0x3EF3CCCD, 0x3EF76666, 0x3EFB0000, 0x3EFE9999,
        0x3F01199A, 0x3F02E666, 0x3F04B332, 0x3F068000, 0x3F084CCC, 0x3F0A199A, 0x3F0BE666, 0x3F0DB334,
        0x3F0F8000, 0x3F114CCD, 0x3F13199A, 0x3F14E666, 0x3F16B334, 0x3F188000, 0x3F1A4CCD, 0x3F1C199A,
        0x3F1DE666, 0x3F1FB333, 0x3F218000, 0x3F234CCC, 0x3F25199A, 0x3F26E666, 0x3F28B334, 0x3F2A8000,
        0x3F2C4CCE, 0x3F2E199A, 0x3F2FE666, 0x3F31B334, 0x3F338000, 0x3F354CCE, 0x3F37199A, 0x3F38E666,
        0x3F3AB334, 0x3F3C8000, 0x3F3E4CCC, 0x3F40199A, 0x3F41E666, 0x3F43B334, 0x3F458000, 0x3F474CCC,
        0x3F49199A, 0x3F4AE666, 0x3F4CB332, 0x3F4E8000, 0x3F504CCC, 0x3F52199A, 0x3F53E666, 0x3F55B334,
        0x3F578000, 0x3F594CCD, 0x3F5B199A, 0x3F5CE666, 0x3F5EB334, 0x3F608000, 0x3F624CCD, 0x3F64199A,
        0x3F65E666, 0x3F67B333, 0x3F698000, 0x3F6B4CCC, 0x3F6D199A, 0x3F6EE666, 0x3F70B334, 0x3F728000,
        0x3F744CCE, 0x3F76199A, 0x3F77E666, 0x3F79B334, 0x3F7B8000, 0x3F7D4CCE, 0x3F7F199A, 0x3F800000,
    ];

    [Fact]
    public void Signed_EqualsBitsandbytesTableBitForBit() => AssertBits(SignedBits, DynamicMap.Signed);

    [Fact]
    public void Unsigned_EqualsBitsandbytesTableBitForBit() => AssertBits(UnsignedBits, DynamicMap.Unsigned);

    private static void AssertBits(uint[] expected, DynamicMap map)
    {
        var actual = map.Codes.Select(BitConverter.SingleToUInt32Bits).ToArray();
        var mismatches = Enumerable.Range(0, 256).Where(k => expected[k] != actual[k]).Take(5)
            .Select(k => $"[{k}] expected 0x{expected[k]:X8} ({BitConverter.UInt32BitsToSingle(expected[k]):R}), got 0x{actual[k]:X8} ({BitConverter.UInt32BitsToSingle(actual[k]):R})");
        Assert.True(expected.SequenceEqual(actual), string.Join("; ", mismatches));
    }

    [Fact]
    public void Signed_HandDerivedEntries()
    {
        var c = DynamicMap.Signed.Codes;
        Assert.Equal(256, c.Count);
        Assert.Equal(1f, c[255]);
        Assert.Equal(0f, c[127]);
        Assert.Equal(127, DynamicMap.Signed.ZeroCode);
        // Smallest positive: decade 10⁻⁶, linspace(0.1, 1, 2) = [0.1, 1], mean 0.55.
        Assert.Equal(1e-6f * ((0.1f + 1f) / 2), c[128]);
        Assert.Equal(-c[128], c[126]);
        // Largest below 1: decade 1, linspace(0.1, 1, 65) has step 0.9/64 = 0.0140625; the last mean is 1 − 0.00703125.
        Assert.Equal(0.99296875, c[254], 1e-7);
        // Most negative: its mirror (the map has no −1).
        Assert.Equal(-c[254], c[0]);
        // Decade 10⁻¹ (i = 5) holds 2⁵ = 32 means of linspace(0.1, 1, 33), step 0.028125: its first is 0.1·(0.1 + 0.0140625) = 0.01140625.
        Assert.Equal(0.01140625, c[127 + 1 + 1 + 2 + 4 + 8 + 16], 1e-8);
    }

    [Fact]
    public void Unsigned_HandDerivedEntries()
    {
        var c = DynamicMap.Unsigned.Codes;
        Assert.Equal(256, c.Count);
        Assert.Equal(0f, c[0]);
        Assert.Equal(1f, c[255]);
        // Smallest positive: decade 10⁻⁶, linspace(0.1, 1, 3) = [0.1, 0.55, 1], first mean 0.325.
        Assert.Equal(3.25e-7, c[1], 1e-13);
        // Largest below 1: linspace(0.1, 1, 129) has step 0.00703125; last mean 1 − 0.003515625.
        Assert.Equal(0.996484375, c[254], 1e-7);
        // Decade i holds 2^(i+1) codes: 2 + 4 + … + 64 = 126 below 0.1, then 128 in [0.1, 1).
        Assert.Equal(126, c.Count(x => x > 0 && x < 0.1f));
        Assert.Equal(128, c.Count(x => x >= 0.1f && x < 1f));
    }

    [Fact]
    public void Maps_AreStrictlyAscending_AndSignedHasOneZero()
    {
        foreach (var map in new[] { DynamicMap.Signed, DynamicMap.Unsigned })
        {
            for (int k = 1; k < 256; k++)
            {
                Assert.True(map.Codes[k - 1] < map.Codes[k], $"codes[{k - 1}] = {map.Codes[k - 1]} is not below codes[{k}] = {map.Codes[k]}");
            }
        }

        Assert.Equal(127, DynamicMap.Signed.Codes.Count(x => x < 0));
        Assert.Equal(1, DynamicMap.Signed.Codes.Count(x => x == 0));
    }

    [Fact]
    public void Bounds_AreFloat32Midpoints()
    {
        var map = DynamicMap.Unsigned;
        for (int k = 1; k < 256; k++)
        {
            Assert.Equal((map.Codes[k - 1] + map.Codes[k]) * 0.5f, map.Bounds[k]);
        }
    }
}

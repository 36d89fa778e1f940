using System.IO;
using System.Linq;
using FusedOpt.Models;
using FusedOpt.Models.Checks;
using FusedOpt.Models.Layers;
using Xunit;

namespace FusedOpt.Tests.Conv;

/// <summary>
/// VGG11-BN at width 0.125 against PyTorch's recorded forward/backward (shared/reference/vgg): logits, loss, every
/// gradient, the updated running statistics and the evaluation logits, each within the README's tolerance
/// max |ours − reference| ≤ 1e-3·max |reference| + 1e-5.
/// </summary>
public sealed class VggReferenceTests
{
    private static string CasePath => Path.Combine(SharedData.SharedRoot, "reference", "vgg", "vgg11_bn_w0.125_seed1.json");

    [Theory]
    [InlineData(true, 1, ConvAlgorithm.Auto)]
    [InlineData(false, 2, ConvAlgorithm.Auto)]
    [InlineData(true, 2, ConvAlgorithm.Im2Col)]
    [InlineData(true, 2, ConvAlgorithm.Winograd)]
    [InlineData(true, 2, ConvAlgorithm.Winograd4x4)]
    public void Vgg11Bn_Width0125_MatchesPyTorchReference(bool fuseBnReLU, int threads, ConvAlgorithm algorithm)
    {
        var c = Load();
        var spec = Vgg.Spec(c.Width, 10, new ImageShape(3, 32, 32), c.Config, fuseBnReLU, algorithm: algorithm);
        if (algorithm != ConvAlgorithm.Auto)
        {
            // Every eligible layer (all but conv1, 3 input channels) runs the algorithm asked for.
            using var model = spec.Build<float>();
            Assert.All(model.Layers.OfType<Conv2d<float>>(), l => Assert.Equal(l.InputShape.Channels < 8 ? ConvAlgorithm.Im2Col : algorithm, l.Implementation));
        }

        var report = c.Check(c.Run(threads, spec));

        Assert.True(report.Passed, string.Join("\n", report.Tensors.Where(static t => !t.Passed).Select(static t => $"{t.Field} {t.Name}: {t.MaxAbsError:e3} > {t.Tolerance:e3}")));
        Assert.Equal(1 + 1 + 34 + 16 + 1, report.Tensors.Length); // logits, loss, 34 gradients (8 conv, 8 BN, fc), 16 running stats, eval logits
    }

    [Fact]
    public void Check_OneGradientOffByOnePercent_Fails()
    {
        var c = Load();
        var ours = c.Run();
        var g = ours.Gradients["0.11.weight"];
        int worst = System.Array.IndexOf(g, g.MaxBy(System.Math.Abs));
        g[worst] *= 1.01;

        var report = c.Check(ours);

        Assert.False(report.Passed);
        Assert.Equal(["0.11.weight"], report.Tensors.Where(static t => !t.Passed).Select(static t => t.Name));
    }

    [Fact]
    public void TorchNames_FollowPyTorchModuleIndices()
    {
        var names = Vgg.TorchNames(Vgg.Spec(0.125));
        Assert.Equal("0.0.weight", names["conv1.weight"]);
        Assert.Equal("0.1.running_var", names["bn1.running_var"]);
        Assert.Equal("0.4.bias", names["conv2.bias"]);
        Assert.Equal("0.26.weight", names["bn8.weight"]);
        Assert.Equal("2.weight", names["fc.weight"]);
        Assert.Equal(names, Vgg.TorchNames(Vgg.Spec(0.125, fuseBnReLU: false)));
    }

    [Fact]
    public void Write_RoundTripsInTheCaseFormat()
    {
        var c = Load();
        var ours = c.Run();
        string path = Path.Combine(Path.GetTempPath(), $"vgg-case-{System.Guid.NewGuid():N}.json");
        try
        {
            c.Write(ours, path);
            var written = ModelCase.Load(path);
            Assert.True(written.Check(ours).Tensors.All(static t => t.MaxAbsError <= 1e-6 * (1 + t.MaxAbsReference)));
            Assert.Equal(c.Parameters.Keys.Order(), written.Parameters.Keys.Order());
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static ModelCase Load()
    {
        SharedData.RequireDirectory(Path.GetDirectoryName(CasePath)!, "VGG reference case (shared/reference/vgg)");
        return ModelCase.Load(CasePath);
    }
}

using System;
using System.IO;
using System.Linq;
using System.Text.Json;
using System.Text.Json.Nodes;
using FusedOpt.Models.Training;
using Xunit;

namespace FusedOpt.Tests;

/// <summary>
/// <c>--state fp32|bf16|q8</c> and <c>--stochastic-rounding</c> on train, compare, replay and bench step (issue 14):
/// bad values and incompatible options are refused up front, and a run records its storage in its header line,
/// metrics, result.json and checkpoint, which a resume keeps. Small synthetic CIFAR-10 files; timing is never checked.
/// </summary>
public sealed class StateStorageCliTests : IDisposable
{
    private const string BadState = "--state: 'fp16' is not a state storage; expected fp32, bf16 or q8.";

    /// <summary>How a run names q8 states with the default threshold (bitsandbytes' min_8bit_size, 4096).</summary>
    private const string Q8Default = "q8 (tensors under 4,096 elements fp32)";

    private readonly string _dir = Directory.CreateTempSubdirectory("fusedopt-state-cli-").FullName;

    public StateStorageCliTests()
    {
        // Six files of 20 records each in the official layout, pixels that depend on the label.
        Data = LearnableCifar10.Write(Path.Combine(_dir, "cifar"), recordsPerFile: 20, seed: 7);
    }

    private string Data { get; }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>The command, the data folder, a small model, and <paramref name="extra"/>.</summary>
    private string[] Common(params string[] extra) =>
        [.. extra, "--data", Data, "--hidden", "16", "--batch", "10", "--threads", "2", "--records-per-file", "any"];

    private static JsonNode ResultOf(string folder) => JsonNode.Parse(File.ReadAllText(Path.Combine(folder, "result.json")))!;

    [Theory]
    [InlineData("train")]
    [InlineData("compare")]
    [InlineData("replay")]
    [InlineData("bench step")]
    public void State_UnknownStorage_ExitsWith2NamingTheValueAndTheChoices(string command)
    {
        string[] args = command switch
        {
            "train" => Common("train", "--epochs", "1", "--out", Path.Combine(_dir, "bad"), "--state", "fp16"),
            "compare" => Common("compare", "--optimizers", "sgd,adam", "--epochs", "1", "--out", Path.Combine(_dir, "bad"), "--state", "fp16"),
            "replay" => ["replay", Path.Combine(_dir, "no-case.json"), "--state", "fp16"],
            _ => ["bench", "step", "--size", "1K", "--rounds", "1", "--state", "fp16"],
        };
        if (command == "replay")
        {
            File.WriteAllText(args[1], "{}");
        }

        var result = CliHarness.Run(args);

        Assert.Equal(2, result.ExitCode);
        Assert.Equal("error: " + BadState, result.Error.Trim());
        Assert.False(Directory.Exists(Path.Combine(_dir, "bad")), "nothing is written before the options are checked");
    }

    [Fact]
    public void BenchStep_UnknownStorageInAList_ExitsWith2NamingIt()
    {
        var result = CliHarness.Run("bench", "step", "--size", "1K", "--rounds", "1", "--state", "fp32,fp16");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains(BadState, result.Error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("replay", "bf16")]
    [InlineData("replay", "q8")]
    [InlineData("bench step", "bf16")]
    [InlineData("bench step", "fp32,q8")]
    public void State_CompressedWithDevice_IsRefusedUpFront(string command, string state)
    {
        // Refused before any device is looked for: the message is the same on a machine without a GPU.
        string anyCase = Path.Combine(_dir, "case.json");
        File.WriteAllText(anyCase, "{}");
        string[] args = command == "replay"
            ? ["replay", anyCase, "--device", "cuda", "--state", state]
            : ["bench", "step", "--size", "1K", "--rounds", "1", "--device", "cuda", "--state", state];

        var result = CliHarness.Run(args);

        Assert.Equal(2, result.ExitCode);
        string shown = state.Split(',')[^1];
        Assert.Contains($"--state {shown} stores the states compressed on the CPU only; --device cuda keeps them in fp32", result.Error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("q8")]
    [InlineData("fp32")]
    public void StochasticRounding_WithoutBf16_IsRefused(string state)
    {
        var train = CliHarness.Run(Common("train", "--epochs", "1", "--out", Path.Combine(_dir, "sr"), "--state", state, "--stochastic-rounding"));
        string anyCase = Path.Combine(_dir, "case.json");
        File.WriteAllText(anyCase, "{}");
        var replay = CliHarness.Run("replay", anyCase, "--state", state, "--stochastic-rounding");

        foreach (var result in new[] { train, replay })
        {
            Assert.Equal(2, result.ExitCode);
            Assert.Contains($"--stochastic-rounding rounds bf16 states; it does not apply to --state {state}.", result.Error, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("bf16", false, "bf16")]
    [InlineData("bf16", true, "bf16 (stochastic rounding)")]
    [InlineData("q8", false, "q8 (tensors under 4,096 elements fp32)")]
    public void Train_CompressedStates_RecordedInHeaderMetricsResultAndCheckpoint(string state, bool stochastic, string label)
    {
        string output = Path.Combine(_dir, "run-" + state + (stochastic ? "-sr" : ""));
        string[] rounding = stochastic ? ["--stochastic-rounding"] : [];

        var run = CliHarness.Run(Common([.. new[] { "train", "--optimizer", "adam", "--lr", "0.01", "--epochs", "1", "--out", output, "--state", state }, .. rounding]));

        Assert.True(run.ExitCode == 0, run.Error + run.Output);
        Assert.Contains("states: " + label, run.Output, StringComparison.Ordinal);
        var options = ResultOf(output)["options"]!;
        Assert.Equal(state, options["stateStorage"]!.GetValue<string>());
        Assert.Equal(stochastic, options["stochasticRounding"]!.GetValue<bool>());
        Assert.Contains($"\"states\":\"{label}\"", File.ReadLines(Path.Combine(output, "metrics.jsonl")).First(), StringComparison.Ordinal);
        var saved = Checkpoint.Read(Path.Combine(output, Checkpoint.FileName)).Header.Options;
        Assert.Equal(state, Storage.StateStorages.Name(saved.StateStorage));
        Assert.Equal(stochastic, saved.StochasticRounding);
    }

    [Fact]
    public void Train_Default_IsFp32_AndSaysSo()
    {
        string output = Path.Combine(_dir, "run-default");

        var run = CliHarness.Run(Common("train", "--optimizer", "sgd", "--epochs", "1", "--out", output, "--json"));

        Assert.True(run.ExitCode == 0, run.Error + run.Output);
        Assert.Contains("states: fp32", run.Error, StringComparison.Ordinal);
        Assert.Equal("fp32", JsonNode.Parse(run.Output)!["options"]!["stateStorage"]!.GetValue<string>());
    }

    [Fact]
    public void Compare_State_AppliesToEveryOptimizer()
    {
        string output = Path.Combine(_dir, "compare");

        var run = CliHarness.Run(Common("compare", "--optimizers", "sgd-momentum,adam", "--lr", "sgd-momentum=0.05,adam=0.01", "--epochs", "1", "--out", output, "--state", "q8", "--json"));

        Assert.True(run.ExitCode == 0, run.Error + run.Output);
        using var compare = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "compare.json")));
        Assert.Equal(["q8", "q8"], compare.RootElement.EnumerateArray().Select(static r => r.GetProperty("options").GetProperty("stateStorage").GetString()));
        Assert.Equal(Q8Default, JsonNode.Parse(run.Output)!.AsArray().Select(static r => r!["states"]!.GetValue<string>()).Distinct().Single());
        Assert.Equal("q8", ResultOf(Path.Combine(output, "sgd-momentum"))["options"]!["stateStorage"]!.GetValue<string>());
        Assert.Equal(2, run.Error.Split('\n').Count(static l => l.Contains("states: q8", StringComparison.Ordinal)));
    }

    [Fact]
    public void Compare_Q8MinElements_AppliesToEveryOptimizer()
    {
        string output = Path.Combine(_dir, "compare-q8-every");

        var run = CliHarness.Run(Common("compare", "--optimizers", "sgd-momentum,adam", "--lr", "sgd-momentum=0.05,adam=0.01", "--epochs", "1", "--out", output, "--state", "q8", "--q8-min-elements", "0", "--json"));

        Assert.True(run.ExitCode == 0, run.Error + run.Output);
        using var compare = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "compare.json")));
        Assert.Equal([0L, 0L], compare.RootElement.EnumerateArray().Select(static r => r.GetProperty("options").GetProperty("q8MinElements").GetInt64()));
        Assert.Equal(["q8 (every tensor)", "q8 (every tensor)"], JsonNode.Parse(run.Output)!.AsArray().Select(static r => r!["states"]!.GetValue<string>()));
    }

    [Fact]
    public void Resume_KeepsTheStorage_AndRefusesAnother()
    {
        string output = Path.Combine(_dir, "resume");
        var first = CliHarness.Run(Common("train", "--optimizer", "adam", "--lr", "0.01", "--epochs", "1", "--out", output, "--state", "bf16", "--stochastic-rounding"));
        Assert.True(first.ExitCode == 0, first.Error + first.Output);

        var other = CliHarness.Run("train", "--resume", output, "--epochs", "2", "--state", "q8");
        var resumed = CliHarness.Run("train", "--resume", output, "--epochs", "2");

        Assert.Equal(2, other.ExitCode);
        Assert.Contains("--state q8 (the checkpoint has bf16)", other.Error, StringComparison.Ordinal);
        Assert.Contains("--stochastic-rounding off (the checkpoint has on)", other.Error, StringComparison.Ordinal);
        Assert.True(resumed.ExitCode == 0, resumed.Error + resumed.Output);
        Assert.Contains("states: bf16 (stochastic rounding)", resumed.Output, StringComparison.Ordinal);
        var result = ResultOf(output);
        Assert.Equal(2, result["epochs"]!.AsArray().Count);
        Assert.Equal("bf16", result["options"]!["stateStorage"]!.GetValue<string>());
        Assert.True(result["options"]!["stochasticRounding"]!.GetValue<bool>());
    }

    /// <summary>
    /// Adam's bytes per parameter with its two states stored in <paramref name="bytesPerElement"/> bytes each: the
    /// gradient read (4), the parameter read and written (8), each state read and written.
    /// </summary>
    private static double AdamBytes(double bytesPerElement) => 4 + 8 + (2 * 2 * bytesPerElement);

    [Fact]
    public void BenchStep_Q8_PrintsTheTableWithTheCompressedBytes()
    {
        // 64K parameters: 256 whole q8 blocks, so a state takes 1 byte per element plus one float absmax per 256.
        string expected = AdamBytes(1 + (4.0 / 256)).ToString("0.####", System.Globalization.CultureInfo.InvariantCulture);

        var result = CliHarness.Run("bench", "step", "--optimizer", "adam", "--state", "q8", "--size", "64K", "--threads", "2", "--rounds", "1");

        Assert.True(result.ExitCode == 0, result.Error + result.Output);
        Assert.Equal("16.0625", expected);
        Assert.Contains("states: q8", result.Output, StringComparison.Ordinal);
        foreach (string variant in new[] { "fused ", "naive multi-pass", "fused scalar", "same-traffic probe" })
        {
            string row = result.Output.Split('\n').First(l => l.Contains("│ " + variant, StringComparison.Ordinal));
            Assert.Contains($"│ {expected} │", row, StringComparison.Ordinal);
        }

        Assert.Contains("fused / same-traffic probe", result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public void BenchStep_Q8_TensorsUnderTheThreshold_SaysTheyKeepFp32()
    {
        // 64K parameters in 32 tensors of 2,048: every tensor is under 4,096, so q8 keeps every state in fp32.
        var table = CliHarness.Run("bench", "step", "--optimizer", "adam", "--state", "q8", "--size", "64K", "--tensors", "32", "--threads", "1", "--rounds", "1");
        // 8,191 parameters in two tensors: 4,095 (under the threshold) and 4,096 (quantized, 16 blocks).
        var json = CliHarness.Run("bench", "step", "--optimizer", "adam", "--state", "q8", "--size", "8191", "--tensors", "2", "--threads", "1", "--rounds", "1", "--json");
        var whole = CliHarness.Run("bench", "step", "--optimizer", "adam", "--state", "q8", "--size", "4K", "--threads", "1", "--rounds", "1");

        Assert.True(table.ExitCode == 0, table.Error + table.Output);
        Assert.Contains("q8: 32 of 32 tensor(s), 65,536 of 65,536 parameters, have fewer than 4,096 elements and keep fp32 states", table.Output, StringComparison.Ordinal);
        Assert.True(json.ExitCode == 0, json.Error + json.Output);
        using var doc = JsonDocument.Parse(json.Output);
        var kept = doc.RootElement.GetProperty("q8KeptFp32");
        Assert.Equal(4096, kept.GetProperty("threshold").GetInt64());
        Assert.Equal(1, kept.GetProperty("tensors").GetInt32());
        Assert.Equal(4095, kept.GetProperty("parameters").GetInt64());
        // The oracle is the optimizer's own layout, seen through the probe, which walks the arena's buffers and each
        // state's stored regions. The arena is 8,192 floats (the first tensor padded to a 64-byte line): g read, p read
        // and written, 12 bytes per slot; each of Adam's two states read and written: a code byte per element of the
        // quantized tensor (4,096), a float per block of it (16), a float per element kept fp32 (4,095).
        double probe = doc.RootElement.GetProperty("variants")[3].GetProperty("bytesPerParameter").GetDouble();
        Assert.Equal(((12.0 * 8192) + (4 * (4096 + (4 * 16) + (4 * 4095)))) / 8191, probe, 9);
        // The fused step's count: 12 bytes per parameter, and the same state bytes per parameter.
        double fused = doc.RootElement.GetProperty("variants")[0].GetProperty("bytesPerParameter").GetDouble();
        Assert.Equal(12 + (4.0 * (4096 + (4 * 16) + (4 * 4095)) / 8191), fused, 9);
        Assert.True(whole.ExitCode == 0, whole.Error + whole.Output);
        Assert.DoesNotContain("keep fp32 states", whole.Output, StringComparison.Ordinal);
    }

    [Fact]
    public void BenchStep_Q8MinElements0_QuantizesSmallTensors_BytesAndProbeExact()
    {
        // 1K parameters, one tensor under the default threshold: 0 quantizes it (4 whole blocks), so the step and the
        // probe both move 1 + 4/256 bytes per state element.
        var result = CliHarness.Run("bench", "step", "--optimizer", "adam", "--state", "fp32,q8", "--size", "1K", "--threads", "1", "--rounds", "1", "--q8-min-elements", "0", "--json");
        var refused = CliHarness.Run("bench", "step", "--state", "fp32,bf16", "--size", "1K", "--rounds", "1", "--q8-min-elements", "0");

        Assert.True(result.ExitCode == 0, result.Error + result.Output);
        using var doc = JsonDocument.Parse(result.Output);
        var q8 = doc.RootElement.GetProperty("storages")[1];
        Assert.Equal(0, q8.GetProperty("q8KeptFp32").GetProperty("tensors").GetInt32());
        Assert.Equal(AdamBytes(1 + (4.0 / 256)), q8.GetProperty("fusedBytesPerParameter").GetDouble());
        Assert.Equal(AdamBytes(1 + (4.0 / 256)), q8.GetProperty("variants")[3].GetProperty("bytesPerParameter").GetDouble(), 12);
        Assert.Equal(2, refused.ExitCode);
        Assert.Contains("--q8-min-elements keeps the small tensors of q8 states in fp32; it does not apply to --state fp32,bf16.", refused.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void BenchStep_SeveralStorages_OneRun_BytesAndRatiosToTheFp32FusedStep()
    {
        var result = CliHarness.Run("bench", "step", "--optimizer", "adam", "--state", "fp32,bf16,q8", "--size", "64K", "--threads", "2", "--rounds", "1", "--json");

        Assert.True(result.ExitCode == 0, result.Error + result.Output);
        using var doc = JsonDocument.Parse(result.Output);
        var storages = doc.RootElement.GetProperty("storages").EnumerateArray().ToList();
        Assert.Equal(["fp32", "bf16", "q8"], storages.Select(static s => s.GetProperty("states").GetString()));
        var expected = new[] { AdamBytes(4), AdamBytes(2), AdamBytes(1 + (4.0 / 256)) };
        double fp32Fused = storages[0].GetProperty("variants")[0].GetProperty("bestSeconds").GetDouble();
        for (int k = 0; k < 3; k++)
        {
            var variants = storages[k].GetProperty("variants");
            Assert.Equal(6, variants.GetArrayLength());
            Assert.Equal(expected[k], storages[k].GetProperty("fusedBytesPerParameter").GetDouble());
            // The same-traffic probe moves the bytes the step moves: the states in their stored form.
            Assert.Equal(expected[k], variants[3].GetProperty("bytesPerParameter").GetDouble(), 12);
            double fused = variants[0].GetProperty("bestSeconds").GetDouble();
            Assert.Equal(fp32Fused / fused, storages[k].GetProperty("speedupVsFp32Fused").GetDouble(), 12);
            Assert.Equal(variants[3].GetProperty("bestSeconds").GetDouble() / fused, storages[k].GetProperty("fractionOfProbe").GetDouble(), 12);
        }

        Assert.Equal(1.3, storages[1].GetProperty("targetVsFp32Fused").GetDouble());
        Assert.Equal(1.5, storages[2].GetProperty("targetVsFp32Fused").GetDouble());
    }

    [Fact]
    public void BenchStep_SeveralStorages_Table_ComparesEachFusedStepToFp32()
    {
        var result = CliHarness.Run("bench", "step", "--state", "fp32,bf16", "--size", "4K", "--threads", "1", "--rounds", "1");

        Assert.True(result.ExitCode == 0, result.Error + result.Output);
        Assert.Contains("states: fp32", result.Output, StringComparison.Ordinal);
        Assert.Contains("states: bf16", result.Output, StringComparison.Ordinal);
        Assert.Contains("fused steps by state storage, one run", result.Output, StringComparison.Ordinal);
        Assert.Contains("1.00×", result.Output, StringComparison.Ordinal);
        Assert.Contains("≥ 1.3×", result.Output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("bf16,bf16", "names bf16 twice")]
    [InlineData("fp32,q8", "--stochastic-rounding rounds bf16 states; it does not apply to --state fp32,q8.")]
    public void BenchStep_BadStorageList_IsRefused(string state, string message)
    {
        var result = CliHarness.Run("bench", "step", "--size", "1K", "--rounds", "1", "--state", state, "--stochastic-rounding");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains(message, result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void Replay_Bf16States_EveryCaseWithinTheDistanceBound_HeldToTheFormulaHere()
    {
        SharedData.RequireDirectory(SharedData.ReferenceOptimizers, "Reference trajectories");
        string output = Path.Combine(_dir, "replay-bf16");

        var result = CliHarness.Run("replay", SharedData.ReferenceOptimizers, "--state", "bf16", "--out", output, "--json");

        Assert.True(result.ExitCode == 0, result.Error + result.Output);
        var cases = JsonNode.Parse(result.Output)!.AsArray();
        Assert.Equal(21, cases.Count);
        foreach (var c in cases)
        {
            string name = c!["name"]!.GetValue<string>();
            Assert.Equal("bf16", c["states"]!.GetValue<string>());
            Assert.Equal(1e-4, c["tolerance"]!.GetValue<double>());
            Assert.Equal(1.0 / 32, c["distanceTolerance"]!.GetValue<double>());
            // The oracle: PyTorch's trajectory from the case file, the replayed one from --out, and the bound written out
            // here: |ours − expected| ≤ 1e-4·(|expected| + 1e-3) + 2⁻⁵·(Σ |x_t − x_{t−1}| of PyTorch's trajectory so far).
            string file = Directory.GetFiles(SharedData.ReferenceOptimizers, "*.json").Single(f => JsonNode.Parse(File.ReadAllText(f))!["name"]?.GetValue<string>() == name);
            var reference = JsonNode.Parse(File.ReadAllText(file))!;
            var initial = reference["initial"]!.AsArray().Select(static x => (double)(float)x!.GetValue<double>()).ToArray();
            var expected = reference["expected"]!.AsArray().Select(static row => row!.AsArray().Select(static x => (double)(float)x!.GetValue<double>()).ToArray()).ToArray();
            var ours = JsonNode.Parse(File.ReadAllText(Path.Combine(output, Path.GetFileName(file))))!["trajectory"]!.AsArray()
                .Select(static row => row!.AsArray().Select(static x => (double)(float)x!.GetValue<double>()).ToArray()).ToArray();
            var distance = new double[initial.Length];
            double worst = 0;
            for (int s = 0; s < expected.Length; s++)
            {
                for (int e = 0; e < initial.Length; e++)
                {
                    distance[e] += Math.Abs(expected[s][e] - (s == 0 ? initial : expected[s - 1])[e]);
                    double bound = (1e-4 * (Math.Abs(expected[s][e]) + 1e-3)) + (distance[e] / 32);
                    worst = Math.Max(worst, Math.Abs(ours[s][e] - expected[s][e]) / bound);
                }
            }

            Assert.True(worst <= 1, $"{name}: error / bound {worst}");
            Assert.Equal(worst, c["boundRatio"]!.GetValue<double>(), 1e-6);
        }

        // The states really are bf16: fp32's check (1e-4 relative, unchanged) would reject some of these replays.
        Assert.Contains(cases, static c => c!["maxRelativeError"]!.GetValue<double>() > 1e-4);
    }

    [Fact]
    public void Replay_Q8States_EveryTensorQuantized_AdamBeyondItsBound_ExitsWith1WithTheEvidence()
    {
        SharedData.RequireDirectory(SharedData.ReferenceOptimizers, "Reference trajectories");

        // --q8-min-elements 0 quantizes the case's 203 elements (one block) too. With eps = 1e-8, an element whose v is
        // far below the block's absmax stores v = 0, and its next update is lr·m̂/eps (docs/compressed-states.md): q8
        // cannot follow PyTorch's fp32 states here.
        var result = CliHarness.Run("replay", Path.Combine(SharedData.ReferenceOptimizers, "adam.json"), "--state", "q8", "--q8-min-elements", "0");

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("states q8 (every case)", result.Output, StringComparison.Ordinal);
        Assert.Contains("│ q8 ", result.Output, StringComparison.Ordinal);
        Assert.Contains("its bound 1e-4·(|x| + 1e-3) + 0.5·(distance travelled", result.Output, StringComparison.Ordinal);
        Assert.Contains("1 of 1 cases exceed the tolerance", result.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("stayed fp32", result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public void Replay_Q8States_DefaultThreshold_CasesStayFp32_SaysSo_AndGivesFp32sBits()
    {
        SharedData.RequireDirectory(SharedData.ReferenceOptimizers, "Reference trajectories");
        string q8 = Path.Combine(_dir, "replay-q8"), fp32 = Path.Combine(_dir, "replay-fp32");

        var json = CliHarness.Run("replay", SharedData.ReferenceOptimizers, "--state", "q8", "--out", q8, "--json");
        var plain = CliHarness.Run("replay", SharedData.ReferenceOptimizers, "--out", fp32, "--json");
        var table = CliHarness.Run("replay", Path.Combine(SharedData.ReferenceOptimizers, "adam.json"), "--state", "q8");

        Assert.True(json.ExitCode == 0, json.Error + json.Output);
        Assert.True(plain.ExitCode == 0, plain.Error + plain.Output);
        var cases = JsonNode.Parse(json.Output)!.AsArray();
        Assert.Equal(21, cases.Count);
        foreach (var c in cases)
        {
            // Every shared case has fewer than 4096 elements: its states stayed fp32, and it is held to fp32's check.
            Assert.True(c!["elements"]!.GetValue<int>() < 4096);
            Assert.Equal("q8", c["states"]!.GetValue<string>());
            Assert.Equal(4096, c["q8MinElements"]!.GetValue<long>());
            Assert.Equal("fp32", c["storedAs"]!.GetValue<string>());
            Assert.Equal(0, c["distanceTolerance"]!.GetValue<double>());
            Assert.Null(c["boundRatio"]);
            Assert.True(c["maxRelativeError"]!.GetValue<double>() <= 1e-4, c["name"]!.GetValue<string>());
        }

        // The same trajectories as fp32 states, value for value: q8 really was not used.
        foreach (string file in Directory.GetFiles(fp32))
        {
            Assert.Equal(File.ReadAllText(file), File.ReadAllText(Path.Combine(q8, Path.GetFileName(file))));
        }

        Assert.Equal(0, table.ExitCode);
        // The title (wrapped to the table's width) names the threshold and fp32's tolerance, which every case is held to.
        Assert.Contains("states q8 (cases under 4,096 elements", table.Output, StringComparison.Ordinal);
        Assert.Contains("tolerance 1e-4)", table.Output, StringComparison.Ordinal);
        Assert.Contains("│ fp32 (small) ", table.Output, StringComparison.Ordinal);
        Assert.Contains("fewer elements than --q8-min-elements 4,096 (the largest: 203), so its states stayed fp32", table.Output, StringComparison.Ordinal);
        Assert.Contains("--q8-min-elements 0 quantizes every case.", table.Output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(203, "q8", 1)]
    [InlineData(204, "fp32", 0)]
    public void Replay_Q8States_ThresholdAtTheCaseSize_QuantizesFromItsOwnLengthUp(long threshold, string storedAs, int exitCode)
    {
        SharedData.RequireDirectory(SharedData.ReferenceOptimizers, "Reference trajectories");
        string adam = Path.Combine(SharedData.ReferenceOptimizers, "adam.json");
        string ours = Path.Combine(_dir, $"adam-{threshold}.json"), fp32 = Path.Combine(_dir, "adam-fp32.json");

        // A tensor of exactly the threshold is quantized (bitsandbytes: numel < min_8bit_size stays fp32); the label is
        // checked against what the optimizer did: fp32's bits, or a replay that q8 pulls beyond its bound (exit 1).
        var result = CliHarness.Run("replay", adam, "--state", "q8", "--q8-min-elements", threshold.ToString(System.Globalization.CultureInfo.InvariantCulture), "--out", ours, "--json");
        var plain = CliHarness.Run("replay", adam, "--out", fp32);

        Assert.Equal(exitCode, result.ExitCode);
        Assert.Equal(0, plain.ExitCode);
        var c = JsonNode.Parse(result.Output)!.AsArray().Single()!;
        Assert.Equal(203, c["elements"]!.GetValue<int>());
        Assert.Equal(threshold, c["q8MinElements"]!.GetValue<long>());
        Assert.Equal(storedAs, c["storedAs"]!.GetValue<string>());
        Assert.Equal(storedAs == "fp32", File.ReadAllText(ours) == File.ReadAllText(fp32));
    }

    [Theory]
    [InlineData("train")]
    [InlineData("compare")]
    [InlineData("replay")]
    public void Q8MinElements_Negative_ExitsWith2NamingTheValue(string command)
    {
        var result = CliHarness.Run(Q8Args(command, "q8", "-1"));

        Assert.Equal(2, result.ExitCode);
        Assert.Equal("error: --q8-min-elements must be ≥ 0 (0 quantizes every tensor), got -1.", result.Error.Trim());
        Assert.False(Directory.Exists(Path.Combine(_dir, "q8min")), "nothing is written before the options are checked");
    }

    [Theory]
    [InlineData("train", "fp32")]
    [InlineData("train", "bf16")]
    [InlineData("compare", "bf16")]
    [InlineData("replay", "fp32")]
    [InlineData("replay", "bf16")]
    public void Q8MinElements_WithoutQ8_IsRefused(string command, string state)
    {
        // Refused even at the default value: given with another storage it would change nothing.
        var result = CliHarness.Run(Q8Args(command, state, "4096"));

        Assert.Equal(2, result.ExitCode);
        Assert.Equal($"error: --q8-min-elements keeps the small tensors of q8 states in fp32; it does not apply to --state {state}.", result.Error.Trim());
        Assert.False(Directory.Exists(Path.Combine(_dir, "q8min")), "nothing is written before the options are checked");
    }

    /// <summary><paramref name="command"/> with <c>--state <paramref name="state"/> --q8-min-elements <paramref name="threshold"/></c>.</summary>
    private string[] Q8Args(string command, string state, string threshold)
    {
        string output = Path.Combine(_dir, "q8min");
        string anyCase = Path.Combine(_dir, "case.json");
        File.WriteAllText(anyCase, "{}");
        return command switch
        {
            "train" => Common("train", "--epochs", "1", "--out", output, "--state", state, "--q8-min-elements", threshold),
            "compare" => Common("compare", "--optimizers", "sgd,adam", "--epochs", "1", "--out", output, "--state", state, "--q8-min-elements", threshold),
            _ => ["replay", anyCase, "--state", state, "--q8-min-elements", threshold],
        };
    }

    [Fact]
    public void Train_Q8EveryTensor_Recorded_ResumeKeepsIt_AndRefusesAnotherThreshold()
    {
        string output = Path.Combine(_dir, "q8-every");
        var first = CliHarness.Run(Common("train", "--optimizer", "adam", "--lr", "0.01", "--epochs", "1", "--out", output, "--state", "q8", "--q8-min-elements", "0"));
        Assert.True(first.ExitCode == 0, first.Error + first.Output);
        Assert.Contains("states: q8 (every tensor)", first.Output, StringComparison.Ordinal);
        Assert.Equal(0, ResultOf(output)["options"]!["q8MinElements"]!.GetValue<long>());
        Assert.Contains("\"states\":\"q8 (every tensor)\"", File.ReadLines(Path.Combine(output, "metrics.jsonl")).First(), StringComparison.Ordinal);
        Assert.Equal(0, Checkpoint.Read(Path.Combine(output, Checkpoint.FileName)).Header.Options.Q8MinElements);

        var other = CliHarness.Run("train", "--resume", output, "--epochs", "2", "--q8-min-elements", "4096");
        var resumed = CliHarness.Run("train", "--resume", output, "--epochs", "2");

        Assert.Equal(2, other.ExitCode);
        Assert.Contains("--q8-min-elements 4096 (the checkpoint has 0)", other.Error, StringComparison.Ordinal);
        Assert.True(resumed.ExitCode == 0, resumed.Error + resumed.Output);
        Assert.Contains("states: q8 (every tensor)", resumed.Output, StringComparison.Ordinal);
        var result = ResultOf(output);
        Assert.Equal(2, result["epochs"]!.AsArray().Count);
        Assert.Equal("q8", result["options"]!["stateStorage"]!.GetValue<string>());
        Assert.Equal(0, result["options"]!["q8MinElements"]!.GetValue<long>());
        Assert.Equal(0, Checkpoint.Read(Path.Combine(output, Checkpoint.FileName)).Header.Options.Q8MinElements);
    }

    [Fact]
    public void Train_Q8DefaultThreshold_HeaderCountsTheTensorsKeptFp32()
    {
        string output = Path.Combine(_dir, "q8-default");

        var run = CliHarness.Run(Common("train", "--optimizer", "adam", "--lr", "0.01", "--epochs", "1", "--out", output, "--state", "q8"));

        Assert.True(run.ExitCode == 0, run.Error + run.Output);
        // The FCN [16] on 32×32×3 images, 10 classes: weights 3072×16 (above 4096) and 16×10, biases 16 and 10.
        const int large = 3072 * 16, small = (16 * 10) + 16 + 10;
        Assert.Contains(
            string.Create(System.Globalization.CultureInfo.InvariantCulture, $"states: {Q8Default}: 3 of 4 tensors, {small:N0} of {large + small:N0} parameters, keep fp32 states"),
            run.Output,
            StringComparison.Ordinal);
        Assert.Equal(4096, ResultOf(output)["options"]!["q8MinElements"]!.GetValue<long>());
    }

    [Fact]
    public void Replay_Fp32_KeepsTheReferenceTolerance()
    {
        SharedData.RequireDirectory(SharedData.ReferenceOptimizers, "Reference trajectories");

        var result = CliHarness.Run("replay", Path.Combine(SharedData.ReferenceOptimizers, "adam.json"), "--json");

        Assert.Equal(0, result.ExitCode);
        var c = JsonNode.Parse(result.Output)!.AsArray().Single()!;
        Assert.Equal(1e-4, c["tolerance"]!.GetValue<double>());
        Assert.Equal(0, c["distanceTolerance"]!.GetValue<double>());
        Assert.Null(c["boundRatio"]);
        Assert.True(c["maxRelativeError"]!.GetValue<double>() <= 1e-4);
    }

    [Fact]
    public void Train_Bf16States_DifferFromFp32_ButEndClose()
    {
        string fp32 = Path.Combine(_dir, "e2e-fp32"), bf16 = Path.Combine(_dir, "e2e-bf16");
        string[] run = ["train", "--optimizer", "adam", "--lr", "1e-4", "--epochs", "3"];

        var a = CliHarness.Run(Common([.. run, "--out", fp32]));
        var b = CliHarness.Run(Common([.. run, "--out", bf16, "--state", "bf16"]));

        Assert.True(a.ExitCode == 0, a.Error + a.Output);
        Assert.True(b.ExitCode == 0, b.Error + b.Output);
        var ra = ResultOf(fp32);
        var rb = ResultOf(bf16);
        var la = ra["iterations"]!.AsArray().Select(static x => x!.GetValue<double>()).ToList();
        var lb = rb["iterations"]!.AsArray().Select(static x => x!.GetValue<double>()).ToList();
        Assert.Equal(la.Count, lb.Count);
        // Same data, seed and initial weights: the first loss is the same, and from then on the rounded states move the
        // parameters elsewhere.
        Assert.Equal(la[0], lb[0]);
        Assert.NotEqual(la, lb);
        // …but not far: the last-epoch train losses within 10% of each other, test accuracy within 10 points (two of the
        // 20 test images).
        double lossA = ra["epochs"]!.AsArray()[^1]!["trainLoss"]!.GetValue<double>(), lossB = rb["epochs"]!.AsArray()[^1]!["trainLoss"]!.GetValue<double>();
        double accA = ra["epochs"]!.AsArray()[^1]!["test"]!["accuracy"]!.GetValue<double>(), accB = rb["epochs"]!.AsArray()[^1]!["test"]!["accuracy"]!.GetValue<double>();
        Assert.True(Math.Abs(lossA - lossB) <= 0.10 * Math.Max(lossA, lossB), $"train loss fp32 {lossA}, bf16 {lossB}");
        Assert.True(Math.Abs(accA - accB) <= 0.10, $"test accuracy fp32 {accA}, bf16 {accB}");
        // Both learned: the last epoch's mean train loss is below the first iteration's.
        Assert.True(lossA < la[0] && lossB < lb[0], $"fp32 {la[0]} → {lossA} (acc {accA}); bf16 {lb[0]} → {lossB} (acc {accB})");
    }

    [Theory]
    [InlineData("train", "fp32")]
    [InlineData("train", "bf16")]
    [InlineData("compare", "bf16")]
    [InlineData("replay", "fp32")]
    [InlineData("replay", "bf16")]
    [InlineData("bench step", "fp32,bf16")]
    public void Q8KeepPositive_WithoutQ8_ExitsWith2NamingTheStorage(string command, string state)
    {
        string output = Path.Combine(_dir, "keep");
        string anyCase = Path.Combine(_dir, "case.json");
        File.WriteAllText(anyCase, "{}");
        string[] args = command switch
        {
            "train" => Common("train", "--epochs", "1", "--out", output, "--state", state, "--q8-keep-positive"),
            "compare" => Common("compare", "--optimizers", "sgd,adam", "--epochs", "1", "--out", output, "--state", state, "--q8-keep-positive"),
            "replay" => ["replay", anyCase, "--state", state, "--q8-keep-positive"],
            _ => ["bench", "step", "--size", "1K", "--rounds", "1", "--state", state, "--q8-keep-positive"],
        };

        var result = CliHarness.Run(args);

        Assert.Equal(2, result.ExitCode);
        Assert.Equal($"error: --q8-keep-positive codes the non-negative states of q8 storage; it does not apply to --state {state}.", result.Error.Trim());
        Assert.False(Directory.Exists(output), "nothing is written before the options are checked");
    }

    [Fact]
    public void Train_Q8KeepPositive_Recorded_ResumeKeepsIt_AndRefusesTurningItOff()
    {
        string output = Path.Combine(_dir, "q8-keep");
        var first = CliHarness.Run(Common("train", "--optimizer", "adam", "--lr", "0.01", "--epochs", "1", "--out", output, "--state", "q8", "--q8-min-elements", "0", "--q8-keep-positive"));
        Assert.True(first.ExitCode == 0, first.Error + first.Output);
        Assert.Contains("states: q8 (every tensor), keep positive", first.Output, StringComparison.Ordinal);
        Assert.True(ResultOf(output)["options"]!["q8KeepPositive"]!.GetValue<bool>());
        Assert.True(Checkpoint.Read(Path.Combine(output, Checkpoint.FileName)).Header.Options.Q8KeepPositive);

        var off = CliHarness.Run("train", "--resume", output, "--epochs", "2", "--q8-keep-positive", "false");
        var resumed = CliHarness.Run("train", "--resume", output, "--epochs", "2");

        Assert.Equal(2, off.ExitCode);
        Assert.Contains("--q8-keep-positive off (the checkpoint has on)", off.Error, StringComparison.Ordinal);
        Assert.True(resumed.ExitCode == 0, resumed.Error + resumed.Output);
        Assert.Contains("states: q8 (every tensor), keep positive", resumed.Output, StringComparison.Ordinal);
        Assert.Equal(2, ResultOf(output)["epochs"]!.AsArray().Count);
        Assert.True(ResultOf(output)["options"]!["q8KeepPositive"]!.GetValue<bool>());
        Assert.True(Checkpoint.Read(Path.Combine(output, Checkpoint.FileName)).Header.Options.Q8KeepPositive);
    }

    [Fact]
    public void Q8KeepPositive_ReachesCompareReplayAndBenchStep()
    {
        SharedData.RequireDirectory(SharedData.ReferenceOptimizers, "Reference trajectories");
        string output = Path.Combine(_dir, "compare-keep");

        var compare = CliHarness.Run(Common("compare", "--optimizers", "sgd-momentum,adam", "--lr", "sgd-momentum=0.05,adam=0.01", "--epochs", "1", "--out", output, "--state", "q8", "--q8-keep-positive", "--json"));
        var replay = CliHarness.Run("replay", Path.Combine(SharedData.ReferenceOptimizers, "adam.json"), "--state", "q8", "--q8-keep-positive", "--json");
        var bench = CliHarness.Run("bench", "step", "--optimizer", "adam", "--state", "fp32,q8", "--size", "1K", "--threads", "1", "--rounds", "1", "--q8-min-elements", "0", "--q8-keep-positive", "--json");

        Assert.True(compare.ExitCode == 0, compare.Error + compare.Output);
        using (var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "compare.json"))))
        {
            Assert.Equal([true, true], doc.RootElement.EnumerateArray().Select(static r => r.GetProperty("options").GetProperty("q8KeepPositive").GetBoolean()));
        }

        Assert.Equal($"{Q8Default}, keep positive", JsonNode.Parse(compare.Output)!.AsArray().Select(static r => r!["states"]!.GetValue<string>()).Distinct().Single());
        Assert.True(replay.ExitCode == 0, replay.Error + replay.Output);
        Assert.True(JsonNode.Parse(replay.Output)!.AsArray().Single()!["q8KeepPositive"]!.GetValue<bool>());
        Assert.True(bench.ExitCode == 0, bench.Error + bench.Output);
        using var benchDoc = JsonDocument.Parse(bench.Output);
        var storages = benchDoc.RootElement.GetProperty("storages");
        Assert.Equal("fp32", storages[0].GetProperty("states").GetString());
        Assert.Equal("q8 (keep positive)", storages[1].GetProperty("states").GetString());
        Assert.False(storages[0].GetProperty("options").GetProperty("q8KeepPositive").GetBoolean());
        Assert.True(storages[1].GetProperty("options").GetProperty("q8KeepPositive").GetBoolean());
    }
}

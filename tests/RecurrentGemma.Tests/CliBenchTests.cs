using System.Text.Json;
using RecurrentGemma.Cli;
using RecurrentGemma.Core.Model;
using RecurrentGemma.Core.State;
using RecurrentGemma.Tests.Support;
using Xunit;

namespace RecurrentGemma.Tests;

/// <summary>rgemma bench on a small synthetic model: the JSON fields the issue names, consistent with the model; bad flags refused.</summary>
public class CliBenchTests
{
    static (int Code, string Out, string Err) Run(params string[] args) => CliRunner.Run(args);

    static string SmallConfig()
    {
        string dir = TestData.NewTempDirectory();
        new RandomModelSpec(Hidden: 64, LruWidth: 64, Heads: 2, MlpWidth: 96, Layers: 3, Pattern: ["recurrent", "recurrent", "attention"], Window: 8, Vocab: 300).WriteConfig(dir);
        return Path.Combine(dir, "config.json");
    }

    [Fact]
    public void Bench_json_reports_every_field_for_a_synthetic_model()
    {
        string config = SmallConfig();
        var (code, stdout, stderr) = Run("bench", "--model", "random:" + config, "--prompt", "12", "--gen", "5", "--threads", "2", "--json");
        Assert.True(code == 0, stderr);
        using var doc = JsonDocument.Parse(stdout);
        var r = doc.RootElement;
        Assert.Equal("random:" + config, r.GetProperty("model").GetString());
        Assert.Equal(2, r.GetProperty("threads").GetInt32());
        Assert.Equal(12, r.GetProperty("prompt_tokens").GetInt32());
        Assert.Equal(5, r.GetProperty("gen_tokens").GetInt32());
        foreach (var positive in new[] { "prefill_tok_s", "decode_tok_s", "ttft_s", "bandwidth_gb_s", "fma_gflop_s", "prefill_roofline", "decode_roofline", "peak_rss_bytes" })
            Assert.True(r.GetProperty(positive).GetDouble() > 0, positive);
        var milestones = r.GetProperty("decode_milestones").EnumerateArray().ToArray();
        Assert.Equal(5, milestones.Last().GetProperty("tokens").GetInt32());   // fewer than 128 tokens: only the last
        using var model = RecurrentGemmaModel.Open("random:" + config, 1);
        Assert.Equal(SequenceState.BytesFor(model.Config), r.GetProperty("state_bytes_per_sequence").GetInt64());
        Assert.Equal(model.Weights.MatrixBytes, r.GetProperty("weight_bytes").GetInt64());
        // The step profile: every phase of the prefill and of a decode step, and (this model has both kinds of layers)
        // time in each kind of work; the phases of the prefill add up to about its measured time.
        var profile = r.GetProperty("profile");
        string[] phases = ["matmul_s", "attention_s", "recurrence_s", "elementwise_s", "logits_head_s", "sampling_s"];
        foreach (var part in new[] { "prefill", "decode" })
            foreach (var phase in phases)
                Assert.True(profile.GetProperty(part).GetProperty(phase).GetDouble() > 0, $"{part}.{phase}");
        double prefillSum = phases.Sum(p => profile.GetProperty("prefill").GetProperty(p).GetDouble());
        Assert.InRange(prefillSum, 0, r.GetProperty("ttft_s").GetDouble() * 1.05);
    }

    [Fact]
    public void Bench_table_names_both_rooflines()
    {
        var (code, stdout, stderr) = Run("bench", "--model", "random:" + SmallConfig(), "--prompt", "4", "--gen", "2");
        Assert.True(code == 0, stderr);
        Assert.Contains("of FMA roofline", stdout);
        Assert.Contains("of bandwidth roofline", stdout);
        Assert.Contains("prefill: matmul", stdout);
        Assert.Contains("decode:  matmul", stdout);
    }

    [Fact]
    public void Batch_bench_reports_every_batch_and_writes_plots()
    {
        string plot = Path.Combine(TestData.NewTempDirectory(), "run");
        var (code, stdout, stderr) = Run("bench", "--model", "random:" + SmallConfig(), "--batch", "1,3,8", "--prompt", "6", "--gen", "12", "--json", "--plot", plot);
        Assert.True(code == 0, stderr);
        using var doc = JsonDocument.Parse(stdout);
        var r = doc.RootElement;
        var batches = r.GetProperty("batches").EnumerateArray().ToArray();
        Assert.Equal([1, 3, 8], batches.Select(b => b.GetProperty("batch").GetInt32()));
        long state = r.GetProperty("state_bytes_per_sequence").GetInt64();
        foreach (var b in batches)
        {
            Assert.True(b.GetProperty("decode_tok_s").GetDouble() > 0);
            Assert.True(b.GetProperty("decode_roofline").GetDouble() > 0);
            Assert.True(b.GetProperty("peak_rss_bytes").GetInt64() > 0);
            Assert.Equal(b.GetProperty("batch").GetInt32() * state, b.GetProperty("state_bytes").GetInt64());
            Assert.True(b.GetProperty("profile").GetProperty("matmul_s").GetDouble() > 0);
            Assert.True(b.GetProperty("profile").GetProperty("attention_s").GetDouble() > 0);
        }
        Assert.Equal(12, r.GetProperty("memory").EnumerateArray().Last().GetProperty("tokens").GetInt32());
        foreach (var suffix in new[] { "-throughput.svg", "-memory.svg" })
        {
            var svg = System.Xml.Linq.XDocument.Load(plot + suffix);   // well-formed
            Assert.Equal("svg", svg.Root!.Name.LocalName);
            Assert.Contains(svg.Root.Descendants(), e => e.Name.LocalName == "polyline");
        }
    }

    [Fact]
    public void Depth_bench_reports_every_length_and_batch_and_plots_one_line_per_batch()
    {
        string plot = Path.Combine(TestData.NewTempDirectory(), "run");
        var (code, stdout, stderr) = Run("bench", "--model", "random:" + SmallConfig(), "--batch", "1,4", "--prompt", "6", "--gen", "3",
            "--depths", "2,9,20", "--json", "--plot", plot);
        Assert.True(code == 0, stderr);
        using var doc = JsonDocument.Parse(stdout);
        var points = doc.RootElement.GetProperty("depths").EnumerateArray().ToArray();
        Assert.Equal([(2, 1), (2, 4), (9, 1), (9, 4), (20, 1), (20, 4)],
            points.Select(p => (p.GetProperty("generated_tokens").GetInt32(), p.GetProperty("batch").GetInt32())));
        Assert.All(points, p => Assert.True(p.GetProperty("decode_tok_s").GetDouble() > 0 && p.GetProperty("decode_roofline").GetDouble() > 0));
        var svg = System.Xml.Linq.XDocument.Load(plot + "-depths.svg");
        Assert.Equal(2, svg.Root!.Descendants().Count(e => e.Name.LocalName == "polyline"));
        Assert.Contains(svg.Root.Descendants(), e => e.Name.LocalName == "text" && e.Value == "batch 4");
    }

    [Theory]
    [InlineData("512,128", "--depths: counts must be increasing")]
    [InlineData("0,8", "--depths: 0 must be in [1, 16777216]")]
    public void Bad_depths_are_usage_errors(string depths, string message)
    {
        var (code, _, stderr) = Run("bench", "--model", "random:" + SmallConfig(), "--batch", "1", "--depths", depths);
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains(message, stderr);
    }

    [Theory]
    [InlineData("--batch", "1,0", "--batch: 0 must be in [1, 4096]")]
    [InlineData("--plot", "x", "--plot needs --batch")]
    [InlineData("--depths", "128", "--depths needs --batch")]
    [InlineData("--prompt", "0", "--prompt: 0 must be in [1, 16777216]")]
    [InlineData("--gen", "-3", "--gen: -3 must be in [1, 16777216]")]
    [InlineData("--threads", "-1", "--threads: -1 must be in [0, 1024]")]
    [InlineData("--threads", "5000", "--threads: 5000 must be in [0, 1024]")]
    [InlineData("--prompt", "2000000000", "--prompt: 2000000000 must be in [1, 16777216]")]
    [InlineData("--batch", "1,100000", "--batch: 100000 must be in [1, 4096]")]
    public void Bad_bench_flags_are_usage_errors(string flag, string value, string message)
    {
        var (code, _, stderr) = Run("bench", "--model", "random:" + SmallConfig(), flag, value);
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains(message, stderr);
        Assert.Single(stderr.Trim().Split('\n'));
    }

    [Theory]
    [InlineData("random:")]
    [InlineData("random:3b")]
    [InlineData("random:/nonexistent/config.json")]
    public void Unknown_synthetic_specs_are_refused(string spec)
    {
        var (code, _, stderr) = Run("bench", "--model", spec);
        Assert.Equal(ExitCodes.Failure, code);
        Assert.Contains("expected random:2b, random:9b or random:<path to an existing config.json>", stderr);
    }

    [Theory]
    [InlineData(2147483647, "attention_window_size = 2147483647 must be in [1, 65536]")]
    [InlineData(65536, "floats per K/V ring; the limit is 1073741824")]
    public void An_absurd_config_is_one_line_and_exit_1_never_a_trace(int window, string message)
    {
        string dir = TestData.NewTempDirectory();
        var spec = window == 65536
            ? new RandomModelSpec(Hidden: 32768, LruWidth: 32768, Heads: 1, MlpWidth: 64, Layers: 1, Window: window)
            : new RandomModelSpec(Window: window);
        spec.WriteConfig(dir);
        var (code, _, stderr) = Run("bench", "--model", "random:" + Path.Combine(dir, "config.json"), "--prompt", "4", "--gen", "2");
        Assert.Equal(ExitCodes.Failure, code);
        Assert.Contains(message, stderr);
        Assert.Single(stderr.Trim().Split('\n'));
    }
}

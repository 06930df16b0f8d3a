using RecurrentGemma.Cli;
using RecurrentGemma.Tests.Support;
using Xunit;

namespace RecurrentGemma.Tests;

/// <summary>rgemma forward: reproduces every golden case; every bad input gives one line on stderr and a documented exit code.</summary>
public class CliForwardTests
{
    static (int Code, string Out, string Err) Run(params string[] args) => CliRunner.Run(args);

    [Theory]
    [InlineData("tiny-a")]
    [InlineData("tiny-b")]
    [InlineData("tiny-a-sharded")]
    public void Forward_reproduces_golden_tensors(string name)
    {
        var g = new GoldenCase(name);
        int[] prompt = g.Ids("prompt_ids"), generated = g.Ids("generated_ids");
        string outFile = Path.Combine(TestData.NewTempDirectory(), "out.safetensors");
        var (code, stdout, stderr) = Run("forward", "--model", g.Directory, "--ids", string.Join(",", prompt), "--generate", generated.Length.ToString(), "--out", outFile);
        Assert.True(code == 0, stderr);
        Assert.Contains("generated_ids: " + string.Join(",", generated), stdout);

        var produced = new GoldenCase(name, outFile);
        Assert.Equal(g.Shape("prefill_logits"), produced.Shape("prefill_logits"));
        Assert.Equal(g.Shape("decode_logits"), produced.Shape("decode_logits"));
        Assert.Equal(g.Longs("generated_ids"), produced.Longs("generated_ids"));
        Tolerance.AssertClose(g.Floats("prefill_logits"), produced.Floats("prefill_logits"), Tolerance.Logits, "prefill_logits");
        Tolerance.AssertClose(g.Floats("decode_logits"), produced.Floats("decode_logits"), Tolerance.Logits, "decode_logits");
    }

    [Theory]
    [InlineData("tiny-a")]
    [InlineData("tiny-b")]
    public void Forward_reference_passes_on_the_golden_file(string name)
    {
        string reference = Path.Combine(TestData.Golden(name), "golden.safetensors");
        var (code, stdout, stderr) = Run("forward", "--model", TestData.Golden(name), "--reference", reference);
        Assert.True(code == 0, stderr + stdout);
        Assert.Contains("parity: PASS", stdout);
        Assert.Contains("generated_ids identical (" + new GoldenCase(name).Ids("generated_ids").Length + ")", stdout);
    }

    [Fact]
    public void Forward_reference_fails_on_a_perturbed_reference_with_exit_1()
    {
        // The golden file with one prefill logit moved by 1e-3 (twice the tolerance) and one greedy id changed.
        var g = new GoldenCase("tiny-a");
        float[] prefill = g.Floats("prefill_logits");
        prefill[100] += 1e-3f;
        long[] ids = g.Longs("generated_ids");
        ids[3] = (ids[3] + 1) % 512;
        string reference = Path.Combine(TestData.NewTempDirectory(), "perturbed.safetensors");
        new Core.Checkpoint.SafetensorsWriter()
            .Add("prompt_ids", g.Longs("prompt_ids"), g.Longs("prompt_ids").Length)
            .Add("prefill_logits", prefill, (int)g.Shape("prefill_logits")[0], (int)g.Shape("prefill_logits")[1])
            .Add("generated_ids", ids, ids.Length)
            .Add("decode_logits", g.Floats("decode_logits"), (int)g.Shape("decode_logits")[0], (int)g.Shape("decode_logits")[1])
            .Write(reference);
        var (code, stdout, _) = Run("forward", "--model", TestData.Golden("tiny-a"), "--reference", reference);
        Assert.Equal(ExitCodes.Failure, code);
        Assert.Contains("parity: FAIL: prefill_logits max-abs diff", stdout);
        Assert.Contains("parity: FAIL: generated_ids differ", stdout);
        Assert.DoesNotContain("parity: PASS", stdout);
    }

    [Fact]
    public void Forward_reference_with_a_tolerance_of_zero_reports_the_exceeding_diff()
    {
        string reference = Path.Combine(TestData.Golden("tiny-a"), "golden.safetensors");
        var (code, stdout, _) = Run("forward", "--model", TestData.Golden("tiny-a"), "--reference", reference, "--tolerance", "0");
        Assert.Equal(ExitCodes.Failure, code);
        Assert.Contains("exceeds 0", stdout);
    }

    [Fact]
    public void Forward_replaces_an_existing_output_atomically()
    {
        string dir = TestData.NewTempDirectory(), outFile = Path.Combine(dir, "out.safetensors");
        File.WriteAllText(outFile, "old");
        var (code, _, stderr) = Run("forward", "--model", TestData.Golden("tiny-a"), "--ids", "2,5", "--out", outFile);
        Assert.True(code == 0, stderr);
        Assert.Equal([0L], new GoldenCase("tiny-a", outFile).Shape("generated_ids"));
        Assert.Equal(new[] { "out.safetensors" }, Directory.GetFiles(dir).Select(f => Path.GetFileName(f)).ToArray());
    }

    public static TheoryData<string[], int, string> BadInputs()
    {
        string model = TestData.Golden("tiny-a");
        string outFile = Path.Combine(Path.GetTempPath(), "rgemma-cli-test.safetensors");
        return new()
        {
            { ["forward", "--ids", "2", "--out", outFile], ExitCodes.Usage, "--model" },
            { ["forward", "--model", model, "--out", outFile], ExitCodes.Usage, "--ids" },
            { ["forward", "--model", model, "--ids", "2"], ExitCodes.Usage, "--out is required (or --reference)" },
            { ["forward", "--model", model, "--reference", "/nonexistent/golden.safetensors"], ExitCodes.Usage, "--reference: /nonexistent/golden.safetensors does not exist" },
            { ["forward", "--model", model, "--reference", Path.Combine(model, "model.safetensors")], ExitCodes.Failure, "no tensor 'prompt_ids'" },
            { ["forward", "--model", model, "--reference", Path.Combine(model, "golden.safetensors"), "--tolerance", "-1"], ExitCodes.Usage, "--tolerance: -1 must be 0 or more" },
            { ["forward", "--model", model, "--ids", "2,x,4", "--out", outFile], ExitCodes.Usage, "item 2 'x' is not a token id" },
            { ["forward", "--model", model, "--ids", "2,-4", "--out", outFile], ExitCodes.Usage, "item 2 '-4' is not a token id" },
            { ["forward", "--model", model, "--ids", "2,512", "--out", outFile], ExitCodes.Usage, "token id 512 (item 2) is outside the model's vocabulary [0, 512)" },
            { ["forward", "--model", model, "--ids", "2", "--generate", "-1", "--out", outFile], ExitCodes.Usage, "--generate: -1 must be in [0, 65536]" },
            { ["forward", "--model", model, "--ids", "2", "--generate", "many", "--out", outFile], ExitCodes.Usage, "many" },
            { ["forward", "--model", model, "--ids", "2", "--out", "/nonexistent-dir/x.safetensors"], ExitCodes.Usage, "does not exist" },
            { ["forward", "--model", model, "--ids", "2", "--out", Path.GetTempPath()], ExitCodes.Usage, "is a directory" },
            { ["forward", "--model", model, "--ids", "2", "--out", outFile, "--bogus"], ExitCodes.Usage, "--bogus" },
            { ["frobnicate"], ExitCodes.Usage, "frobnicate" },
            { ["forward", "--model", "/nonexistent/model", "--ids", "2", "--out", outFile], ExitCodes.Failure, "does not exist" },
            { ["forward", "--model", TestData.Root, "--ids", "2", "--out", outFile], ExitCodes.Failure, "config.json" },
        };
    }

    [Theory, MemberData(nameof(BadInputs))]
    public void Bad_input_gives_one_line_and_an_exit_code(string[] args, int expectedCode, string expectedText)
    {
        var (code, _, stderr) = Run(args);
        Assert.Equal(expectedCode, code);
        string[] lines = stderr.TrimEnd().Split('\n');
        Assert.Single(lines);
        Assert.StartsWith("rgemma: error: ", lines[0]);
        Assert.Contains(expectedText, lines[0]);
        Assert.DoesNotContain(" at ", lines[0].Replace(" at position", ""));   // no stack trace
    }

    [Fact]
    public void Help_is_available_for_forward()
    {
        var (code, stdout, _) = Run("forward", "--help");
        Assert.Equal(0, code);
        Assert.Contains("--generate", stdout);
        Assert.Contains("--out", stdout);
    }
}

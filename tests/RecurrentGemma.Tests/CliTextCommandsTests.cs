using System.Text.Json;
using RecurrentGemma.Cli;
using RecurrentGemma.Tests.Support;
using Xunit;

namespace RecurrentGemma.Tests;

/// <summary>rgemma chat, info, tokenize, detokenize and perplexity.</summary>
public class CliTextCommandsTests
{
    static (int Code, string Out, string Err) Run(string stdin, params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = CliApp.Run(args, new StringReader(stdin), stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    [Fact]
    public void Chat_keeps_state_between_turns_and_reset_starts_over()
    {
        var (code, stdout, stderr) = Run("ROMEO:\nWhat says my love?\n/reset\nROMEO:\n/exit\n", "chat", "--max-tokens", "12");
        Assert.True(code == 0, stderr);
        var usage = stderr.Split('\n').Where(l => l.Contains("prompt tokens")).ToArray();
        Assert.Equal(3, usage.Length);
        // First turn: <bos> + template + text; the second only its own new tokens (the state carries the first).
        Assert.Contains("rgemma: 14 prompt tokens", usage[0]);
        Assert.Contains("rgemma: 18 prompt tokens", usage[1]);
        Assert.Contains("rgemma: 14 prompt tokens", usage[2]);
        Assert.Contains("conversation reset", stderr);
        // After /reset the same first message gets the same (greedy) answer as a fresh chat.
        string first = Run("ROMEO:\n", "chat", "--max-tokens", "12").Out;
        Assert.StartsWith(first, stdout);
        Assert.EndsWith(first, stdout);
    }

    [Fact]
    public void Progress_bar_only_on_a_terminal()
    {
        var terminal = new StringWriter();
        Assert.Equal(0, CliApp.Run(["generate", "ROMEO:", "--max-tokens", "1"], TextReader.Null, new StringWriter(), terminal, stderrIsTerminal: true));
        Assert.Contains("\rloading [##############################] 100%", terminal.ToString());
        var piped = new StringWriter();
        Assert.Equal(0, CliApp.Run(["generate", "ROMEO:", "--max-tokens", "1"], TextReader.Null, new StringWriter(), piped, stderrIsTerminal: false));
        Assert.DoesNotContain("loading [", piped.ToString());
        Assert.Null(new ProgressBar(piped, enabled: false).For("x"));
    }

    [Fact]
    public void Info_describes_the_demo_model()
    {
        var (code, stdout, stderr) = Run("", "info");
        Assert.True(code == 0, stderr);
        Assert.Contains("parameters   5,334,272", stdout);   // the demo model card's count
        Assert.Contains("6: 4 recurrent, 2 attention", stdout);
        Assert.Contains("2048 pieces", stdout);
        Assert.Contains("MB per sequence", stdout);
    }

    [Fact]
    public void Tokenize_and_detokenize_round_trip_with_the_gemma_tokenizer()
    {
        string tok = TestData.DataFile("tokenizer/tokenizer.model");
        var (code, stdout, stderr) = Run("", "tokenize", "--tokenizer", tok, "Hello world");
        Assert.True(code == 0, stderr);
        Assert.Equal("4521,2134", stdout.Trim());
        (code, stdout, _) = Run("", "tokenize", "--tokenizer", tok, "--json", "--bos", "Hello world");
        using var doc = JsonDocument.Parse(stdout);
        Assert.Equal([2, 4521, 2134], doc.RootElement.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()));
        Assert.Equal(["<bos>", "Hello", "▁world"], doc.RootElement.GetProperty("pieces").EnumerateArray().Select(e => e.GetString()));
        (code, stdout, _) = Run("", "detokenize", "--tokenizer", tok, "2,4521,2134");
        Assert.Equal("Hello world", stdout.TrimEnd('\n', '\r'));
        (code, stdout, _) = Run("héllo 世界\n", "tokenize", "--tokenizer", tok, "-");
        (code, var text, _) = Run(stdout, "detokenize", "--tokenizer", tok, "-");
        Assert.Equal("héllo 世界\n", text[..^Environment.NewLine.Length]);
    }

    [Theory]
    [InlineData("5,abc", "item 2 'abc' is not a token id")]
    [InlineData("5,2048", "token id 2048 (item 2) is outside the tokenizer's vocabulary [0, 2048)")]
    public void Detokenize_refuses_bad_ids(string ids, string message)
    {
        var (code, _, stderr) = Run("", "detokenize", ids);
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains(message, stderr);
    }

    [Theory]
    [InlineData(64)]
    [InlineData(300)]
    public void Perplexity_reproduces_the_demo_golden_nll_at_any_chunk_size(int chunk)
    {
        var golden = JsonDocument.Parse(File.ReadAllText(TestData.DataFile("demo/golden.json"))).RootElement.GetProperty("perplexity");
        string file = Path.Combine(TestData.NewTempDirectory(), "val.txt");
        File.WriteAllText(file, golden.GetProperty("text").GetString());
        var (code, stdout, stderr) = Run("", "perplexity", "--file", file, "--chunk", chunk.ToString(), "--json");
        Assert.True(code == 0, stderr);
        var r = JsonDocument.Parse(stdout).RootElement;
        Assert.Equal(golden.GetProperty("n_scored_tokens").GetInt32(), r.GetProperty("tokens").GetInt32());
        Assert.True(Math.Abs(golden.GetProperty("mean_nll").GetDouble() - r.GetProperty("mean_nll").GetDouble()) < 1e-3, stdout);
        Assert.True(Math.Abs(golden.GetProperty("perplexity").GetDouble() - r.GetProperty("perplexity").GetDouble()) < 0.05, stdout);
    }

    [Fact]
    public void Perplexity_refuses_missing_and_non_utf8_files()
    {
        Assert.Equal(ExitCodes.Usage, Run("", "perplexity", "--file", "/nonexistent.txt").Code);
        string bad = Path.Combine(TestData.NewTempDirectory(), "bad.txt");
        File.WriteAllBytes(bad, [0x41, 0xC3, 0x28]);
        var (code, _, stderr) = Run("", "perplexity", "--file", bad);
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains("not valid UTF-8", stderr);
    }

    [Theory]
    [InlineData("--chunk", "100000", "--chunk: 100000 must be in [1, 1024]")]
    [InlineData("--chunk", "0", "--chunk: 0 must be in [1, 1024]")]
    [InlineData("--max-tokens", "-1", "--max-tokens: -1 must be in [0, 16777216]")]
    public void Perplexity_counts_out_of_range_are_one_line_usage_errors(string flag, string value, string message)
    {
        string file = Path.Combine(TestData.NewTempDirectory(), "t.txt");
        File.WriteAllText(file, "ROMEO: hello");
        var (code, _, stderr) = Run("", "perplexity", "--file", file, flag, value);
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains(message, stderr);
        Assert.Single(stderr.Trim().Split('\n'));
    }

    [Fact]
    public void A_damaged_tokenizer_model_is_one_line_and_exit_1()
    {
        var bytes = File.ReadAllBytes(Path.Combine(TestData.DemoModel, "tokenizer.model"));
        string file = Path.Combine(TestData.NewTempDirectory(), "tokenizer.model");
        File.WriteAllBytes(file, bytes[..(bytes.Length / 2)]);
        var (code, _, stderr) = Run("", "tokenize", "--tokenizer", file, "hello");
        Assert.Equal(ExitCodes.Failure, code);
        Assert.Contains(file, stderr);
        Assert.Single(stderr.Trim().Split('\n'));
    }
}

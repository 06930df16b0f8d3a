using System.Text.Json;
using RecurrentGemma.Cli;
using RecurrentGemma.Tests.Support;
using Xunit;

namespace RecurrentGemma.Tests;

/// <summary>rgemma generate end to end: the demo model's golden text, the real 256000-piece tokenizer on a synthetic model, and bad input.</summary>
public class CliGenerateTests
{
    static (int Code, string Out, string Err) Run(params string[] args) => CliRunner.Run(args);

    [Fact]
    public void Default_demo_model_prints_the_golden_continuation_of_ROMEO()
    {
        var golden = JsonDocument.Parse(File.ReadAllText(TestData.DataFile("demo/golden.json"))).RootElement;
        var (code, stdout, stderr) = Run("generate", "ROMEO:", "--max-tokens", "64", "--temperature", "0");
        Assert.True(code == 0, stderr);
        Assert.Equal(golden.GetProperty("prompt_plus_generated_text").GetString() + Environment.NewLine, stdout);
        Assert.Contains("built-in demo model", stderr);
        Assert.Contains("64 generated", stderr);
    }

    [Fact]
    public void Sampling_flags_and_seed_give_reproducible_text()
    {
        string[] args = ["generate", "JULIET:", "--temperature", "0.8", "--top-k", "40", "--top-p", "0.9", "--min-p", "0.02", "--repeat-penalty", "1.1", "--seed", "5", "--max-tokens", "40"];
        var a = Run(args);
        var b = Run(args);
        Assert.True(a.Code == 0, a.Err);
        Assert.Equal(a.Out, b.Out);
        Assert.StartsWith("JULIET:", a.Out);
        Assert.NotEqual(a.Out, Run([.. args[..^5], "--seed", "6", "--max-tokens", "40"]).Out);
    }

    [Fact]
    public void Full_vocabulary_synthetic_model_runs_through_the_real_tokenizer()
    {
        string dir = TestData.NewTempDirectory();
        new RandomModelSpec(Hidden: 32, LruWidth: 32, Heads: 2, MlpWidth: 48, Layers: 3, Vocab: 256000).WriteConfig(dir);
        var (code, stdout, stderr) = Run("generate", "Hello world", "--model", "random:" + Path.Combine(dir, "config.json"),
            "--tokenizer", TestData.DataFile("tokenizer/tokenizer.model"), "--max-tokens", "8", "--temperature", "1", "--seed", "1");
        Assert.True(code == 0, stderr);
        Assert.StartsWith("Hello world", stdout);
        Assert.Matches(@"2 prompt tokens|3 prompt tokens", stderr);   // <bos> Hello ▁world
    }

    [Fact]
    public void Prompt_from_stdin()
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = CliApp.Run(["generate", "-", "--max-tokens", "5", "--temperature", "0"], new StringReader("ROMEO:"), stdout, stderr);
        Assert.True(code == 0, stderr.ToString());
        Assert.StartsWith("ROMEO:\nO, thou", stdout.ToString());
    }

    [Fact]
    public void A_bad_sampling_field_in_a_batch_file_is_named_as_the_JSON_field()
    {
        string file = Path.Combine(TestData.NewTempDirectory(), "requests.jsonl");
        File.WriteAllLines(file, ["""{"prompt": "ROMEO:", "top_p": 2}""", """{"prompt": "ROMEO:", "repeat_penalty": 0}""",
            """{"prompt": "ROMEO:", "max_tokens": 2000000000}""", """{"prompt": "ROMEO:", "top_k": 99999999}""", """{"prompt": "ROMEO:", "max_tokens": 2}"""]);
        var (code, stdout, stderr) = Run("generate", "--batch-file", file);
        Assert.True(code == 0, stderr);
        var errors = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Take(4).Select(l => JsonDocument.Parse(l).RootElement.GetProperty("error").GetString()).ToArray();
        Assert.Contains("\"top_p\": 2 must be in (0, 1]", errors[0]);
        Assert.Contains("\"repeat_penalty\": 0 must be a positive number (1 = off)", errors[1]);
        Assert.Contains("\"max_tokens\": 2000000000 must be in [0, 16777216]", errors[2]);
        Assert.Contains("\"top_k\": 99999999 must be in [0, 1048576]", errors[3]);
    }

    [Fact]
    public async Task Batch_file_runs_requests_together_with_the_results_each_would_get_alone()
    {
        string file = Path.Combine(TestData.NewTempDirectory(), "requests.jsonl");
        File.WriteAllLines(file,
        [
            """{"prompt": "ROMEO:", "max_tokens": 12}""",
            """{"prompt": "JULIET:", "temperature": 0.8, "top_k": 40, "seed": 3, "max_tokens": 12}""",
            """{"ids": [2, 817, 99999]}""",
            "not json",
            """{"ids": [2, 953, 2007], "max_tokens": 5, "stop": ["will"]}""",
        ]);
        var (code, stdout, stderr) = Run("generate", "--batch-file", file, "--temperature", "0", "--top-k", "0", "--top-p", "1");
        Assert.True(code == 0, stderr);
        var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement).ToArray();
        Assert.Equal([1, 2, 3, 4, 5], lines.Select(l => l.GetProperty("line").GetInt32()));
        Assert.Contains("outside the vocabulary", lines[2].GetProperty("error").GetString());
        Assert.True(lines[3].TryGetProperty("error", out _));

        using var generator = Core.Generation.TextGenerator.Open(TestData.DemoModel);
        var tokenizer = generator.RequireTokenizer();
        async Task<(int[] Ids, string Text)> Alone(int[] prompt, Core.Sampling.SamplingParameters p)
        {
            var ids = new List<int>();
            var text = new System.Text.StringBuilder();
            await foreach (var t in generator.CreateSession().GenerateAsync(prompt, p)) { if (t.Id >= 0) ids.Add(t.Id); text.Append(t.Text); }
            return ([.. ids], text.ToString());
        }
        var expected = new[]
        {
            await Alone(tokenizer.Encode("ROMEO:", true), new() { MaxTokens = 12 }),
            await Alone(tokenizer.Encode("JULIET:", true), new() { Temperature = 0.8f, TopK = 40, Seed = 3, MaxTokens = 12 }),
            await Alone([2, 953, 2007], new() { MaxTokens = 5, StopStrings = ["will"] }),
        };
        foreach (var (line, (ids, text)) in new[] { lines[0], lines[1], lines[4] }.Zip(expected))
        {
            Assert.Equal(ids, line.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()));
            Assert.Equal(text, line.GetProperty("text").GetString());
            Assert.Equal(ids.Length, line.GetProperty("usage").GetProperty("generated_tokens").GetInt32());
        }
        Assert.Equal("StopString", lines[4].GetProperty("usage").GetProperty("stop_reason").GetString());
    }

    [Fact]
    public void The_defaults_sample_with_a_fixed_seed_and_temperature_0_is_exactly_greedy()
    {
        var first = Run("generate", "ROMEO:", "--max-tokens", "48");
        Assert.True(first.Code == 0, first.Err);
        Assert.Equal(first.Out, Run("generate", "ROMEO:", "--max-tokens", "48").Out);   // the same on every run
        var greedy = Run("generate", "ROMEO:", "--max-tokens", "48", "--temperature", "0").Out;
        Assert.NotEqual(greedy, first.Out);
        var sampled = Run("generate", "ROMEO:", "--max-tokens", "48", "--temperature", "0.8", "--top-k", "40", "--top-p", "0.95", "--repeat-penalty", "1.1", "--seed", "0").Out;
        Assert.Equal(sampled, first.Out);   // what --help says the defaults are
        Assert.Equal(greedy, Run("generate", "ROMEO:", "--max-tokens", "48", "--temperature", "0", "--top-k", "0", "--top-p", "1", "--repeat-penalty", "1").Out);
    }

    public static TheoryData<string[], int, string> BadInputs() => new()
    {
        { ["generate", "x", "--model", "/nonexistent/model"], ExitCodes.Failure, "does not exist" },
        { ["generate", "x", "--model", "GOLDEN"], ExitCodes.Failure, "has no tokenizer.model" },
        { ["generate", "x", "--temperature", "-1"], ExitCodes.Usage, "--temperature: -1 must be 0 (greedy) or a positive number" },
        { ["generate", "x", "--top-p", "0"], ExitCodes.Usage, "--top-p: 0 must be in (0, 1]" },
        { ["generate", "x", "--min-p", "1"], ExitCodes.Usage, "--min-p: 1 must be in [0, 1)" },
        { ["generate", "x", "--max-tokens", "-2"], ExitCodes.Usage, "--max-tokens: -2 must be in [0, 16777216]" },
        { ["generate", "x", "--top-k", "abc"], ExitCodes.Usage, "abc" },
        { ["generate", "x", "--top-k", "99999999"], ExitCodes.Usage, "--top-k: 99999999 must be in [0, 1048576]" },
        { ["generate", "x", "--max-tokens", "2000000000"], ExitCodes.Usage, "--max-tokens: 2000000000 must be in [0, 16777216]" },
        { ["generate", "x", "--max-prompt-tokens", "0"], ExitCodes.Usage, "--max-prompt-tokens: 0 must be in [1, 16777216]" },
        { ["generate", "x", "--threads", "100000"], ExitCodes.Usage, "--threads: 100000 must be in [0, 1024]" },
        { ["generate", "x", "--repeat-penalty", "0"], ExitCodes.Usage, "--repeat-penalty: 0 must be a positive number" },
        { ["generate", "x", "--stop", ""], ExitCodes.Usage, "--stop: a stop string must not be empty" },
        { ["generate", "ROMEO: ROMEO: ROMEO:", "--max-prompt-tokens", "4"], ExitCodes.Usage, "--max-prompt-tokens is 4" },
        { ["generate"], ExitCodes.Usage, "give a prompt" },
        { ["generate", "--batch-file", "/nonexistent.jsonl"], ExitCodes.Usage, "--batch-file: /nonexistent.jsonl does not exist" },
        { ["generate", "x", "--batch-file", "/nonexistent.jsonl"], ExitCodes.Usage, "either a prompt or --batch-file" },
    };

    [Theory]
    [MemberData(nameof(BadInputs))]
    public void Bad_input_is_one_line_and_an_exit_code(string[] args, int expectedCode, string message)
    {
        args = Array.ConvertAll(args, a => a == "GOLDEN" ? TestData.Golden("tiny-a") : a);
        var (code, _, stderr) = Run(args);
        Assert.Equal(expectedCode, code);
        Assert.Contains(message, stderr);
        Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries), l => l.StartsWith("rgemma: error"));
    }

    [Fact]
    public void Invalid_utf8_on_stdin_is_refused()
    {
        var stdin = new StreamReader(new MemoryStream([0x52, 0xFF, 0x4F]), new System.Text.UTF8Encoding(false, throwOnInvalidBytes: true), false);
        var stderr = new StringWriter();
        int code = CliApp.Run(["generate", "-"], stdin, new StringWriter(), stderr);
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains("standard input is not valid UTF-8", stderr.ToString());
    }
}

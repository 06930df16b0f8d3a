using System.Text.Json;
using RecurrentGemma.Core.Serving;
using RecurrentGemma.Core;
using RecurrentGemma.Core.Generation;
using RecurrentGemma.Core.Model;
using RecurrentGemma.Core.Sampling;
using RecurrentGemma.Tests.Support;
using Xunit;

namespace RecurrentGemma.Tests;

/// <summary>The public generation API: golden greedy ids through the ids API, the demo model's golden text, chat template, stop strings, cancellation, resumable sessions.</summary>
public class GenerationTests
{
    static async Task<List<GeneratedToken>> Collect(IAsyncEnumerable<GeneratedToken> stream)
    {
        var tokens = new List<GeneratedToken>();
        await foreach (var t in stream) tokens.Add(t);
        return tokens;
    }

    [Theory]
    [InlineData("tiny-a")]
    [InlineData("tiny-b")]
    public async Task Ids_api_reproduces_golden_greedy_ids(string name)
    {
        var g = new GoldenCase(name);
        int[] prompt = g.Ids("prompt_ids"), expected = g.Ids("generated_ids");
        using var generator = new TextGenerator(RecurrentGemmaModel.Load(g.Directory), tokenizer: null);
        var session = generator.CreateSession();
        var tokens = await Collect(session.GenerateAsync(prompt, new SamplingParameters { MaxTokens = expected.Length }));
        // Greedy stops at <eos> like any generation; compare up to where the reference's ids would stop.
        int stop = Array.IndexOf(expected, generator.Model.Config.EosTokenId);
        int[] want = stop >= 0 ? expected[..stop] : expected;
        Assert.Equal(want, tokens.Select(t => t.Id).ToArray());
        Assert.All(tokens, t => Assert.Null(t.Text));
        Assert.Equal(prompt.Length, session.LastUsage!.PromptTokens);
        Assert.Equal(want.Length, session.LastUsage.GeneratedTokens);
    }

    static TextGenerator Demo() => TextGenerator.Open(TestData.DemoModel);

    static JsonElement DemoGolden() => JsonDocument.Parse(File.ReadAllText(TestData.DataFile("demo/golden.json"))).RootElement;

    [Fact]
    public async Task Demo_model_greedy_continuation_of_ROMEO_equals_golden_ids_and_text()
    {
        var golden = DemoGolden();
        int[] expected = golden.GetProperty("generated_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        using var generator = Demo();
        var session = generator.CreateSession();
        var tokens = await Collect(session.GenerateAsync("ROMEO:", new SamplingParameters { MaxTokens = expected.Length }));
        Assert.Equal(expected, tokens.Where(t => t.Id != GeneratedToken.NoId).Select(t => t.Id).ToArray());
        Assert.Equal(golden.GetProperty("generated_text").GetString(), string.Concat(tokens.Select(t => t.Text)));
        Assert.Equal(StopReason.MaxTokens, session.LastUsage!.StopReason);
    }

    [Fact]
    public async Task Same_seed_same_text_and_a_session_continues_where_it_stopped()
    {
        using var generator = Demo();
        var p = new SamplingParameters { Temperature = 0.9f, TopK = 40, TopP = 0.95f, Seed = 11, MaxTokens = 30 };
        async Task<string> Once()
        {
            var s = generator.CreateSession();
            var text = new List<string>();
            await foreach (var piece in s.GenerateTextAsync("KING RICHARD:", p)) text.Add(piece);
            return string.Concat(text);
        }
        Assert.Equal(await Once(), await Once());

        // 10 + 10 tokens in two calls (no new prompt) equal 20 in one: the state carries over.
        var whole = generator.CreateSession();
        var all = await Collect(whole.GenerateAsync("ROMEO:", new SamplingParameters { MaxTokens = 20 }));
        var split = generator.CreateSession();
        var first = await Collect(split.GenerateAsync("ROMEO:", new SamplingParameters { MaxTokens = 10 }));
        var second = await Collect(split.GenerateAsync([], new SamplingParameters { MaxTokens = 10 }));
        Assert.Equal(all.Select(t => t.Id), first.Concat(second).Select(t => t.Id));
    }

    [Fact]
    public async Task Concurrent_sessions_are_batched_and_get_the_same_results_as_alone()
    {
        using var generator = Demo();
        var p = new SamplingParameters { Temperature = 0.8f, TopK = 20, Seed = 3, MaxTokens = 40 };
        string[] prompts = ["ROMEO:", "JULIET:", "KING HENRY:", "First Citizen:"];
        async Task<int[]> Run(string prompt)
        {
            var ids = new List<int>();
            await foreach (var t in generator.CreateSession().GenerateAsync(prompt, p)) if (t.Id >= 0) ids.Add(t.Id);
            return [.. ids];
        }
        var sequential = new List<int[]>();
        foreach (var prompt in prompts) sequential.Add(await Run(prompt));
        Assert.Equal(1, generator.Scheduler.PeakBatchSequences);   // one at a time so far
        var concurrent = await Task.WhenAll(prompts.Select(prompt => Task.Run(() => Run(prompt))));
        for (int i = 0; i < prompts.Length; i++) Assert.Equal(sequential[i], concurrent[i]);
        Assert.True(generator.Scheduler.PeakBatchSequences >= 2, "concurrent sessions should have shared engine steps");
    }

    [Fact]
    public async Task Stop_string_ends_generation_without_emitting_it()
    {
        using var generator = Demo();
        var session = generator.CreateSession();
        var tokens = await Collect(session.GenerateAsync("ROMEO:", new SamplingParameters { MaxTokens = 64, StopStrings = ["JULIET"] }));
        string text = string.Concat(tokens.Select(t => t.Text));
        Assert.Equal("\nO, thou wilt thou not?\n\n", text);
        Assert.Equal(StopReason.StopString, session.LastUsage!.StopReason);
    }

    [Fact]
    public async Task Cancellation_stops_the_stream()
    {
        using var generator = Demo();
        var session = generator.CreateSession();
        using var cts = new CancellationTokenSource();
        int n = 0;
        await foreach (var _ in session.GenerateAsync("ROMEO:", new SamplingParameters { MaxTokens = 1000 }, cts.Token))
            if (++n == 5) cts.Cancel();
        Assert.Equal(5, n);
        Assert.Equal(StopReason.Cancelled, session.LastUsage!.StopReason);
    }

    [Fact]
    public void Chat_template_formats_alternating_turns()
    {
        Assert.Equal("<start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\nHello!<end_of_turn>\n<start_of_turn>user\nBye<end_of_turn>\n<start_of_turn>model\n",
            ChatTemplate.Format([new(TurnRole.User, "Hi"), new(TurnRole.Model, "Hello!"), new(TurnRole.User, "Bye")]));
        Assert.Throws<RecurrentGemmaException>(() => ChatTemplate.Format([new(TurnRole.Model, "x")]));
        Assert.Throws<RecurrentGemmaException>(() => ChatTemplate.Format([new(TurnRole.User, "a"), new(TurnRole.Model, "b")]));
        // The Gemma tokenizer turns the template's markers into their single ids (golden line: 106, 1645, 108 ...).
        var tokenizer = Core.Tokenizer.GemmaTokenizer.Load(TestData.DataFile("tokenizer/tokenizer.model"));
        Assert.Equal([2, 106, 1645, 108, 4521, 107, 108, 106, 2516, 108], tokenizer.Encode(ChatTemplate.Format([new(TurnRole.User, "Hello")]), addBos: true));
    }

    [Fact]
    public void A_tokenizer_that_does_not_fit_the_model_is_refused()
    {
        string dir = TestData.NewTempDirectory();
        new RandomModelSpec(Vocab: 300).WriteConfig(dir);
        var e = Assert.Throws<Core.TokenizerException>(() => TextGenerator.Open("random:" + Path.Combine(dir, "config.json"), TestData.DataFile("tokenizer/tokenizer.model")));
        Assert.Contains("256000 pieces but the model's vocabulary has 300", e.Message);
    }
}

using Microsoft.Extensions.AI;
using RecurrentGemma.Core.Generation;
using RecurrentGemma.Core.Sampling;
using RecurrentGemma.Extensions.AI;
using RecurrentGemma.Tests.Support;
using Xunit;
using AiChatMessage = Microsoft.Extensions.AI.ChatMessage;
using AiChatRole = Microsoft.Extensions.AI.ChatRole;
using CoreMessage = RecurrentGemma.Core.Generation.ChatTurn;

namespace RecurrentGemma.Tests;

/// <summary>TextGenerator.AsIChatClient(): Microsoft.Extensions.AI's chat interface over the engine.</summary>
public sealed class ChatClientTests : IDisposable
{
    readonly TextGenerator _generator = TextGenerator.Open(TestData.DemoModel);
    readonly TextGenerator _alone = TextGenerator.Open(TestData.DemoModel);

    public void Dispose()
    {
        _generator.Dispose();
        _alone.Dispose();
    }

    static readonly AiChatMessage[] Question = [new(AiChatRole.System, "Speak as a king."), new(AiChatRole.User, "Who goes there?")];
    static readonly CoreMessage[] CoreQuestion = [new(Core.Generation.TurnRole.System, "Speak as a king."), new(Core.Generation.TurnRole.User, "Who goes there?")];

    [Fact]
    public async Task A_response_is_the_library_alone_result_with_usage_and_metadata()
    {
        using var client = _generator.AsIChatClient();
        var response = await client.GetResponseAsync(Question, new ChatOptions { Temperature = 0, MaxOutputTokens = 20 });
        Assert.Equal(await TestServer.AloneAsync(_alone, CoreQuestion, new SamplingParameters { MaxTokens = 20 }), response.Text);
        Assert.Equal(ChatFinishReason.Length, response.FinishReason);
        Assert.Equal(20, response.Usage!.OutputTokenCount);
        Assert.Equal(ChatPrompt.Encode(_generator.Tokenizer!, CoreQuestion).Ids.Length, response.Usage.InputTokenCount);
        Assert.Equal(AiChatRole.Assistant, response.Messages.Single().Role);
        var metadata = client.GetService<ChatClientMetadata>()!;
        Assert.Equal("recurrentgemma", metadata.ProviderName);
        Assert.Equal("recurrentgemma", metadata.DefaultModelId);

        // Seeded sampling with every mapped option: the same as the library with the same parameters, every time.
        var options = new ChatOptions { Temperature = 0.9f, TopP = 0.9f, TopK = 30, Seed = 5, MaxOutputTokens = 24, PresencePenalty = 0.3f, FrequencyPenalty = 0.2f };
        var seeded = await client.GetResponseAsync(Question, options);
        var expected = await TestServer.AloneAsync(_alone, CoreQuestion, SamplingParameters.Chat with
        {
            Temperature = 0.9f, TopP = 0.9f, TopK = 30, Seed = 5, MaxTokens = 24, PresencePenalty = 0.3f, FrequencyPenalty = 0.2f,
        });
        Assert.Equal(expected, seeded.Text);
        Assert.Equal(expected, (await client.GetResponseAsync(Question, options)).Text);
    }

    [Fact]
    public async Task Streaming_gives_the_same_text_then_usage_and_a_finish_reason()
    {
        using var client = _generator.AsIChatClient();
        var options = new ChatOptions { Temperature = 0, MaxOutputTokens = 30 };
        string whole = (await client.GetResponseAsync(Question, options)).Text;
        var updates = new List<ChatResponseUpdate>();
        await foreach (var update in client.GetStreamingResponseAsync(Question, options)) updates.Add(update);
        Assert.Equal(whole, string.Concat(updates.Select(u => u.Text)));
        Assert.True(updates.Count > 10);
        Assert.Equal(ChatFinishReason.Length, updates[^1].FinishReason);
        Assert.Single(updates[^1].Contents.OfType<UsageContent>());
        Assert.Equal(whole, (await client.GetStreamingResponseAsync(Question, options).ToChatResponseAsync()).Text);   // the abstractions' own fold
    }

    [Fact]
    public async Task A_stop_sequence_ends_the_answer_before_it()
    {
        using var client = _generator.AsIChatClient();
        string whole = (await client.GetResponseAsync(Question, new ChatOptions { Temperature = 0, MaxOutputTokens = 30 })).Text;
        string stop = whole.Split(' ', StringSplitOptions.RemoveEmptyEntries)[2];
        var stopped = await client.GetResponseAsync(Question, new ChatOptions { Temperature = 0, MaxOutputTokens = 30, StopSequences = [stop] });
        Assert.Equal(whole[..whole.IndexOf(stop, StringComparison.Ordinal)], stopped.Text);
        Assert.Equal(ChatFinishReason.Stop, stopped.FinishReason);
    }

    [Fact]
    public async Task A_resent_history_reuses_the_conversation_state_and_answers_as_without_the_cache()
    {
        using var client = _generator.AsIChatClient();
        using var uncached = _alone.AsIChatClient(new RecurrentGemmaChatClientOptions { StateCacheBytes = 0 });
        var history = new List<AiChatMessage>(Question);
        var options = new ChatOptions { Temperature = 0.7f, Seed = 11, MaxOutputTokens = 16 };
        for (int turn = 0; turn < 3; turn++)
        {
            var answer = await client.GetResponseAsync(history, options);
            var reference = await uncached.GetResponseAsync(history, options);
            Assert.Equal(reference.Text, answer.Text);
            Assert.Equal(0, reference.Usage!.CachedInputTokenCount);
            if (turn > 0) Assert.True(answer.Usage!.CachedInputTokenCount > 0, $"turn {turn}: nothing reused");
            history.Add(new AiChatMessage(AiChatRole.Assistant, answer.Text));
            history.Add(new AiChatMessage(AiChatRole.User, $"And then {turn}?"));
        }
    }

    [Fact]
    public async Task Concurrent_calls_are_batched_and_each_gets_its_alone_result()
    {
        using var client = _generator.AsIChatClient(new RecurrentGemmaChatClientOptions { StateCacheBytes = 0 });
        var prompts = Enumerable.Range(0, 8).Select(i => $"Tell of the {i}th night.").ToArray();
        var answers = await Task.WhenAll(prompts.Select(p => client.GetResponseAsync([new AiChatMessage(AiChatRole.User, p)], new ChatOptions { Temperature = 0, MaxOutputTokens = 40 })));
        for (int i = 0; i < prompts.Length; i++)
            Assert.Equal(await TestServer.AloneAsync(_alone, [new(Core.Generation.TurnRole.User, prompts[i])], new SamplingParameters { MaxTokens = 40 }), answers[i].Text);
        Assert.True(_generator.Scheduler.PeakBatchSequences > 1);
    }

    [Fact]
    public async Task Cancelling_mid_stream_throws_and_frees_the_slot()
    {
        using var client = _generator.AsIChatClient();
        using var cancel = new CancellationTokenSource();
        int seen = 0;
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var _ in client.GetStreamingResponseAsync(Question, new ChatOptions { Temperature = 0, MaxOutputTokens = 5000 }, cancel.Token))
                if (++seen == 3) cancel.Cancel();
        });
        Assert.Equal(3, seen);
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (_generator.Scheduler.Statistics().RunningSequences != 0 && DateTime.UtcNow < deadline) await Task.Delay(10);
        Assert.Equal(0, _generator.Scheduler.Statistics().RunningSequences);
    }

    [Fact]
    public async Task Tools_and_non_text_content_are_refused()
    {
        using var client = _generator.AsIChatClient();
        await Assert.ThrowsAsync<NotSupportedException>(() => client.GetResponseAsync([new AiChatMessage(AiChatRole.Tool, "x")]));
        await Assert.ThrowsAsync<NotSupportedException>(() => client.GetResponseAsync([new AiChatMessage(AiChatRole.User, [new DataContent(new byte[] { 1 }, "image/png")])]));
        await Assert.ThrowsAsync<NotSupportedException>(() => client.GetResponseAsync(Question, new ChatOptions { Tools = [AIFunctionFactory.Create(() => 1, "one")] }));
    }
}

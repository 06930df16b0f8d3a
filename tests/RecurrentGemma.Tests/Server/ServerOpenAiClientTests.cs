#pragma warning disable OPENAI001 // Seed is marked experimental in the OpenAI library
using System.ClientModel;
using System.Text;
using System.Text.Json;
using OpenAI.Chat;
using RecurrentGemma.Core.Generation;
using RecurrentGemma.Core.Sampling;
using RecurrentGemma.Server;
using RecurrentGemma.Tests.Support;
using Xunit;
using CoreMessage = RecurrentGemma.Core.Generation.ChatTurn;

namespace RecurrentGemma.Tests.Server;

/// <summary>rgemma serve driven by the official OpenAI .NET library, as a user's application drives it.</summary>
public sealed class ServerOpenAiClientTests : IAsyncLifetime
{
    TestServer _server = null!;
    TextGenerator _alone = null!;

    public async Task InitializeAsync()
    {
        _server = await TestServer.StartAsync();
        _alone = TextGenerator.Open(TestData.DemoModel);
    }

    public async Task DisposeAsync()
    {
        _alone.Dispose();
        await _server.DisposeAsync();
    }

    static readonly CoreMessage[] Hello = [new(TurnRole.System, "Answer as a king."), new(TurnRole.User, "Who goes there?")];

    static OpenAI.Chat.ChatMessage[] ToOpenAi(IEnumerable<CoreMessage> messages) => [.. messages.Select(m => m.Role switch
    {
        TurnRole.System => (OpenAI.Chat.ChatMessage)new SystemChatMessage(m.Content),
        TurnRole.User => new UserChatMessage(m.Content),
        _ => new AssistantChatMessage(m.Content),
    })];

    [Fact]
    public async Task Chat_completion_equals_the_library_alone_greedy_and_seeded()
    {
        var chat = _server.Chat();
        var greedy = await chat.CompleteChatAsync(ToOpenAi(Hello), new ChatCompletionOptions { Temperature = 0, MaxOutputTokenCount = 24 });
        Assert.Equal(await TestServer.AloneAsync(_alone, Hello, new SamplingParameters { MaxTokens = 24 }), greedy.Value.Content[0].Text);
        Assert.Equal(ChatFinishReason.Length, greedy.Value.FinishReason);
        Assert.Equal(24, greedy.Value.Usage.OutputTokenCount);

        var options = new ChatCompletionOptions { Temperature = 0.8f, TopP = 0.9f, Seed = 1234, MaxOutputTokenCount = 24, FrequencyPenalty = 0.5f, PresencePenalty = 0.25f };
        var seeded = await chat.CompleteChatAsync(ToOpenAi(Hello), options);
        var expected = await TestServer.AloneAsync(_alone, Hello, new SamplingParameters
        {
            Temperature = 0.8f, TopP = 0.9f, Seed = 1234, MaxTokens = 24, FrequencyPenalty = 0.5f, PresencePenalty = 0.25f,
        });
        Assert.Equal(expected, seeded.Value.Content[0].Text);
        Assert.Equal(expected, (await chat.CompleteChatAsync(ToOpenAi(Hello), options)).Value.Content[0].Text);   // same seed, same text
    }

    [Fact]
    public async Task Streaming_gives_the_same_text_with_usage_last()
    {
        var chat = _server.Chat();
        var options = new ChatCompletionOptions { Temperature = 0, MaxOutputTokenCount = 30 };
        string whole = (await chat.CompleteChatAsync(ToOpenAi(Hello), options)).Value.Content[0].Text;
        var text = new StringBuilder();
        ChatTokenUsage? usage = null;
        ChatFinishReason? finish = null;
        int updates = 0;
        await foreach (var update in chat.CompleteChatStreamingAsync(ToOpenAi(Hello), options))
        {
            foreach (var part in update.ContentUpdate) text.Append(part.Text);
            usage ??= update.Usage;
            finish ??= update.FinishReason;
            updates++;
        }
        Assert.Equal(whole, text.ToString());
        Assert.True(updates > 5, $"{updates} updates: the answer should arrive token by token");
        Assert.Equal(ChatFinishReason.Length, finish);
        Assert.NotNull(usage);   // the library asks for stream_options.include_usage
        Assert.Equal(30, usage!.OutputTokenCount);
    }

    [Fact]
    public async Task Several_choices_come_from_one_prefill_and_each_equals_its_seed_alone()
    {
        // The library does not expose n; its protocol method sends the body as given.
        var chat = _server.Chat();
        var body = BinaryContent.Create(BinaryData.FromString("""
            {"model": "m", "messages": [{"role": "user", "content": "Speak."}], "n": 3, "temperature": 1.0, "seed": 7, "max_tokens": 16}
            """));
        var result = await chat.CompleteChatAsync(body);
        using var json = JsonDocument.Parse(result.GetRawResponse().Content);
        var choices = json.RootElement.GetProperty("choices");
        Assert.Equal(3, choices.GetArrayLength());
        CoreMessage[] speak = [new(TurnRole.User, "Speak.")];
        for (int i = 0; i < 3; i++)
        {
            Assert.Equal(i, choices[i].GetProperty("index").GetInt32());
            string expected = await TestServer.AloneAsync(_alone, speak, new SamplingParameters { Temperature = 1, Seed = 7 + (ulong)i, MaxTokens = 16 });
            Assert.Equal(expected, choices[i].GetProperty("message").GetProperty("content").GetString());
        }
        Assert.Equal(48, json.RootElement.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
    }

    [Fact]
    public async Task Logprobs_are_those_of_the_model_distribution()
    {
        var chat = _server.Chat();
        var options = new ChatCompletionOptions { Temperature = 0, MaxOutputTokenCount = 6, IncludeLogProbabilities = true, TopLogProbabilityCount = 3 };
        var completion = (await chat.CompleteChatAsync(ToOpenAi(Hello), options)).Value;
        Assert.Equal(6, completion.ContentTokenLogProbabilities.Count);
        foreach (var token in completion.ContentTokenLogProbabilities)
        {
            Assert.Equal(3, token.TopLogProbabilities.Count);
            // Greedy: the chosen token is the most likely one, and the alternatives come most likely first.
            Assert.Equal(token.TopLogProbabilities[0].LogProbability, token.LogProbability);
            Assert.True(token.LogProbability <= 0);
            Assert.True(token.TopLogProbabilities[1].LogProbability <= token.TopLogProbabilities[0].LogProbability);
        }
        Assert.Equal(completion.Content[0].Text, string.Concat(completion.ContentTokenLogProbabilities.Select(t => t.Token)));
    }

    [Fact]
    public async Task Bad_fields_are_400s_naming_the_field_and_range()
    {
        var chat = _server.Chat();
        var e = await Assert.ThrowsAsync<ClientResultException>(() => chat.CompleteChatAsync(ToOpenAi(Hello), new ChatCompletionOptions { Temperature = 3 }));
        Assert.Equal(400, e.Status);
        Assert.Contains("temperature: 3 must be in [0, 2]", e.Message);
        e = await Assert.ThrowsAsync<ClientResultException>(() => chat.CompleteChatAsync(ToOpenAi(Hello), new ChatCompletionOptions { MaxOutputTokenCount = 100000 }));
        Assert.Equal(400, e.Status);
        Assert.Contains("max_completion_tokens: 100000 must be in [1, 4096]", e.Message);
        e = await Assert.ThrowsAsync<ClientResultException>(() => chat.CompleteChatAsync([new AssistantChatMessage("first")]));
        Assert.Equal(400, e.Status);
        Assert.Contains("messages:", e.Message);
        await _server.WaitIdleAsync();
    }

    [Fact]
    public async Task Leaving_a_stream_cancels_its_sequence_at_once()
    {
        var chat = _server.Chat();
        using var leave = new CancellationTokenSource();
        long before = _server.Server.Host.Metrics.GeneratedTokens;
        int seen = 0;
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var update in chat.CompleteChatStreamingAsync(ToOpenAi(Hello), new ChatCompletionOptions { Temperature = 0, MaxOutputTokenCount = 4000 }, leave.Token))
                if (update.ContentUpdate.Count > 0 && ++seen == 3) leave.Cancel();
        });
        await _server.WaitIdleAsync();   // the slot is back long before 4000 tokens could have been generated
        long generated = _server.Server.Host.Metrics.GeneratedTokens - before;
        Assert.True(generated < 4000, $"{generated} tokens generated: the sequence ran on after the client left");
    }

    [Fact]
    public async Task Models_lists_the_served_model()
    {
        var models = await _server.Client().GetOpenAIModelClient().GetModelsAsync();
        Assert.Equal("recurrentgemma", Assert.Single(models.Value).Id);
    }
}

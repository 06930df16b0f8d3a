#pragma warning disable OPENAI001 // Seed is marked experimental in the OpenAI library
using OpenAI.Chat;
using RecurrentGemma.Core.Generation;
using RecurrentGemma.Server;
using RecurrentGemma.Tests.Support;
using Xunit;

namespace RecurrentGemma.Tests.Server;

/// <summary>Conversation-state reuse: a follow-up turn prefills only what is new, and the answers are the same as without the cache.</summary>
public sealed class StateCacheTests
{
    [Fact]
    public async Task A_conversation_reuses_its_state_and_answers_exactly_as_without_the_cache()
    {
        await using var cached = await TestServer.StartAsync();
        await using var uncached = await TestServer.StartAsync(new ServerOptions { StateCacheBytes = 0 });
        var tokenizer = cached.Server.Host.Tokenizer;
        var history = new List<OpenAI.Chat.ChatMessage> { new SystemChatMessage("Thou art a herald of the king."), new UserChatMessage("What news?") };
        var coreHistory = new List<Core.Generation.ChatTurn> { new(TurnRole.System, "Thou art a herald of the king."), new(TurnRole.User, "What news?") };
        var options = new ChatCompletionOptions { Temperature = 0.7f, Seed = 99, MaxOutputTokenCount = 20 };
        int previousPrompt = 0, previousAll = 0, wholeHits = 0;
        for (int turn = 1; turn <= 4; turn++)
        {
            var withCache = (await cached.Chat().CompleteChatAsync(history, options)).Value;
            var without = (await uncached.Chat().CompleteChatAsync(history, options)).Value;
            string answer = withCache.Content[0].Text;
            Assert.Equal(without.Content[0].Text, answer);
            Assert.Equal(0, without.Usage.InputTokenDetails.CachedTokenCount);
            int promptTokens = ChatPrompt.Encode(tokenizer, coreHistory).Ids.Length;
            Assert.Equal(promptTokens, withCache.Usage.InputTokenCount);
            if (turn > 1)
            {
                // At least the previous prompt comes from the cache; the previous answer too when it re-encodes to the ids
                // the model generated (the canonical tokenization, the usual case).
                int reused = withCache.Usage.InputTokenDetails.CachedTokenCount;
                Assert.True(reused == previousAll || reused == previousPrompt, $"turn {turn}: {reused} cached; expected {previousAll} or {previousPrompt}");
                if (reused == previousAll) wholeHits++;
            }
            previousPrompt = promptTokens;
            previousAll = promptTokens + withCache.Usage.OutputTokenCount;
            history.Add(new AssistantChatMessage(answer));
            coreHistory.Add(new(TurnRole.Model, answer));
            string next = $"And then, on day {turn}?";
            history.Add(new UserChatMessage(next));
            coreHistory.Add(new(TurnRole.User, next));
        }

        Assert.True(wholeHits >= 2, $"only {wholeHits} of 3 follow-up turns reused the previous answer's state");

        // Another conversation with the same system prompt starts from its cached prefill.
        var other = (await cached.Chat().CompleteChatAsync([new SystemChatMessage("Thou art a herald of the king."), new UserChatMessage("Who comes?")], options)).Value;
        int systemTokens = ChatPrompt.Encode(tokenizer, [new(TurnRole.System, "Thou art a herald of the king."), new(TurnRole.User, "x")]).Checkpoints[0];
        Assert.Equal(systemTokens, other.Usage.InputTokenDetails.CachedTokenCount);
        Assert.Equal((await uncached.Chat().CompleteChatAsync([new SystemChatMessage("Thou art a herald of the king."), new UserChatMessage("Who comes?")], options)).Value.Content[0].Text,
            other.Content[0].Text);
        Assert.Contains("rgemma_prompt_tokens_cached_total", await cached.Http.GetStringAsync("/metrics"));
    }

    [Fact]
    public async Task The_cache_keeps_its_budget_and_hands_out_copies()
    {
        using var generator = TextGenerator.Open(TestData.DemoModel);
        var tokenizer = generator.Tokenizer!;
        long entry = Core.State.SequenceState.BytesFor(generator.Model.Config) + 4L * generator.Model.Config.VocabSize;
        var cache = new PromptStateCache(generator, 3 * entry + 1000);
        for (int i = 0; i < 5; i++)
        {
            var session = generator.CreateSession();
            await session.AppendAsync(tokenizer.Encode($"line {i} of the play", addBos: true));
            cache.Add(session);
        }
        Assert.Equal(3, cache.Count);
        Assert.True(cache.Bytes <= 3 * entry + 1000);
        var ids = tokenizer.Encode("line 4 of the play and more", addBos: true);
        var copy = cache.Lookup(ids, out int hit);
        Assert.Equal(tokenizer.Encode("line 4 of the play", addBos: true).Length, hit);
        Assert.Equal(hit, copy.Position);
        var miss = cache.Lookup(tokenizer.Encode("line 0 of the play", addBos: true), out int none);   // evicted: least recently used
        Assert.Equal(0, none);
        Assert.Equal(0, miss.Position);
        await copy.AppendAsync(ids[hit..]);   // using the copy leaves the cached entry as it was
        Assert.Equal(hit, cache.Lookup(ids, out _).Position);
    }
}

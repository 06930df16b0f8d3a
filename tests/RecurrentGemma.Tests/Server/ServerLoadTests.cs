#pragma warning disable OPENAI001 // Seed is marked experimental in the OpenAI library
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using OpenAI.Chat;
using RecurrentGemma.Core.Generation;
using RecurrentGemma.Core.Sampling;
using RecurrentGemma.Core.Serving;
using RecurrentGemma.Server;
using RecurrentGemma.Tests.Support;
using Xunit;
using Xunit.Abstractions;
using CoreMessage = RecurrentGemma.Core.Generation.ChatTurn;

namespace RecurrentGemma.Tests.Server;

/// <summary>
/// Load on loopback, bounded in count and time: 64 concurrent streaming OpenAI clients, several requests each, some
/// leaving mid-stream. Every request that ran to its end got exactly the text it gets alone (greedy and seeded), no
/// request failed, every slot came back, and memory stayed flat once the state cache was full.
/// </summary>
[Collection(nameof(ProcessWideCounters))]
public sealed class ServerLoadTests(ITestOutputHelper output)
{
    sealed record Job(CoreMessage[] Messages, ChatCompletionOptions Options, SamplingParameters Alone);

    static List<Job> Jobs(int prompts)
    {
        var jobs = new List<Job>();
        for (int p = 0; p < prompts; p++)
        {
            CoreMessage[] messages = p % 2 == 0
                ? [new(TurnRole.User, $"Speak of the {p}th king.")]
                : [new(TurnRole.System, "Be a fool."), new(TurnRole.User, $"Jest number {p}.")];
            int max = 8 + p % 5 * 4;
            jobs.Add(new Job(messages, new ChatCompletionOptions { Temperature = 0, MaxOutputTokenCount = max }, new SamplingParameters { MaxTokens = max }));
            jobs.Add(new Job(messages, new ChatCompletionOptions { Temperature = 0.9f, TopP = 0.95f, Seed = 1000 + p, MaxOutputTokenCount = max },
                new SamplingParameters { Temperature = 0.9f, TopP = 0.95f, Seed = 1000 + (ulong)p, MaxTokens = max }));
        }
        return jobs;
    }

    sealed class Tally
    {
        public int Exact, Leaves, Tokens;
        public readonly ConcurrentBag<string> Problems = [];
    }

    static async Task RunClients(TestServer server, List<Job> jobs, string[] expected, int clients, int requestsEach, Tally tally, int seed)
    {
        var chat = server.Chat();
        await Task.WhenAll(Enumerable.Range(0, clients).Select(c => Task.Run(async () =>
        {
            var random = new Random(seed * 7919 + c);
            for (int r = 0; r < requestsEach; r++)
            {
                int j = random.Next(jobs.Count);
                bool leave = random.Next(8) == 0;   // one in eight clients walks away after a few tokens
                int leaveAfter = 1 + random.Next(3);
                var messages = jobs[j].Messages.Select(m => m.Role switch
                {
                    TurnRole.System => (OpenAI.Chat.ChatMessage)new SystemChatMessage(m.Content),
                    _ => new UserChatMessage(m.Content),
                }).ToArray();
                using var cancel = new CancellationTokenSource();
                var text = new StringBuilder();
                int updates = 0;
                try
                {
                    await foreach (var update in chat.CompleteChatStreamingAsync(messages, jobs[j].Options, cancel.Token))
                    {
                        foreach (var part in update.ContentUpdate) text.Append(part.Text);
                        if (update.ContentUpdate.Count > 0) Interlocked.Increment(ref tally.Tokens);
                        if (leave && update.ContentUpdate.Count > 0 && ++updates == leaveAfter) cancel.Cancel();
                    }
                    if (text.ToString() == expected[j]) Interlocked.Increment(ref tally.Exact);
                    else tally.Problems.Add($"job {j}: '{text}' != alone '{expected[j]}'");
                }
                catch (OperationCanceledException) when (leave)
                {
                    Interlocked.Increment(ref tally.Leaves);
                    if (!expected[j].StartsWith(text.ToString(), StringComparison.Ordinal)) tally.Problems.Add($"job {j} (left): '{text}' is not a prefix of '{expected[j]}'");
                }
                catch (Exception e)
                {
                    tally.Problems.Add($"job {j}: {e.GetType().Name}: {e.Message}");
                }
            }
        }))).WaitAsync(TimeSpan.FromMinutes(3));
    }

    async Task<string[]> Alone(TextGenerator generator, List<Job> jobs)
    {
        var expected = new string[jobs.Count];
        for (int j = 0; j < jobs.Count; j++) expected[j] = await TestServer.AloneAsync(generator, jobs[j].Messages, jobs[j].Alone);
        return expected;
    }

    [Fact]
    public async Task Demo_model_64_streaming_clients_1024_requests_exact_and_flat_memory()
    {
        var jobs = Jobs(12);
        using var alone = TextGenerator.Open(TestData.DemoModel);
        var expected = await Alone(alone, jobs);
        // A small state cache, full within the warm-up, so memory after it must not grow.
        await using var server = await TestServer.StartAsync(new ServerOptions { StateCacheBytes = 24L << 20, MaxSequences = 64 });
        var tally = new Tally();
        var clock = Stopwatch.StartNew();
        await RunClients(server, jobs, expected, 64, 4, tally, seed: 1);   // warm-up: 256 requests
        await server.WaitIdleAsync();
        long warm = ProcessMemory.Settled();
        await RunClients(server, jobs, expected, 64, 12, tally, seed: 2);   // 768 more
        await server.WaitIdleAsync();
        long after = ProcessMemory.Settled();
        clock.Stop();
        output.WriteLine($"{tally.Exact} exact, {tally.Leaves} left early, {tally.Tokens} tokens streamed in {clock.Elapsed.TotalSeconds:F1} s; "
            + $"peak batch {server.Server.Host.Generator.Scheduler.PeakBatchSequences}; managed+native after warm-up {warm >> 20} MB, after 1024 requests {after >> 20} MB");
        Assert.Empty(tally.Problems);
        Assert.Equal(1024, tally.Exact + tally.Leaves);
        Assert.True(tally.Leaves > 0);
        Assert.True(server.Server.Host.Generator.Scheduler.PeakBatchSequences > 8, "concurrent clients should have been batched together");
        Assert.True(after - warm < 48L << 20, $"memory grew by {(after - warm) >> 20} MB over 768 requests after warm-up");
        string metrics = await server.Http.GetStringAsync("/metrics");
        Assert.DoesNotContain("status=\"500\"", metrics);
    }

    [Fact]
    public async Task Small_random_model_64_streaming_clients_exact()
    {
        string dir = TestData.NewTempDirectory();
        string config = Path.Combine(dir, "config.json");
        var json = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(TestData.DemoModel, "config.json")))!;
        json["hidden_size"] = 128;
        json["lru_width"] = 128;
        json["intermediate_size"] = 384;
        json["num_hidden_layers"] = 3;
        json["head_dim"] = 32;
        File.WriteAllText(config, json.ToJsonString());
        string tokenizer = Path.Combine(TestData.DemoModel, "tokenizer.model");
        var jobs = Jobs(6);
        using var alone = TextGenerator.Open("random:" + config, tokenizer);
        Assert.Equal(128, alone.Model.Config.HiddenSize);
        var expected = await Alone(alone, jobs);
        await using var server = await TestServer.StartAsync(new ServerOptions(), scheduler => TextGenerator.Open("random:" + config, tokenizer, schedulerOptions: scheduler));
        var tally = new Tally();
        await RunClients(server, jobs, expected, 64, 3, tally, seed: 3);
        await server.WaitIdleAsync();
        Assert.Empty(tally.Problems);
        Assert.Equal(192, tally.Exact + tally.Leaves);
    }
}

using FsCheck.Xunit;
using RecurrentGemma.Core;
using RecurrentGemma.Core.Generation;
using RecurrentGemma.Core.Model;
using RecurrentGemma.Core.Sampling;
using RecurrentGemma.Core.Serving;
using RecurrentGemma.Tests.Support;
using Xunit;
using static RecurrentGemma.Tests.Support.TokenStreams;

namespace RecurrentGemma.Tests;

/// <summary>
/// Continuous batching gives every request exactly what it gets alone (same ids for the same seed), whatever arrives
/// when, whatever else is cancelled; pooled states never leak; the memory budget queues; bad requests fail alone.
/// </summary>
public class SchedulerTests
{
    static readonly Lazy<TextGenerator> Demo = new(() => TextGenerator.Open(TestData.DemoModel));
    static readonly Lazy<RecurrentGemmaModel> TinyA = new(() => RecurrentGemmaModel.Load(TestData.Golden("tiny-a")));

    static async Task<int[]> Alone(TextGenerator generator, int[] prompt, SamplingParameters p) =>
        await Ids(generator.CreateSession().GenerateAsync(prompt, p));

    static (int[] Prompt, SamplingParameters Sampling) RandomRequest(Random rng, int vocab)
    {
        var prompt = new int[1 + rng.Next(40)];
        prompt[0] = 2;
        for (int i = 1; i < prompt.Length; i++) prompt[i] = 3 + rng.Next(vocab - 3);
        var p = rng.Next(3) == 0 ? new SamplingParameters { MaxTokens = 1 + rng.Next(25) }
            : new SamplingParameters { Temperature = 0.5f + (float)rng.NextDouble(), TopK = rng.Next(2) * 30, TopP = 0.9f, Seed = (ulong)rng.Next(), MaxTokens = 1 + rng.Next(25) };
        return (prompt, p);
    }

    [Property(MaxTest = 6)]
    public async Task Batched_requests_get_exactly_what_they_get_alone(int seed, byte chunkRaw, byte budgetRaw)
    {
        var rng = new Random(seed);
        var generator = Demo.Value;
        var requests = Enumerable.Range(0, 3 + rng.Next(6)).Select(_ => RandomRequest(rng, generator.Model.Config.VocabSize)).ToArray();
        var expected = new List<int[]>();
        foreach (var (prompt, p) in requests) expected.Add(await Alone(generator, prompt, p));

        var options = new SchedulerOptions
        {
            PrefillChunk = 1 + chunkRaw % 9, MaxTokensPerStep = 4 + budgetRaw % 30,
            MemoryBudgetBytes = (1 + budgetRaw % 5) * Core.State.SequenceState.BytesFor(generator.Model.Config),
        };
        using var scheduler = new BatchScheduler(generator.Model, generator.Tokenizer, options);
        var cancelled = new CancellationTokenSource();
        var handles = new List<(RequestHandle Handle, bool Cancel)>();
        foreach (var (prompt, p) in requests)
        {
            if (rng.Next(3) == 0) await Task.Delay(rng.Next(5));   // staggered arrivals
            bool cancel = rng.Next(5) == 0;
            handles.Add((scheduler.Submit(prompt, p, cancel ? cancelled.Token : default), cancel));
        }
        cancelled.Cancel();
        for (int i = 0; i < handles.Count; i++)
        {
            int[] got = await Ids(handles[i].Handle.Tokens());
            var usage = await handles[i].Handle.Completion;
            if (handles[i].Cancel) Assert.Equal(expected[i][..got.Length], got);   // a prefix, however far it got
            else
            {
                Assert.Equal(expected[i], got);
                Assert.NotEqual(StopReason.Cancelled, usage.StopReason);
            }
        }
    }

    [Fact]
    public async Task Golden_greedy_ids_come_out_of_a_busy_scheduler()
    {
        var g = new GoldenCase("tiny-a");
        int[] prompt = g.Ids("prompt_ids"), expected = g.Ids("generated_ids");
        using var scheduler = new BatchScheduler(TinyA.Value, options: new SchedulerOptions { PrefillChunk = 2 });
        var noise = Enumerable.Range(0, 4).Select(i => scheduler.Submit([2, 5 + i, 9, 40], new SamplingParameters { Temperature = 1, Seed = (ulong)i, MaxTokens = 30 })).ToList();
        var handle = scheduler.Submit(prompt, new SamplingParameters { MaxTokens = expected.Length });
        int stop = Array.IndexOf(expected, TinyA.Value.Config.EosTokenId);
        Assert.Equal(stop >= 0 ? expected[..stop] : expected, await Ids(handle.Tokens()));
        foreach (var n in noise) await n.Completion;
    }

    [Fact]
    public async Task A_reused_state_carries_nothing_from_the_previous_request()
    {
        var generator = Demo.Value;
        int[] a = generator.RequireTokenizer().Encode("ROMEO:", true), b = generator.RequireTokenizer().Encode("JULIET:", true);
        var p = new SamplingParameters { MaxTokens = 20 };
        using var scheduler = new BatchScheduler(generator.Model, generator.Tokenizer, new SchedulerOptions { MemoryBudgetBytes = 1 });
        Assert.Equal(1, scheduler.MaxConcurrentSequences);
        await scheduler.Submit(a, p).Completion;
        Assert.Equal(await Alone(generator, b, p), await Ids(scheduler.Submit(b, p).Tokens()));
    }

    [Fact]
    public async Task Over_the_budget_a_request_waits_and_cancelling_frees_the_slot()
    {
        var generator = Demo.Value;
        using var scheduler = new BatchScheduler(generator.Model, generator.Tokenizer, new SchedulerOptions { MemoryBudgetBytes = 1 });
        using var cts = new CancellationTokenSource();
        var endless = scheduler.Submit([2, 817, 2007], new SamplingParameters { MaxTokens = 1_000_000 }, cts.Token);
        var waiting = scheduler.Submit([2, 817, 2007], new SamplingParameters { MaxTokens = 5 });
        await Task.Delay(200);
        Assert.False(waiting.Completion.IsCompleted);   // queued behind the only slot, not failed
        cts.Cancel();
        Assert.Equal(StopReason.Cancelled, (await endless.Completion).StopReason);
        var usage = await waiting.Completion.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(5, usage.GeneratedTokens);
    }

    [Fact]
    public async Task A_malformed_request_fails_alone()
    {
        var generator = Demo.Value;
        using var scheduler = new BatchScheduler(generator.Model, generator.Tokenizer);
        var good = scheduler.Submit([2, 817, 2007], new SamplingParameters { MaxTokens = 10 });
        Assert.Contains("outside the vocabulary", Assert.Throws<RecurrentGemmaException>(() => scheduler.Submit([2, 99999], SamplingParameters.Greedy)).Message);
        Assert.Throws<SamplingParameterException>(() => scheduler.Submit([2], new SamplingParameters { TopP = 0 }));
        Assert.Throws<RecurrentGemmaException>(() => scheduler.Submit([], SamplingParameters.Greedy));
        Assert.Equal(await Alone(generator, [2, 817, 2007], new SamplingParameters { MaxTokens = 10 }), await Ids(good.Tokens()));
    }
}

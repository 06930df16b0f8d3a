using FsCheck.Xunit;
using RecurrentGemma.Core;
using RecurrentGemma.Core.Generation;
using RecurrentGemma.Core.Sampling;
using RecurrentGemma.Core.Serving;
using RecurrentGemma.Tests.Support;
using Xunit;
using static RecurrentGemma.Tests.Support.TokenStreams;

namespace RecurrentGemma.Tests;

/// <summary>
/// Chaos: random concurrent callers that finish normally, break out early, cancel, throw from their progress callback,
/// use one session twice, or submit straight to the scheduler, while the generator may be disposed mid-flight. Every
/// consumer finishes within a timeout; every undisturbed request gets exactly its alone-result; no pooled state leaks;
/// nothing runs after Dispose. Bounded: a few cases of at most ten callers and 24 tokens each.
/// </summary>
public class SchedulerChaosTests
{
    static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);
    static readonly Lazy<TextGenerator> Demo = new(() => TextGenerator.Open(TestData.DemoModel));

    enum Behaviour { Normal, BreakEarly, Cancel, ThrowingCallback, UseTwice, RawHandle }

    sealed record Caller(Behaviour Behaviour, int[] Prompt, SamplingParameters Sampling, int StopAfter, int[] Expected);

    static Caller RandomCaller(Random rng)
    {
        var prompt = new int[1 + rng.Next(40)];
        prompt[0] = 2;
        for (int i = 1; i < prompt.Length; i++) prompt[i] = 3 + rng.Next(2000);
        var sampling = rng.Next(2) == 0 ? new SamplingParameters { MaxTokens = 1 + rng.Next(24) }
            : new SamplingParameters { Temperature = 0.7f + (float)rng.NextDouble(), TopK = 40, Seed = (ulong)rng.Next(), MaxTokens = 1 + rng.Next(24) };
        var expected = Ids(Demo.Value.CreateSession().GenerateAsync(prompt, sampling)).GetAwaiter().GetResult();
        return new Caller((Behaviour)rng.Next(6), prompt, sampling, 1 + rng.Next(4), expected);
    }

    /// <summary>What one caller got: the ids it saw, whether it counts as undisturbed, and whether the outcome is allowed.</summary>
    static async Task<(int[] Got, bool Undisturbed)> Play(Caller c, TextGenerator generator, Random rng)
    {
        try
        {
            switch (c.Behaviour)
            {
                case Behaviour.Normal:
                    return (await Ids(generator.CreateSession().GenerateAsync(c.Prompt, c.Sampling)), true);
                case Behaviour.BreakEarly:
                    return (await Ids(generator.CreateSession().GenerateAsync(c.Prompt, c.Sampling), c.StopAfter), false);
                case Behaviour.Cancel:
                {
                    using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(rng.Next(1, 30)));
                    return (await Ids(generator.CreateSession().GenerateAsync(c.Prompt, c.Sampling, cts.Token)), false);
                }
                case Behaviour.ThrowingCallback:
                {
                    var session = generator.CreateSession();
                    session.PrefillProgress = _ => throw new InvalidOperationException("chaos callback");
                    try { return (await Ids(session.GenerateAsync(c.Prompt, c.Sampling)), false); }
                    catch (RecurrentGemmaException e) when (e.Message.Contains("chaos callback")) { return ([], false); }
                }
                case Behaviour.UseTwice:
                {
                    var session = generator.CreateSession();
                    var first = Ids(session.GenerateAsync(c.Prompt, c.Sampling));
                    try { await Ids(session.GenerateAsync(c.Prompt, c.Sampling)); }
                    catch (InvalidOperationException e) when (e.Message.Contains("one call at a time") || e.Message.Contains("one request at a time")) { }
                    return (await first, true);
                }
                default:
                {
                    var handle = generator.Scheduler.Submit(c.Prompt, c.Sampling);
                    var got = await Ids(handle.Tokens());
                    await handle.Completion;
                    return (got, true);
                }
            }
        }
        catch (ObjectDisposedException) { return ([], false); }   // the generator was disposed before this caller got in
    }

    [Property(MaxTest = 25)]
    public void Chaos_never_hangs_leaks_or_changes_an_undisturbed_result(int seed)
    {
        var rng = new Random(seed);
        var callers = Enumerable.Range(0, 3 + rng.Next(8)).Select(_ => RandomCaller(rng)).ToArray();
        bool disposeMidFlight = rng.Next(3) == 0;
        var generator = new TextGenerator(Demo.Value.Model, Demo.Value.Tokenizer, ownsModel: false)
        {
            SchedulerOptions = new SchedulerOptions { PrefillChunk = 1 + rng.Next(16), MaxTokensPerStep = 8 + rng.Next(40) },
        };
        var scheduler = generator.Scheduler;
        var plays = callers.Select((c, i) => Task.Run(async () =>
        {
            await Task.Delay(new Random(seed + i).Next(10));
            return await Play(c, generator, new Random(seed ^ i));
        })).ToArray();
        if (disposeMidFlight)
        {
            Thread.Sleep(rng.Next(40));
            generator.Dispose();
        }
        Assert.True(Task.WaitAll(plays, Patience), "a caller did not finish in time");
        for (int i = 0; i < callers.Length; i++)
        {
            var (got, undisturbed) = plays[i].Result;
            var expected = callers[i].Expected;
            Assert.True(got.Length <= expected.Length, $"caller {i} ({callers[i].Behaviour}) got more tokens than alone");
            Assert.Equal(expected[..got.Length], got);   // whatever happened, what it saw is its alone-result so far
            if (undisturbed && !disposeMidFlight) Assert.Equal(expected, got);
        }
        generator.Dispose();
        Assert.False(scheduler.EngineRunning);
        Assert.Equal(scheduler.StatesCreated, scheduler.PooledStates);
    }
}

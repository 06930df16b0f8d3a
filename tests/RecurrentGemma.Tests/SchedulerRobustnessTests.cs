using RecurrentGemma.Core;
using RecurrentGemma.Core.Generation;
using RecurrentGemma.Core.Model;
using RecurrentGemma.Core.Sampling;
using RecurrentGemma.Core.Serving;
using RecurrentGemma.Core.Tokenizer;
using RecurrentGemma.Tests.Support;
using Xunit;
using static RecurrentGemma.Tests.Support.TokenStreams;

namespace RecurrentGemma.Tests;

/// <summary>
/// No caller can hang or break the engine: faults fail only the requests they belong to (or, unattributable, the ones in
/// flight) and the engine goes on; leaving a stream cancels its request; a session refuses a second concurrent call;
/// callbacks never run on the engine thread; Submit racing Dispose always completes every request.
/// </summary>
public class SchedulerRobustnessTests
{
    static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);
    static readonly Lazy<TextGenerator> Demo = new(() => TextGenerator.Open(TestData.DemoModel));
    static readonly int[] Prompt = [2, 817, 2007];
    static readonly SamplingParameters Ten = new() { MaxTokens = 10 };
    static readonly SamplingParameters Endless = new() { MaxTokens = 1_000_000 };

    static Task<int[]> Alone(int[] prompt, SamplingParameters p) => Ids(Demo.Value.CreateSession().GenerateAsync(prompt, p));

    static BatchScheduler NewScheduler() => new(Demo.Value.Model, Demo.Value.Tokenizer);

    [Fact]
    public async Task A_fault_while_sampling_one_request_fails_that_request_and_the_others_finish()
    {
        var expected = await Alone(Prompt, Ten);
        using var scheduler = NewScheduler();
        RequestHandle? victim = null;
        scheduler.BeforeSample = h => { if (h == victim) throw new InvalidOperationException("injected"); };
        var before = scheduler.Submit(Prompt, Ten);
        victim = scheduler.Submit(Prompt, Ten);
        var after = scheduler.Submit(Prompt, Ten);

        var error = await Assert.ThrowsAsync<EngineFaultException>(() => Ids(victim.Tokens()).WaitAsync(Patience));
        Assert.Contains("injected", error.Message);
        await Assert.ThrowsAsync<EngineFaultException>(() => victim.Completion.WaitAsync(Patience));
        Assert.Equal(expected, await Ids(before.Tokens()).WaitAsync(Patience));
        Assert.Equal(expected, await Ids(after.Tokens()).WaitAsync(Patience));
        Assert.Equal(expected, await Ids(scheduler.Submit(Prompt, Ten).Tokens()).WaitAsync(Patience));
        Assert.Equal(scheduler.StatesCreated, scheduler.PooledStates);
    }

    [Fact]
    public async Task A_fault_in_the_forward_pass_fails_the_requests_in_flight_and_the_engine_recovers()
    {
        var expected = await Alone(Prompt, Ten);
        using var scheduler = NewScheduler();
        int passes = 0;
        scheduler.BeforePass = () => { if (Interlocked.Increment(ref passes) == 3) throw new InvalidOperationException("injected pass fault"); };
        var a = scheduler.Submit(Prompt, Endless);
        var b = scheduler.Submit(Prompt, Endless);
        foreach (var h in new[] { a, b })
        {
            var e = await Assert.ThrowsAsync<EngineFaultException>(() => Ids(h.Tokens()).WaitAsync(Patience));
            Assert.Contains("injected pass fault", e.Message);
        }
        Assert.True(scheduler.EngineRunning);
        Assert.Equal(expected, await Ids(scheduler.Submit(Prompt, Ten).Tokens()).WaitAsync(Patience));
        Assert.Equal(scheduler.StatesCreated, scheduler.PooledStates);
    }

    [Fact]
    public async Task A_session_caught_in_a_pass_fault_must_be_reset_and_then_works()
    {
        using var generator = new TextGenerator(Demo.Value.Model, Demo.Value.Tokenizer, ownsModel: false);
        var session = generator.CreateSession();
        bool fail = true;
        generator.Scheduler.BeforePass = () => { if (fail) throw new InvalidOperationException("injected"); };
        await Assert.ThrowsAsync<EngineFaultException>(() => Ids(session.GenerateAsync(Prompt, Ten)).WaitAsync(Patience));
        fail = false;
        var stale = Assert.Throws<RecurrentGemmaException>(() => session.GenerateAsync(Prompt, Ten));
        Assert.Contains("Reset()", stale.Message);
        session.Reset();
        Assert.Equal(await Alone(Prompt, Ten), await Ids(session.GenerateAsync(Prompt, Ten)).WaitAsync(Patience));
    }

    [Fact]
    public async Task Breaking_out_of_GenerateAsync_cancels_the_request_and_frees_the_session()
    {
        var session = Demo.Value.CreateSession();
        int seen = 0;
        await foreach (var _ in session.GenerateAsync(Prompt, Endless).WithCancellation(default))
            if (++seen == 3) break;
        Assert.Equal(StopReason.Cancelled, session.LastUsage!.StopReason);
        Assert.InRange(session.LastUsage.GeneratedTokens, 3, 1000);   // it stopped: not a million tokens later
        // The session is free at once, and its state holds every token the engine generated.
        Assert.Equal(session.History.Count, session.Position);
        await Ids(session.GenerateAsync([5], Ten)).WaitAsync(Patience);
        Assert.NotEqual(StopReason.Cancelled, session.LastUsage!.StopReason);
        Assert.Equal(session.History.Count, session.Position);
    }

    [Fact]
    public async Task Breaking_out_of_a_handles_token_stream_cancels_the_request()
    {
        using var scheduler = NewScheduler();
        var handle = scheduler.Submit(Prompt, Endless);
        await foreach (var _ in handle.Tokens()) break;
        var usage = await handle.Completion.WaitAsync(Patience);
        Assert.Equal(StopReason.Cancelled, usage.StopReason);
        Assert.Equal(scheduler.StatesCreated, scheduler.PooledStates);
    }

    [Fact]
    public async Task A_second_call_on_a_busy_session_is_refused_at_the_call()
    {
        var session = Demo.Value.CreateSession();
        await using var first = session.GenerateAsync(Prompt, Endless).GetAsyncEnumerator();
        Assert.True(await first.MoveNextAsync());
        var e = Assert.Throws<InvalidOperationException>(() => session.GenerateAsync(Prompt, Ten));
        Assert.Contains("one call at a time", e.Message);
        Assert.Throws<InvalidOperationException>(() => session.Append([5]));
        Assert.Throws<InvalidOperationException>(() => session.Reset());
        Assert.Throws<InvalidOperationException>(() => session.Fork());
        Assert.Throws<InvalidOperationException>(() => session.SaveSnapshot());
        // Two enumerations of one call's stream: the second is refused too.
        var stream = Demo.Value.CreateSession().GenerateAsync(Prompt, Endless);
        await using var one = stream.GetAsyncEnumerator();
        Assert.True(await one.MoveNextAsync());
        await using var two = stream.GetAsyncEnumerator();
        await Assert.ThrowsAsync<InvalidOperationException>(async () => await two.MoveNextAsync());
    }

    [Fact]
    public async Task Progress_callbacks_run_off_the_engine_thread_and_a_throwing_one_fails_only_its_request()
    {
        int[] longPrompt = [2, .. Enumerable.Range(0, 300).Select(i => 3 + i % 1500)];
        var quiet = Demo.Value.CreateSession();
        var expected = await Ids(quiet.GenerateAsync(longPrompt, Ten));

        var threads = new List<string?>();
        var watched = Demo.Value.CreateSession();
        watched.PrefillProgress = _ => { lock (threads) threads.Add(Thread.CurrentThread.Name); };
        var thrower = Demo.Value.CreateSession();
        thrower.PrefillProgress = _ => throw new InvalidOperationException("callback bug");
        var slow = Demo.Value.CreateSession();
        slow.PrefillProgress = _ => Thread.Sleep(2000);   // would stall everyone if it ran on the engine thread

        var bad = Ids(thrower.GenerateAsync(longPrompt, Endless));
        var slowRun = Ids(slow.GenerateAsync(longPrompt, Ten));
        Assert.Equal(expected, await Ids(watched.GenerateAsync(longPrompt, Ten)).WaitAsync(Patience));
        var e = await Assert.ThrowsAsync<RecurrentGemmaException>(() => bad.WaitAsync(Patience));
        Assert.Contains("callback bug", e.Message);
        Assert.NotEmpty(threads);
        Assert.DoesNotContain("rgemma-scheduler", threads);
        Assert.Equal(expected, await slowRun.WaitAsync(Patience));
    }

    [Fact]
    public void A_tokenizer_of_another_vocabulary_is_refused()
    {
        var tinyA = RecurrentGemmaModel.Load(TestData.Golden("tiny-a"));
        var demoTokenizer = Demo.Value.Tokenizer!;
        Assert.NotEqual(tinyA.Config.VocabSize, demoTokenizer.VocabularySize);
        var e = Assert.Throws<TokenizerException>(() => new BatchScheduler(tinyA, demoTokenizer));
        Assert.Contains("do not belong together", e.Message);
    }

    [Fact]
    public async Task Submit_racing_Dispose_completes_every_request()
    {
        for (int round = 0; round < 20; round++)
        {
            var scheduler = NewScheduler();
            var handles = new System.Collections.Concurrent.ConcurrentBag<RequestHandle>();
            int refused = 0;
            using var start = new Barrier(4);
            var submitters = Enumerable.Range(0, 3).Select(_ => Task.Run(() =>
            {
                start.SignalAndWait();
                for (int i = 0; i < 20; i++)
                {
                    try { handles.Add(scheduler.Submit(Prompt, Ten)); }
                    catch (ObjectDisposedException) { Interlocked.Increment(ref refused); }
                }
            })).ToArray();
            start.SignalAndWait();
            Thread.SpinWait(round * 500);
            scheduler.Dispose();
            await Task.WhenAll(submitters).WaitAsync(Patience);
            Assert.False(scheduler.EngineRunning);
            Assert.Equal(60, handles.Count + refused);
            foreach (var h in handles)
            {
                await Ids(h.Tokens()).WaitAsync(Patience);
                await h.Completion.WaitAsync(Patience);
            }
            Assert.Equal(scheduler.StatesCreated, scheduler.PooledStates);
        }
    }
}

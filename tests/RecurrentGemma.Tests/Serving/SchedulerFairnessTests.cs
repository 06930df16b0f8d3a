using RecurrentGemma.Core.Generation;
using RecurrentGemma.Core.Sampling;
using RecurrentGemma.Core.Serving;
using RecurrentGemma.Tests.Support;
using Xunit;
using static RecurrentGemma.Tests.Support.TokenStreams;

namespace RecurrentGemma.Tests.Serving;

/// <summary>
/// Fairness past one step: with more decodes running than a step has rows, each decodes within ceil(decodes / rows)
/// steps of its last; a prompt arriving under full decode load is prefilled from the next step on; a long prompt does
/// not hold a short one back; and every request still gets exactly what it gets alone.
/// </summary>
public sealed class SchedulerFairnessTests
{
    static readonly Lazy<TextGenerator> Demo = new(() => TextGenerator.Open(TestData.DemoModel));

    [Fact]
    public async Task Every_sequence_progresses_every_few_steps_and_prompts_are_never_starved()
    {
        var generator = Demo.Value;
        var options = new SchedulerOptions { MaxTokensPerStep = 8, PrefillChunk = 4 };
        using var scheduler = new BatchScheduler(generator.Model, generator.Tokenizer, options);
        var steps = new List<List<(RequestHandle Handle, int Prompt)>>();
        scheduler.StepFed = fed => { lock (steps) steps.Add(fed); };
        var greedy = new SamplingParameters { MaxTokens = 40 };
        var decoders = Enumerable.Range(0, 20).Select(i => (Prompt: new[] { 2, 100 + i }, Handle: scheduler.Submit([2, 100 + i], greedy))).ToList();
        // Let them all reach decoding, then a long prompt and a short one arrive.
        await WaitForAsync(() => { lock (steps) return steps.Count >= 4; });
        var longPrompt = new[] { 2 }.Concat(Enumerable.Range(0, 300).Select(i => 50 + i % 200)).ToArray();
        var late = scheduler.Submit(longPrompt, new SamplingParameters { MaxTokens = 3 });
        var shortPrompt = new[] { 2, 7, 8, 9 };
        var brief = scheduler.Submit(shortPrompt, new SamplingParameters { MaxTokens = 3 });
        var outputs = new List<int[]>();
        foreach (var (_, handle) in decoders) outputs.Add(await Ids(handle.Tokens()));
        int[] lateIds = await Ids(late.Tokens()), briefIds = await Ids(brief.Tokens());

        // Exactly what each gets alone.
        for (int i = 0; i < decoders.Count; i++)
            Assert.Equal(await Ids(generator.CreateSession().GenerateAsync(decoders[i].Prompt, greedy)), outputs[i]);
        Assert.Equal(await Ids(generator.CreateSession().GenerateAsync(longPrompt, new SamplingParameters { MaxTokens = 3 })), lateIds);
        Assert.Equal(await Ids(generator.CreateSession().GenerateAsync(shortPrompt, new SamplingParameters { MaxTokens = 3 })), briefIds);

        List<List<(RequestHandle Handle, int Prompt)>> log;
        lock (steps) log = [.. steps];
        // Each decoder is fed at least every ceil(20 / 4) + 1 steps (4 rows for decodes while a prompt waits).
        for (int i = 0; i < decoders.Count; i++)
        {
            var handle = decoders[i].Handle;
            // Every step that fed it (its prompt, then its tokens): a sequence ready for its next row waits at most the bound.
            var at = log.Select((fed, step) => (fed, step)).Where(x => x.fed.Any(f => f.Handle == handle)).Select(x => x.step).ToList();
            int decoded = log.Count(fed => fed.Any(f => f.Handle == handle && f.Prompt == 0));
            Assert.True(decoded >= outputs[i].Length - 1, $"decoder {i} emitted {outputs[i].Length} tokens but decoded {decoded} times");
            if (at.Count < 2) continue;
            int gap = at.Zip(at.Skip(1), (a, b) => b - a).Max();
            Assert.True(gap <= 6, $"a decoder waited {gap} steps between tokens");
        }
        // The prompts are fed in every step from their arrival until they are done, and the short one is not held behind the long one.
        int lateFirst = log.FindIndex(fed => fed.Any(f => f.Handle == late && f.Prompt > 0));
        int lateLast = log.FindLastIndex(fed => fed.Any(f => f.Handle == late && f.Prompt > 0));
        for (int step = lateFirst; step <= lateLast; step++)
            Assert.True(log[step].Any(f => f.Prompt > 0), $"step {step}: no prompt rows while a prompt waited");
        int briefDone = log.FindLastIndex(fed => fed.Any(f => f.Handle == brief && f.Prompt > 0));
        Assert.True(briefDone < lateLast, "the short prompt waited for the long one to finish");
        Assert.All(log, fed => Assert.True(fed.Sum(f => Math.Max(1, f.Prompt)) <= options.MaxTokensPerStep));
    }

    [Fact]
    public async Task One_row_steps_alternate_between_decodes_and_a_waiting_prompt()
    {
        var generator = Demo.Value;
        using var scheduler = new BatchScheduler(generator.Model, generator.Tokenizer, new SchedulerOptions { MaxTokensPerStep = 1, PrefillChunk = 1 });
        var greedy = new SamplingParameters { MaxTokens = 100 };
        int decodes = 0;
        scheduler.StepFed = fed => { if (fed.Any(f => f.Prompt == 0)) Interlocked.Increment(ref decodes); };
        var running = scheduler.Submit(generator.Tokenizer!.Encode("ROMEO:", addBos: true), greedy);   // greedy repeats itself: no early <eos>
        await WaitForAsync(() => Volatile.Read(ref decodes) > 0);   // decoding now
        var prompt = scheduler.Submit([2, 6, 7, 8], new SamplingParameters { MaxTokens = 1 });
        var first = await Ids(prompt.Tokens()).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Single(first);
        Assert.False(running.Completion.IsCompleted, "the prompt was served before the running decode finished");
        Assert.Equal(100, (await running.Completion).GeneratedTokens);
    }

    static async Task WaitForAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException();
            await Task.Delay(5);
        }
    }
}

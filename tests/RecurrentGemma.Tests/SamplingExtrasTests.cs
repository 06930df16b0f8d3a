using FsCheck.Xunit;
using RecurrentGemma.Core.Sampling;
using RecurrentGemma.Core.Serving;
using Xunit;

namespace RecurrentGemma.Tests;

/// <summary>The frequency penalty and logprobs against plain reference computations; the scheduler's batch-size statistics.</summary>
public class SamplingExtrasTests
{
    /// <summary>The penalties as a plain loop: each distinct seen token once, its count for the frequency penalty.</summary>
    static float[] ReferencePenalized(float[] logits, int[] history, SamplingParameters p)
    {
        var result = (float[])logits.Clone();
        foreach (var group in history.GroupBy(id => id))
        {
            float l = result[group.Key];
            l = l > 0 ? l / p.RepetitionPenalty : l * p.RepetitionPenalty;
            result[group.Key] = l - p.PresencePenalty - (p.FrequencyPenalty != 0 ? p.FrequencyPenalty * group.Count() : 0f);
        }
        return result;
    }

    [Property(MaxTest = 60)]
    public void Greedy_with_penalties_picks_the_reference_argmax(int seed, byte vocabRaw, byte historyRaw)
    {
        var random = new Random(seed);
        int vocab = 2 + vocabRaw % 60;
        var logits = Enumerable.Range(0, vocab).Select(_ => (float)(random.NextDouble() * 8 - 4)).ToArray();
        var history = Enumerable.Range(0, historyRaw % 40).Select(_ => random.Next(Math.Min(vocab, 6))).ToArray();   // repeats likely
        var p = new SamplingParameters
        {
            RepetitionPenalty = 1 + (float)random.NextDouble(),
            PresencePenalty = (float)(random.NextDouble() * 2 - 1),
            FrequencyPenalty = (float)(random.NextDouble() * 4 - 2),
        };
        var expected = ReferencePenalized(logits, history, p);
        int chosen = new Sampler(p, vocab).Sample((float[])logits.Clone(), history);
        Assert.Equal(Array.IndexOf(expected, expected.Max()), chosen);
    }

    [Fact]
    public void Frequency_penalty_counts_repeats()
    {
        // Token 0 leads by 1.0 but was seen three times: 0.5 per occurrence puts it 0.5 behind token 1.
        var p = new SamplingParameters { FrequencyPenalty = 0.5f };
        Assert.Equal(1, new Sampler(p, 3).Sample([2f, 1f, 0f], [0, 0, 0]));
        Assert.Equal(0, new Sampler(p, 3).Sample([2f, 1f, 0f], [0]));
    }

    [Property(MaxTest = 40)]
    public void Logprobs_are_a_normalized_log_softmax_with_the_top_ones_first(int seed, byte vocabRaw, byte topRaw)
    {
        var random = new Random(seed);
        int vocab = 1 + vocabRaw % 300, top = topRaw % 8;
        var logits = Enumerable.Range(0, vocab).Select(_ => (float)(random.NextDouble() * 30 - 15)).ToArray();
        var reader = new LogprobReader(vocab, top);
        reader.Capture(logits);
        double max = logits.Max(), lse = max + Math.Log(logits.Sum(l => Math.Exp(l - max)));
        int id = random.Next(vocab);
        var result = reader.For(id);
        Assert.Equal(logits[id] - lse, result.Logprob, 1e-4);
        var expectedTop = logits.Select((l, i) => (l, i)).OrderByDescending(x => x.l).ThenBy(x => x.i).Take(Math.Min(top, vocab)).ToArray();
        Assert.Equal(expectedTop.Select(x => x.i), result.Top.Select(t => t.Id));
        foreach (var (t, (l, _)) in result.Top.Zip(expectedTop)) Assert.Equal(l - lse, t.Logprob, 1e-4);
    }

    [Fact]
    public void Batch_size_buckets_are_powers_of_two_with_the_last_open_ended()
    {
        Assert.Equal(0, SchedulerStatistics.BucketOf(1));
        Assert.Equal(1, SchedulerStatistics.BucketOf(2));
        Assert.Equal(2, SchedulerStatistics.BucketOf(3));
        Assert.Equal(2, SchedulerStatistics.BucketOf(4));
        Assert.Equal(6, SchedulerStatistics.BucketOf(64));
        Assert.Equal(7, SchedulerStatistics.BucketOf(65));
        Assert.Equal(SchedulerStatistics.BatchSizeBuckets.Count - 1, SchedulerStatistics.BucketOf(1 << 16));
    }
}

using FsCheck.Xunit;
using RecurrentGemma.Core.Sampling;
using RecurrentGemma.Kernels;
using Xunit;

namespace RecurrentGemma.Tests;

/// <summary>Each sampler stage on fixed logits: empirical distributions, the sets each cut keeps, determinism, no allocation.</summary>
public class SamplerTests
{
    static float[] RandomLogits(Random rng, int n, float scale = 3f)
    {
        var l = new float[n];
        for (int i = 0; i < n; i++) l[i] = (float)(rng.NextDouble() * 2 - 1) * scale;
        return l;
    }

    static double[] Softmax(float[] logits, float temperature)
    {
        double max = logits.Max();
        var p = logits.Select(l => Math.Exp((l - max) / temperature)).ToArray();
        double sum = p.Sum();
        return p.Select(v => v / sum).ToArray();
    }

    static int[] Counts(SamplingParameters parameters, float[] logits, int draws)
    {
        var sampler = new Sampler(parameters, logits.Length);
        var counts = new int[logits.Length];
        var scratch = new float[logits.Length];
        for (int i = 0; i < draws; i++)
        {
            logits.CopyTo(scratch, 0);
            counts[sampler.Sample(scratch, [])]++;
        }
        return counts;
    }

    [Property(MaxTest = 15)]
    public void Temperature_sampling_follows_the_softmax(byte sizeRaw, byte tempRaw, int seed)
    {
        int n = 2 + sizeRaw % 12, draws = 20000;
        float t = 0.3f + tempRaw % 20 / 10f;
        var logits = RandomLogits(new Random(seed), n);
        var expected = Softmax(logits, t);
        var counts = Counts(new SamplingParameters { Temperature = t, Seed = (ulong)seed }, logits, draws);
        for (int i = 0; i < n; i++)
            Assert.True(Math.Abs(counts[i] / (double)draws - expected[i]) < 0.02, $"token {i}: {counts[i] / (double)draws:F4} vs {expected[i]:F4}");
    }

    [Property(MaxTest = 20)]
    public void Top_k_top_p_and_min_p_keep_exactly_their_sets(byte sizeRaw, byte kRaw, byte pRaw, byte mRaw, int seed)
    {
        int n = 3 + sizeRaw % 40;
        var logits = RandomLogits(new Random(seed), n);
        var probs = Softmax(logits, 1f);
        var order = Enumerable.Range(0, n).OrderByDescending(i => logits[i]).ToArray();

        int k = 1 + kRaw % n;
        var topK = order.Take(k).ToHashSet();
        var counts = Counts(new SamplingParameters { Temperature = 1f, TopK = k, Seed = 1 }, logits, 3000);
        for (int i = 0; i < n; i++) if (!topK.Contains(i)) Assert.Equal(0, counts[i]);

        // The nucleus by sort and accumulate: the fewest most-likely tokens whose mass reaches p.
        float p = 0.05f + pRaw % 90 / 100f;
        var nucleus = new HashSet<int>();
        double mass = 0;
        foreach (int i in order) { nucleus.Add(i); mass += probs[i]; if (mass >= p - 1e-6) break; }
        counts = Counts(new SamplingParameters { Temperature = 1f, TopP = p, Seed = 2 }, logits, 3000);
        for (int i = 0; i < n; i++) if (!nucleus.Contains(i)) Assert.True(counts[i] == 0, $"token {i} outside the nucleus sampled {counts[i]} times");
        Assert.True(counts[order[0]] > 0);

        float minP = mRaw % 90 / 100f;
        counts = Counts(new SamplingParameters { Temperature = 1f, MinP = minP, Seed = 3 }, logits, 3000);
        for (int i = 0; i < n; i++) if (probs[i] < minP * probs[order[0]] * 0.999) Assert.Equal(0, counts[i]);
    }

    [Fact]
    public void Same_seed_same_tokens_other_seed_other_tokens()
    {
        var logits = RandomLogits(new Random(5), 1000, 1f);
        int[] Run(ulong seed)
        {
            var s = new Sampler(new SamplingParameters { Temperature = 1f, TopP = 0.9f, Seed = seed }, logits.Length);
            return Enumerable.Range(0, 50).Select(_ => s.Sample((float[])logits.Clone(), [])).ToArray();
        }
        Assert.Equal(Run(42), Run(42));
        Assert.NotEqual(Run(42), Run(43));
    }

    [Fact]
    public void Greedy_is_argmax_after_penalties()
    {
        float[] logits = [1f, 3f, 2.9f, -1f];
        Assert.Equal(1, new Sampler(SamplingParameters.Greedy, 4).Sample((float[])logits.Clone(), [1]));
        // Repetition penalty 1.1 divides the seen positive logit: 3 / 1.1 = 2.73 < 2.9.
        Assert.Equal(2, new Sampler(new SamplingParameters { RepetitionPenalty = 1.1f }, 4).Sample((float[])logits.Clone(), [1, 1]));
        // Presence penalty subtracts once per distinct token.
        var penalized = (float[])logits.Clone();
        new Sampler(new SamplingParameters { PresencePenalty = 0.5f }, 4).Sample(penalized, [1, 1, 3]);
        Assert.Equal([1f, 2.5f, 2.9f, -1.5f], penalized);
    }

    [Fact]
    public void Sampling_the_full_vocabulary_allocates_nothing()
    {
        var logits = RandomLogits(new Random(9), 256000, 5f);
        var sampler = new Sampler(new SamplingParameters { Temperature = 0.8f, TopK = 40, TopP = 0.95f, MinP = 0.01f, RepetitionPenalty = 1.1f, Seed = 7 }, logits.Length);
        var scratch = new float[logits.Length];
        int[] history = [1, 2, 3, 500, 255999];
        for (int i = 0; i < 60; i++)   // past tiered JIT's promotion, which can allocate on the calling thread
        {
            logits.CopyTo(scratch, 0);
            sampler.Sample(scratch, history);
            if (i == 30) Thread.Sleep(300);
        }
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 20; i++)
        {
            logits.CopyTo(scratch, 0);
            sampler.Sample(scratch, history);
        }
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Theory]
    [InlineData(-0.1f, 0, 1f, 0f, 1f, "Temperature")]
    [InlineData(1f, -1, 1f, 0f, 1f, "TopK")]
    [InlineData(1f, 0, 0f, 0f, 1f, "TopP")]
    [InlineData(1f, 0, 1.5f, 0f, 1f, "TopP")]
    [InlineData(1f, 0, 1f, 1f, 1f, "MinP")]
    [InlineData(1f, 0, 1f, 0f, 0f, "RepetitionPenalty")]
    [InlineData(float.NaN, 0, 1f, 0f, 1f, "Temperature")]
    public void Invalid_parameters_name_the_property(float t, int k, float p, float m, float rep, string property)
    {
        var e = Assert.Throws<SamplingParameterException>(() => new SamplingParameters { Temperature = t, TopK = k, TopP = p, MinP = m, RepetitionPenalty = rep }.Validate());
        Assert.Equal(property, e.Parameter);
        Assert.StartsWith(property + ":", e.Message);   // the library's own name; front ends map it to a flag or a field
    }

    [Property(MaxTest = 40)]
    public void Sum_at_least_matches_scalar(byte lengthRaw, int seed)
    {
        var x = RandomLogits(new Random(seed), lengthRaw % 70);
        float t = x.Length > 0 ? x[0] : 0f;
        double expected = x.Where(v => v >= t).Sum(v => (double)v);
        foreach (var w in Simd.Supported) Assert.True(Math.Abs(expected - Reductions.SumAtLeast(x, t, w)) <= 1e-5 * (1 + Math.Abs(expected)), $"{w}");
    }
}

using RecurrentGemma.Core.Model;

namespace RecurrentGemma.Core.Generation;

/// <summary>Mean negative log-likelihood per token and perplexity = exp(mean NLL).</summary>
public sealed record PerplexityResult(double MeanNll, int Tokens)
{
    public double Perplexity => Math.Exp(MeanNll);
}

/// <summary>
/// Scores a token sequence like llama-perplexity: feed tokens[0..n-1], and for each position add -log softmax(logits)
/// of the next token (log-sum-exp in double over the soft-capped f32 logits). The sequence goes through in chunks that
/// share one state, and a row's logits do not depend on the chunking, so neither does the result.
/// </summary>
public static class Perplexity
{
    /// <summary>Most tokens per forward pass: chunk x vocabulary logits are held at once (1024 x 256000 floats = 1 GB).</summary>
    public const int MaxChunk = 1024;

    public static PerplexityResult Evaluate(RecurrentGemmaModel model, ReadOnlySpan<int> tokens, int chunk = 64, CancellationToken cancellation = default)
    {
        if (tokens.Length < 2) throw new RecurrentGemmaException($"perplexity needs at least 2 tokens (got {tokens.Length}): one to condition on and one to score");
        if (chunk is < 1 or > MaxChunk) throw new RecurrentGemmaException($"{nameof(chunk)} = {chunk} must be in [1, {MaxChunk}]");
        int vocab = model.Config.VocabSize, scored = tokens.Length - 1;
        var pass = model.CreateForwardPass(Math.Min(chunk, 256));
        var state = model.CreateState();
        var all = tokens.ToArray();
        var logits = new float[(long)Math.Min(chunk, scored) * vocab];
        double total = 0;
        for (int start = 0; start < scored; start += chunk)
        {
            cancellation.ThrowIfCancellationRequested();
            int n = Math.Min(chunk, scored - start);
            pass.Run([new BatchEntry(state, all.AsMemory(start, n), AllLogits: true)], logits);
            for (int i = 0; i < n; i++)
                total += NegativeLogLikelihood(logits.AsSpan(i * vocab, vocab), all[start + i + 1]);
        }
        return new PerplexityResult(total / scored, scored);
    }

    static double NegativeLogLikelihood(ReadOnlySpan<float> logits, int target)
    {
        double max = double.NegativeInfinity;
        foreach (float l in logits) max = Math.Max(max, l);
        double sum = 0;
        foreach (float l in logits) sum += Math.Exp(l - max);
        return max + Math.Log(sum) - logits[target];
    }
}

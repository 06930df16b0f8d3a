using RecurrentGemma.Core.Model;

namespace RecurrentGemma.Core.Generation;

/// <summary>How far one model's next-token distributions are from a reference's over the same tokens.</summary>
/// <param name="MeanKl">Mean KL(reference || test) in nats per position.</param>
/// <param name="Top1Agreement">Fraction of positions where both put their highest logit on the same token.</param>
public sealed record DistributionComparisonResult(double MeanKl, double Top1Agreement, int Positions);

/// <summary>
/// Compares two models of one config (e.g. bf16 against q8 weights) position by position: both read tokens[0..n-1]
/// in the same chunks and the softmax of each row is compared in double precision (llama.cpp's KL-divergence check).
/// </summary>
public static class DistributionComparison
{
    public static DistributionComparisonResult Evaluate(RecurrentGemmaModel reference, RecurrentGemmaModel test, ReadOnlySpan<int> tokens, int chunk = 64,
        CancellationToken cancellation = default)
    {
        if (reference.Config.VocabSize != test.Config.VocabSize)
            throw new RecurrentGemmaException($"the models' vocabularies differ ({reference.Config.VocabSize} and {test.Config.VocabSize}): compare two formats of one model");
        if (tokens.Length < 1) throw new RecurrentGemmaException("the comparison needs at least 1 token");
        if (chunk is < 1 or > Perplexity.MaxChunk) throw new RecurrentGemmaException($"{nameof(chunk)} = {chunk} must be in [1, {Perplexity.MaxChunk}]");
        int vocab = reference.Config.VocabSize, n = tokens.Length;
        var all = tokens.ToArray();
        var (refPass, testPass) = (reference.CreateForwardPass(Math.Min(chunk, 256)), test.CreateForwardPass(Math.Min(chunk, 256)));
        var (refState, testState) = (reference.CreateState(), test.CreateState());
        var refLogits = new float[(long)Math.Min(chunk, n) * vocab];
        var testLogits = new float[refLogits.Length];
        double kl = 0;
        int agree = 0;
        for (int start = 0; start < n; start += chunk)
        {
            cancellation.ThrowIfCancellationRequested();
            int rows = Math.Min(chunk, n - start);
            refPass.Run([new BatchEntry(refState, all.AsMemory(start, rows), AllLogits: true)], refLogits);
            testPass.Run([new BatchEntry(testState, all.AsMemory(start, rows), AllLogits: true)], testLogits);
            for (int i = 0; i < rows; i++)
            {
                var p = refLogits.AsSpan(i * vocab, vocab);
                var q = testLogits.AsSpan(i * vocab, vocab);
                kl += Kl(p, q);
                if (Kernels.Reductions.ArgMax(p) == Kernels.Reductions.ArgMax(q)) agree++;
            }
        }
        return new DistributionComparisonResult(kl / n, (double)agree / n, n);
    }

    /// <summary>KL(softmax(p) || softmax(q)) = sum p_i (log p_i - log q_i), with both log-softmaxes in double.</summary>
    static double Kl(ReadOnlySpan<float> p, ReadOnlySpan<float> q)
    {
        double lp = LogSumExp(p), lq = LogSumExp(q), kl = 0;
        for (int i = 0; i < p.Length; i++)
        {
            double logP = p[i] - lp;
            kl += Math.Exp(logP) * (logP - (q[i] - lq));
        }
        return Math.Max(kl, 0);
    }

    static double LogSumExp(ReadOnlySpan<float> x)
    {
        double max = double.NegativeInfinity;
        foreach (float v in x) max = Math.Max(max, v);
        double sum = 0;
        foreach (float v in x) sum += Math.Exp(v - max);
        return max + Math.Log(sum);
    }
}

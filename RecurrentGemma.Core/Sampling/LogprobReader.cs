using System.Numerics.Tensors;

namespace RecurrentGemma.Core.Sampling;

/// <summary>
/// Log-probabilities of the model's next-token distribution, read from the raw logits before sampling changes them:
/// ln p(i) = logit(i) - logsumexp(logits). Only built when a request asks for logprobs (it allocates per token).
/// </summary>
internal sealed class LogprobReader(int vocabularySize, int top)
{
    readonly float[] _logits = new float[vocabularySize];
    float _logSumExp;

    public void Capture(ReadOnlySpan<float> logits)
    {
        logits.CopyTo(_logits);
        float max = TensorPrimitives.Max(logits);
        double sum = 0;
        foreach (float l in logits) sum += Math.Exp(l - max);   // double: 256000 terms, the order fixed
        _logSumExp = max + (float)Math.Log(sum);
    }

    public TokenLogprobs For(int id)
    {
        var best = new TokenLogprob[Math.Min(top, _logits.Length)];
        int count = 0;
        // Insertion into a short sorted list: top is at most MaxTopLogprobs, and most logits fail the first compare.
        for (int i = 0; i < _logits.Length && best.Length > 0; i++)
        {
            float l = _logits[i];
            if (count == best.Length && !(l > best[^1].Logprob)) continue;
            int at = count < best.Length ? count++ : best.Length - 1;
            while (at > 0 && best[at - 1].Logprob < l) { best[at] = best[at - 1]; at--; }
            best[at] = new TokenLogprob(i, l);
        }
        for (int i = 0; i < best.Length; i++) best[i] = best[i] with { Logprob = best[i].Logprob - _logSumExp };
        return new TokenLogprobs(_logits[id] - _logSumExp, best);
    }
}

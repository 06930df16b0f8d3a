using System.Numerics.Tensors;
using RecurrentGemma.Kernels;
using RecurrentGemma.Kernels.Operators;

namespace RecurrentGemma.Core.Sampling;

/// <summary>
/// Picks next tokens for one sequence. Works in place on the logits over the whole vocabulary with vectorized passes
/// (scale, softmax, cuts at a threshold, masked sums) and buffers sized once, so it allocates nothing per token.
/// Top-k finds the k-th largest logit with a small heap; top-p finds its probability cut by bisecting on the float's
/// bits with a masked sum (exact, no sort of 256000 values). Deterministic for a seed. Not thread-safe.
/// </summary>
public sealed class Sampler
{
    readonly SamplingParameters _p;
    readonly float[] _probs;
    readonly int[] _seen, _count;
    readonly float[] _heap;
    int _stamp;
    ulong _rng;

    public Sampler(SamplingParameters parameters, int vocabularySize)
    {
        _p = parameters.Validate();
        _probs = new float[vocabularySize];
        _seen = new int[vocabularySize];
        _count = parameters.FrequencyPenalty != 0 ? new int[vocabularySize] : [];
        _heap = new float[Math.Max(1, Math.Min(parameters.TopK, vocabularySize))];
        _rng = parameters.Seed ^ SplitMix64.Golden;
    }

    public SamplingParameters Parameters => _p;

    /// <summary>The most likely token: the first index of the largest logit (numpy's rule, which golden greedy ids follow).</summary>
    public static int Greedy(ReadOnlySpan<float> logits) => Reductions.ArgMax(logits);

    /// <summary>The next token. <paramref name="logits"/> is modified; <paramref name="history"/> feeds the penalties.</summary>
    public int Sample(Span<float> logits, ReadOnlySpan<int> history)
    {
        if (logits.Length != _probs.Length) throw new ArgumentException($"logits have {logits.Length} entries, the vocabulary {_probs.Length}", nameof(logits));
        ApplyPenalties(logits, history);
        if (_p.Temperature == 0) return Reductions.ArgMax(logits);

        if (_p.TopK > 0 && _p.TopK < logits.Length)
            Elementwise.Map(new KeepAtLeastOperator(KthLargest(logits, _p.TopK), float.NegativeInfinity), logits, logits);
        var probs = _probs.AsSpan();
        TensorPrimitives.Multiply(logits, 1f / _p.Temperature, probs);
        Softmax.InPlace(probs, Simd.Best);
        if (_p.TopP < 1f) Cut(probs, TopPThreshold(probs, _p.TopP));
        if (_p.MinP > 0f) Cut(probs, _p.MinP * Reductions.Max(probs));
        return Draw(probs);
    }

    void ApplyPenalties(Span<float> logits, ReadOnlySpan<int> history)
    {
        if (_p.RepetitionPenalty == 1f && _p.PresencePenalty == 0f && _p.FrequencyPenalty == 0f) return;
        if (++_stamp == int.MaxValue) { Array.Clear(_seen); _stamp = 1; }
        bool counting = _p.FrequencyPenalty != 0f;
        if (counting)
            foreach (int id in history)
            {
                if ((uint)id >= (uint)logits.Length) continue;
                if (_seen[id] != _stamp) { _seen[id] = _stamp; _count[id] = 0; }
                _count[id]++;
            }
        int applied = counting ? -_stamp : _stamp;   // a second mark, so each distinct token is penalized once
        foreach (int id in history)
        {
            if ((uint)id >= (uint)logits.Length || _seen[id] == applied) continue;
            _seen[id] = applied;
            float l = logits[id];
            l = l > 0 ? l / _p.RepetitionPenalty : l * _p.RepetitionPenalty;
            logits[id] = l - _p.PresencePenalty - (counting ? _p.FrequencyPenalty * _count[id] : 0f);
        }
    }

    /// <summary>The k-th largest value: a min-heap of the k largest seen so far (most values fail the first compare).</summary>
    float KthLargest(ReadOnlySpan<float> x, int k)
    {
        var heap = _heap.AsSpan(0, k);
        for (int i = 0; i < k; i++) { heap[i] = x[i]; SiftUp(heap, i); }
        for (int i = k; i < x.Length; i++)
        {
            if (!(x[i] > heap[0])) continue;
            heap[0] = x[i];
            SiftDown(heap);
        }
        return heap[0];
    }

    static void SiftUp(Span<float> h, int i)
    {
        while (i > 0 && h[(i - 1) / 2] > h[i]) { (h[i], h[(i - 1) / 2]) = (h[(i - 1) / 2], h[i]); i = (i - 1) / 2; }
    }

    static void SiftDown(Span<float> h)
    {
        int i = 0;
        while (true)
        {
            int l = 2 * i + 1, r = l + 1, m = i;
            if (l < h.Length && h[l] < h[m]) m = l;
            if (r < h.Length && h[r] < h[m]) m = r;
            if (m == i) return;
            (h[i], h[m]) = (h[m], h[i]);
            i = m;
        }
    }

    /// <summary>
    /// The largest probability t such that the tokens with p >= t hold at least topP of the mass: exactly the set a
    /// sort-and-accumulate nucleus keeps (ties at the cut are all kept). Positive floats order like their bits, so this
    /// bisects on the bits: ~31 vectorized masked sums.
    /// </summary>
    static float TopPThreshold(ReadOnlySpan<float> probs, float topP)
    {
        float total = Reductions.Sum(probs, Simd.Best), target = topP * total;
        int lo = 0, hi = BitConverter.SingleToInt32Bits(Reductions.Max(probs));   // S(lo) >= target always
        while (lo < hi)
        {
            int mid = lo + (hi - lo + 1) / 2;
            if (Reductions.SumAtLeast(probs, BitConverter.Int32BitsToSingle(mid), Simd.Best) >= target) lo = mid;
            else hi = mid - 1;
        }
        return BitConverter.Int32BitsToSingle(lo);
    }

    static void Cut(Span<float> probs, float threshold) => Elementwise.Map(new KeepAtLeastOperator(threshold, 0f), probs, probs);

    int Draw(ReadOnlySpan<float> probs)
    {
        float total = Reductions.Sum(probs, Simd.Best);
        double r = NextDouble() * total, acc = 0;
        int last = 0;
        for (int i = 0; i < probs.Length; i++)
        {
            if (probs[i] <= 0) continue;
            acc += probs[i];
            last = i;
            if (r < acc) return i;
        }
        return last;   // rounding: r landed past the accumulated total
    }

    double NextDouble() => (SplitMix64.Mix(_rng += SplitMix64.Golden) >> 11) * (1.0 / (1UL << 53));
}

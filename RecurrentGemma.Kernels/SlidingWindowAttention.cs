namespace RecurrentGemma.Kernels;

/// <summary>
/// Local multi-query attention: every head shares one K/V row per position. The query at position t sees keys
/// t - window .. t (window + 1 keys, as in the reference implementation). Keys before the chunk come from a ring
/// buffer of <c>window</c> slots (slot = position mod window); keys inside it come from the chunk itself, so one
/// routine serves prefill (many rows) and decode (one row).
/// </summary>
public static class SlidingWindowAttention
{
    /// <summary>Scratch floats <see cref="Forward"/> needs for its scores.</summary>
    public static int ScoresLength(int heads, int window) => heads * (window + 1);

    public static void Forward(ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v, ReadOnlySpan<float> ringK, ReadOnlySpan<float> ringV,
        int rows, int startPos, int window, int heads, int headDim, Span<float> scores, Span<float> output) =>
        Forward(q, k, v, ringK, ringV, rows, startPos, window, heads, headDim, scores, output, Simd.Best);

    public static void Forward(ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v, ReadOnlySpan<float> ringK, ReadOnlySpan<float> ringV,
        int rows, int startPos, int window, int heads, int headDim, Span<float> scores, Span<float> output, SimdWidth width)
    {
        int qWidth = heads * headDim, stride = window + 1;
        if (window <= 0 || startPos < 0) throw new ArgumentException("window must be positive and startPos non-negative");
        if (q.Length < rows * qWidth || output.Length < rows * qWidth) throw new ArgumentException($"q and output need {rows}x{qWidth}");
        if (k.Length < rows * headDim || v.Length < rows * headDim) throw new ArgumentException($"k and v need {rows}x{headDim}");
        if (ringK.Length != window * headDim || ringV.Length != window * headDim) throw new ArgumentException($"ring buffers need {window}x{headDim}");
        if (scores.Length < heads * stride) throw new ArgumentException($"scores need {heads * stride}", nameof(scores));
        float scale = 1f / MathF.Sqrt(headDim);
        for (int i = 0; i < rows; i++)
        {
            int t = startPos + i, first = Math.Max(0, t - window), keys = t - first + 1;
            var qRow = q.Slice(i * qWidth, qWidth);
            for (int j = 0; j < keys; j++)
            {
                var kRow = KeyRow(k, ringK, first + j, startPos, window, headDim);
                for (int h = 0; h < heads; h++)
                    scores[h * stride + j] = Reductions.Dot(qRow.Slice(h * headDim, headDim), kRow, width) * scale;
            }
            for (int h = 0; h < heads; h++) Softmax.InPlace(scores.Slice(h * stride, keys), width);
            var outRow = output.Slice(i * qWidth, qWidth);
            outRow.Clear();
            for (int j = 0; j < keys; j++)
            {
                var vRow = KeyRow(v, ringV, first + j, startPos, window, headDim);
                for (int h = 0; h < heads; h++)
                    Reductions.Axpy(scores[h * stride + j], vRow, outRow.Slice(h * headDim, headDim), width);
            }
        }
    }

    static ReadOnlySpan<float> KeyRow(ReadOnlySpan<float> chunk, ReadOnlySpan<float> ring, int position, int startPos, int window, int headDim) =>
        position >= startPos
            ? chunk.Slice((position - startPos) * headDim, headDim)
            : ring.Slice(position % window * headDim, headDim);

    /// <summary>Writes the chunk's last (up to window) K/V rows into the ring at slot position mod window. Call after <see cref="Forward"/>.</summary>
    public static void AppendToRing(ReadOnlySpan<float> k, ReadOnlySpan<float> v, int rows, int startPos, int window, int headDim, Span<float> ringK, Span<float> ringV)
    {
        for (int i = Math.Max(0, rows - window); i < rows; i++)
        {
            int slot = (startPos + i) % window;
            k.Slice(i * headDim, headDim).CopyTo(ringK.Slice(slot * headDim, headDim));
            v.Slice(i * headDim, headDim).CopyTo(ringV.Slice(slot * headDim, headDim));
        }
    }
}

using RecurrentGemma.Kernels.Parallel;

namespace RecurrentGemma.Kernels;

/// <summary>
/// Local multi-query attention: every head shares one K/V row per position. The query at position t sees keys
/// t - window .. t (window + 1 keys, as in the reference implementation). Keys before the chunk come from a ring
/// buffer of <c>window</c> slots (slot = position mod window); keys inside it come from the chunk itself, so one
/// routine serves prefill (many rows) and decode (one row).
/// </summary>
public static class SlidingWindowAttention
{
    public static void Forward(ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v, ReadOnlySpan<float> ringK, ReadOnlySpan<float> ringV,
        int rows, int startPos, int window, int heads, int headDim, Span<float> output, WorkerPool? pool = null) =>
        Forward(q, k, v, ringK, ringV, rows, startPos, window, heads, headDim, output, pool, Simd.Best);

    /// <summary>
    /// Work items are (query row, group of heads), spread over the pool: many rows (prefill) give one item per row with
    /// all heads, so each K/V row is loaded once for all heads; a single row (decode) splits its heads across threads.
    /// A head's arithmetic is the same either way, so results never depend on the split.
    /// </summary>
    public static unsafe void Forward(ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v, ReadOnlySpan<float> ringK, ReadOnlySpan<float> ringV,
        int rows, int startPos, int window, int heads, int headDim, Span<float> output, WorkerPool? pool, SimdWidth width)
    {
        int qWidth = heads * headDim;
        if (window <= 0 || startPos < 0) throw new ArgumentException("window must be positive and startPos non-negative");
        if (q.Length < rows * qWidth || output.Length < rows * qWidth) throw new ArgumentException($"q and output need {rows}x{qWidth}");
        if (k.Length < rows * headDim || v.Length < rows * headDim) throw new ArgumentException($"k and v need {rows}x{headDim}");
        if (ringK.Length != window * headDim || ringV.Length != window * headDim) throw new ArgumentException($"ring buffers need {window}x{headDim}");
        if (rows <= 0) return;
        int threads = pool?.Threads ?? 1;
        int groups = rows >= 2 * threads ? 1 : Math.Min(heads, threads);
        var job = t_job ??= new Job();
        fixed (float* qp = q, kp = k, vp = v, rkp = ringK, rvp = ringV, op = output)
        {
            job.Set(qp, kp, vp, rkp, rvp, op, rows, startPos, window, heads, headDim, (heads + groups - 1) / groups, width);
            int items = rows * groups;
            if (pool is null) for (int i = 0; i < items; i++) job.Execute(i);
            else pool.Run(job, items);
        }
    }

    [ThreadStatic] static Job? t_job;

    sealed unsafe class Job : IParallelWork
    {
        [ThreadStatic] static float[]? t_scores;
        float* _q, _k, _v, _ringK, _ringV, _out;
        int _rows, _startPos, _window, _heads, _headDim, _headsPerItem;
        SimdWidth _width;

        public void Set(float* q, float* k, float* v, float* ringK, float* ringV, float* output,
            int rows, int startPos, int window, int heads, int headDim, int headsPerItem, SimdWidth width)
        {
            _q = q; _k = k; _v = v; _ringK = ringK; _ringV = ringV; _out = output;
            (_rows, _startPos, _window, _heads, _headDim, _headsPerItem, _width) = (rows, startPos, window, heads, headDim, headsPerItem, width);
        }

        public void Execute(int item)
        {
            int groups = (_heads + _headsPerItem - 1) / _headsPerItem;
            int i = item / groups, h0 = item % groups * _headsPerItem, h1 = Math.Min(_heads, h0 + _headsPerItem);
            int stride = _window + 1, qWidth = _heads * _headDim, t = _startPos + i;
            int first = Math.Max(0, t - _window), keys = t - first + 1;
            var scores = t_scores is { } s && s.Length >= _heads * stride ? s : t_scores = new float[_heads * stride];
            var q = new ReadOnlySpan<float>(_q + (long)i * qWidth, qWidth);
            var chunkK = new ReadOnlySpan<float>(_k, _rows * _headDim);
            var chunkV = new ReadOnlySpan<float>(_v, _rows * _headDim);
            var ringK = new ReadOnlySpan<float>(_ringK, _window * _headDim);
            var ringV = new ReadOnlySpan<float>(_ringV, _window * _headDim);
            float scale = 1f / MathF.Sqrt(_headDim);
            for (int j = 0; j < keys; j++)
            {
                var kRow = KeyRow(chunkK, ringK, first + j, _startPos, _window, _headDim);
                for (int h = h0; h < h1; h++)
                    scores[h * stride + j] = Reductions.Dot(q.Slice(h * _headDim, _headDim), kRow, _width) * scale;
            }
            for (int h = h0; h < h1; h++) Softmax.InPlace(scores.AsSpan(h * stride, keys), _width);
            var outRow = new Span<float>(_out + (long)i * qWidth + h0 * _headDim, (h1 - h0) * _headDim);
            outRow.Clear();
            for (int j = 0; j < keys; j++)
            {
                var vRow = KeyRow(chunkV, ringV, first + j, _startPos, _window, _headDim);
                for (int h = h0; h < h1; h++)
                    Reductions.Axpy(scores[h * stride + j], vRow, outRow.Slice((h - h0) * _headDim, _headDim), _width);
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

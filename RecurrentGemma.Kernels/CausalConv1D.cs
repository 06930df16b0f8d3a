using System.Numerics.Tensors;
using RecurrentGemma.Kernels.Parallel;

namespace RecurrentGemma.Kernels;

/// <summary>
/// Causal depthwise temporal convolution with carried state, vectorized over channels:
/// y[t, c] = bias[c] + sum_k weight[k, c] * x[t - (K-1) + k, c], where rows before t = 0 come from <c>state</c>
/// (the previous K-1 input rows, oldest first; zeros at a segment start). Afterwards <c>state</c> holds the last K-1 rows.
/// </summary>
public static class CausalConv1D
{
    public static void Apply(ReadOnlySpan<float> x, int rows, Span<float> state, ReadOnlySpan<float> weight, ReadOnlySpan<float> bias, Span<float> y) =>
        Apply(x, rows, state, weight, bias, y, Simd.Best);

    /// <param name="weight">tap-major [K, C]: weight[K-1] multiplies the current row.</param>
    public static void Apply(ReadOnlySpan<float> x, int rows, Span<float> state, ReadOnlySpan<float> weight, ReadOnlySpan<float> bias, Span<float> y, SimdWidth width)
    {
        int c = bias.Length;
        if (c == 0 || weight.Length % c != 0) throw new ArgumentException($"weight length {weight.Length} is not taps x {c} channels", nameof(weight));
        int taps = weight.Length / c, history = taps - 1;
        if (state.Length != history * c) throw new ArgumentException($"state must hold {history}x{c}", nameof(state));
        if (x.Length < rows * c || y.Length < rows * c) throw new ArgumentException($"need {rows}x{c} elements");
        for (int t = 0; t < rows; t++)
        {
            var yRow = y.Slice(t * c, c);
            bias.CopyTo(yRow);
            for (int k = 0; k < taps; k++)
            {
                int src = t - history + k;
                ReadOnlySpan<float> input = src >= 0 ? x.Slice(src * c, c) : state.Slice((history + src) * c, c);
                TensorPrimitives.FusedMultiplyAdd(weight.Slice(k * c, c), input, yRow, yRow);   // exact per element: no width to choose
            }
        }
        if (history == 0 || rows == 0) return;
        if (rows >= history)
        {
            x.Slice((rows - history) * c, history * c).CopyTo(state);
        }
        else
        {
            state.Slice(rows * c).CopyTo(state);                                   // keep the newest history-rows old rows
            x.Slice(0, rows * c).CopyTo(state.Slice((history - rows) * c));
        }
    }

    /// <summary>
    /// The conv of every sequence of a step in one parallel job, one item per sequence (its rows, its own history in
    /// <see cref="ConvChunk.State"/>); each runs exactly as <see cref="Apply(ReadOnlySpan{float}, int, Span{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, Span{float})"/>.
    /// </summary>
    public static unsafe void ApplyBatch(ReadOnlySpan<float> x, ReadOnlyMemory<ConvChunk> chunks, ReadOnlySpan<float> weight, ReadOnlySpan<float> bias,
        Span<float> y, WorkerPool? pool)
    {
        int c = bias.Length, rows = 0;
        foreach (ref readonly var chunk in chunks.Span)
        {
            if (chunk.Rows < 0 || chunk.RowStart != rows || chunk.State is null)
                throw new ArgumentException($"chunk at row {chunk.RowStart}: chunks must follow each other from row 0 and have a state");
            rows += chunk.Rows;
        }
        if (x.Length < (long)rows * c || y.Length < (long)rows * c) throw new ArgumentException($"need {rows}x{c} elements");
        if (pool is null || chunks.Length < 2)
        {
            foreach (ref readonly var chunk in chunks.Span)
                Apply(x.Slice(chunk.RowStart * c, chunk.Rows * c), chunk.Rows, chunk.State, weight, bias, y.Slice(chunk.RowStart * c, chunk.Rows * c));
            return;
        }
        var job = t_job ??= new Job();
        fixed (float* xp = x, wp = weight, bp = bias, yp = y)
        {
            job.X = xp; job.Weight = wp; job.Bias = bp; job.Y = yp;
            (job.Chunks, job.Channels, job.Taps) = (chunks, c, weight.Length / Math.Max(1, c));
            pool.Run(job, chunks.Length);
            job.Chunks = default;
        }
    }

    [ThreadStatic] static Job? t_job;

    sealed unsafe class Job : IParallelWork
    {
        public float* X, Weight, Bias, Y;
        public ReadOnlyMemory<ConvChunk> Chunks;
        public int Channels, Taps;

        public void Execute(int index)
        {
            ref readonly var chunk = ref Chunks.Span[index];
            long at = (long)chunk.RowStart * Channels, n = (long)chunk.Rows * Channels;
            Apply(new ReadOnlySpan<float>(X + at, (int)n), chunk.Rows, chunk.State, new ReadOnlySpan<float>(Weight, Taps * Channels),
                new ReadOnlySpan<float>(Bias, Channels), new Span<float>(Y + at, (int)n));
        }
    }
}

/// <summary>One sequence's rows in a step for <see cref="CausalConv1D.ApplyBatch"/>, with its conv history.</summary>
public readonly record struct ConvChunk(int RowStart, int Rows, float[] State);

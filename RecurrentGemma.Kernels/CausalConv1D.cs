using System.Numerics.Tensors;

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
}

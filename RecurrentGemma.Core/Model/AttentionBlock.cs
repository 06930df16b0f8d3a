using RecurrentGemma.Core.State;
using RecurrentGemma.Kernels;
using RecurrentGemma.Kernels.MatMul;
using RecurrentGemma.Kernels.Parallel;

namespace RecurrentGemma.Core.Model;

/// <summary>
/// Local MQA: q/k/v projections over all rows of the pass, partial RoPE at each token's position, sliding-window
/// attention per sequence against its ring buffer, then o_proj (+bias).
/// </summary>
internal static class AttentionBlock
{
    public static void Forward(int layer, AttentionWeights w, int window, ReadOnlySpan<float> u, ReadOnlySpan<PassPiece> pieces, ReadOnlySpan<BatchEntry> batch,
        int rows, ForwardBuffers buf, WorkerPool? pool, Span<float> output)
    {
        int qWidth = w.Output.InDim, headDim = (w.QueryKeyValue.OutDim - qWidth) / 2, heads = qWidth / headDim, fused = qWidth + 2 * headDim;
        var q = buf.A.AsSpan(0, rows * qWidth);
        var k = buf.B.AsSpan(0, rows * headDim);
        var v = buf.C.AsSpan(0, rows * headDim);
        var attended = buf.D.AsSpan(0, rows * qWidth);

        var profile = buf.Profile;
        long t = profile.Start();
        var qkv = buf.Fused.AsSpan(0, rows * fused);
        MatMulBf16.Multiply(u, rows, w.QueryKeyValue, default, qkv, pool);
        t = profile.Lap(StepPhase.Matmul, t);
        for (int r = 0; r < rows; r++)
        {
            var row = qkv.Slice(r * fused, fused);
            row[..qWidth].CopyTo(q.Slice(r * qWidth, qWidth));
            row.Slice(qWidth, headDim).CopyTo(k.Slice(r * headDim, headDim));
            row.Slice(qWidth + headDim, headDim).CopyTo(v.Slice(r * headDim, headDim));
        }

        foreach (ref readonly var p in pieces)
        {
            SequenceState s = batch[p.Entry].State;
            for (int i = 0; i < p.Rows; i++)
            {
                int row = p.RowStart + i;
                Rope.Angles(s.Position + i, buf.InverseFrequencies, buf.Cos, buf.Sin);
                Rope.Apply(q.Slice(row * qWidth, qWidth), heads, headDim, buf.Cos, buf.Sin);
                Rope.Apply(k.Slice(row * headDim, headDim), 1, headDim, buf.Cos, buf.Sin);
            }
            t = profile.Lap(StepPhase.Elementwise, t);
            var qs = q.Slice(p.RowStart * qWidth, p.Rows * qWidth);
            var ks = k.Slice(p.RowStart * headDim, p.Rows * headDim);
            var vs = v.Slice(p.RowStart * headDim, p.Rows * headDim);
            float[] ringK = s.RingKeys[layer]!, ringV = s.RingValues[layer]!;
            SlidingWindowAttention.Forward(qs, ks, vs, ringK, ringV, p.Rows, s.Position, window, heads, headDim,
                attended.Slice(p.RowStart * qWidth, p.Rows * qWidth), pool);
            SlidingWindowAttention.AppendToRing(ks, vs, p.Rows, s.Position, window, headDim, ringK, ringV);
            t = profile.Lap(StepPhase.Attention, t);
        }

        MatMulBf16.Multiply(attended, rows, w.Output, w.OutputBias, output, pool);
        profile.Lap(StepPhase.Matmul, t);
    }
}

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
        w.QueryKeyValue.Multiply(u, rows, default, qkv, pool);
        t = profile.Lap(StepPhase.Matmul, t);
        for (int r = 0; r < rows; r++)
        {
            var row = qkv.Slice(r * fused, fused);
            row[..qWidth].CopyTo(q.Slice(r * qWidth, qWidth));
            row.Slice(qWidth, headDim).CopyTo(k.Slice(r * headDim, headDim));
            row.Slice(qWidth + headDim, headDim).CopyTo(v.Slice(r * headDim, headDim));
        }

        if (buf.Chunks.Length < pieces.Length) buf.Chunks = new AttentionChunk[Math.Max(pieces.Length, 2 * buf.Chunks.Length)];
        var positions = buf.Positions.AsSpan(0, rows);
        for (int c = 0; c < pieces.Length; c++)
        {
            ref readonly var p = ref pieces[c];
            SequenceState s = batch[p.Entry].State;
            for (int i = 0; i < p.Rows; i++) positions[p.RowStart + i] = s.Position + i;
            buf.Chunks[c] = new AttentionChunk(p.RowStart, p.Rows, s.Position, s.RingKeys[layer]!, s.RingValues[layer]!);
        }
        // Partial RoPE at each row's own position, all rows of the step across the pool.
        Rope.ApplyRows(q, k, positions, heads, headDim, buf.InverseFrequencies, pool);
        t = profile.Lap(StepPhase.Elementwise, t);

        // Every sequence of the pass in one parallel job; then each ring takes its chunk's keys and values.
        SlidingWindowAttention.ForwardBatch(q, k, v, buf.Chunks.AsMemory(0, pieces.Length), window, heads, headDim, attended, pool, Simd.Best);
        for (int c = 0; c < pieces.Length; c++)
        {
            ref readonly var chunk = ref buf.Chunks[c];
            SlidingWindowAttention.AppendToRing(k.Slice(chunk.RowStart * headDim, chunk.Rows * headDim), v.Slice(chunk.RowStart * headDim, chunk.Rows * headDim),
                chunk.Rows, chunk.StartPos, window, headDim, chunk.RingKeys, chunk.RingValues);
            buf.Chunks[c] = default;   // no references to states outlive the pass
        }
        t = profile.Lap(StepPhase.Attention, t);

        w.Output.Multiply(attended, rows, w.OutputBias, output, pool);
        profile.Lap(StepPhase.Matmul, t);
    }
}

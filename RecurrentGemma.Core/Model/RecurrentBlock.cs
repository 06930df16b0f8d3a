using RecurrentGemma.Core.State;
using RecurrentGemma.Kernels;
using RecurrentGemma.Kernels.MatMul;
using RecurrentGemma.Kernels.Operators;
using RecurrentGemma.Kernels.Parallel;

namespace RecurrentGemma.Core.Model;

/// <summary>
/// Griffin's recurrent block: y = gelu(linear_y(u)); x = linear_x(u) -> causal conv -> RG-LRU; out = linear_out(h * y).
/// The projections run once over all rows of the pass; conv and scan run per sequence on its own state.
/// </summary>
internal static class RecurrentBlock
{
    public static void Forward(int layer, RecurrentWeights w, ReadOnlySpan<float> u, ReadOnlySpan<PassPiece> pieces, ReadOnlySpan<BatchEntry> batch,
        int rows, ForwardBuffers buf, WorkerPool? pool, Span<float> output)
    {
        int e = w.LinearOut.InDim, n = rows * e;
        var y = buf.A.AsSpan(0, n);
        var x = buf.B.AsSpan(0, n);
        var conv = buf.C.AsSpan(0, n);
        var gateX = buf.D.AsSpan(0, n);
        var gateA = buf.E.AsSpan(0, n);

        var profile = buf.Profile;
        long t = profile.Start();
        var yx = buf.Fused.AsSpan(0, 2 * n);
        w.LinearYX.Multiply(u, rows, w.LinearYXBias, yx, pool);
        t = profile.Lap(StepPhase.Matmul, t);
        // Row r of yx is [y | x]: y = gelu(y) across the pool; x is split off for the conv.
        Elementwise.MapRows(new GeluTanhOperator(), yx, 2 * e, 0, e, y, e, rows, pool);
        for (int r = 0; r < rows; r++) yx.Slice(r * 2 * e + e, e).CopyTo(x.Slice(r * e, e));
        t = profile.Lap(StepPhase.Elementwise, t);

        // Conv and scan run for every sequence of the pass in one parallel job each.
        if (buf.ConvChunks.Length < pieces.Length)
        {
            buf.ConvChunks = new ConvChunk[Math.Max(pieces.Length, 2 * buf.ConvChunks.Length)];
            buf.LruChunks = new LruChunk[buf.ConvChunks.Length];
        }
        for (int c = 0; c < pieces.Length; c++)
        {
            ref readonly var p = ref pieces[c];
            SequenceState s = batch[p.Entry].State;
            buf.ConvChunks[c] = new ConvChunk(p.RowStart, p.Rows, s.Conv[layer]!);
            buf.LruChunks[c] = new LruChunk(p.RowStart, p.Rows, s.Lru[layer]!, ResetAtFirstRow: s.Position == 0);
        }
        CausalConv1D.ApplyBatch(x, buf.ConvChunks.AsMemory(0, pieces.Length), w.ConvWeight, w.ConvBias, conv, pool);

        t = profile.Lap(StepPhase.Recurrence, t);
        w.InputGate.Multiply(conv, rows, w.InputGateBias, gateX, pool);
        w.RecurrentGate.Multiply(conv, rows, w.RecurrentGateBias, gateA, pool);
        t = profile.Lap(StepPhase.Matmul, t);

        var gated = x;   // linear_x output is consumed by the conv; reuse its buffer for h * y
        RgLru.ScanBatch(conv, gateX, gateA, w.Decay, y, gated, buf.LruChunks.AsMemory(0, pieces.Length), pool, Simd.Best);
        Array.Clear(buf.ConvChunks, 0, pieces.Length);   // no references to states outlive the pass
        Array.Clear(buf.LruChunks, 0, pieces.Length);

        t = profile.Lap(StepPhase.Recurrence, t);
        w.LinearOut.Multiply(gated, rows, w.LinearOutBias, output, pool);
        profile.Lap(StepPhase.Matmul, t);
    }
}

using RecurrentGemma.Kernels;
using RecurrentGemma.Kernels.MatMul;
using RecurrentGemma.Kernels.Operators;
using RecurrentGemma.Kernels.Parallel;

namespace RecurrentGemma.Core.Model;

/// <summary>out = down(gelu_tanh(gate(u)) * up(u)); gate and up come from one stacked matmul.</summary>
internal static class MlpBlock
{
    public static void Forward(MlpWeights w, ReadOnlySpan<float> u, int rows, ForwardBuffers buf, WorkerPool? pool, Span<float> output)
    {
        int m = w.Down.InDim;
        var gateUp = buf.Fused.AsSpan(0, rows * 2 * m);
        var hidden = buf.A.AsSpan(0, rows * m);
        var profile = buf.Profile;
        long t = profile.Start();
        w.GateUp.Multiply(u, rows, w.GateUpBias, gateUp, pool);
        t = profile.Lap(StepPhase.Matmul, t);
        // Row r of gateUp is [gate | up]: hidden = gelu(gate) * up, rows across the pool.
        Elementwise.MapRows(new GeluTanhMultiplyOperator(), gateUp, 2 * m, 0, m, m, hidden, m, rows, pool);
        t = profile.Lap(StepPhase.Elementwise, t);
        w.Down.Multiply(hidden, rows, w.DownBias, output, pool);
        profile.Lap(StepPhase.Matmul, t);
    }
}

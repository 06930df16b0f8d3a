using RecurrentGemma.Kernels;
using RecurrentGemma.Kernels.MatMul;
using RecurrentGemma.Kernels.Operators;
using RecurrentGemma.Kernels.Parallel;

namespace RecurrentGemma.Core.Model;

/// <summary>out = down(gelu_tanh(gate(u)) * up(u)).</summary>
internal static class MlpBlock
{
    public static void Forward(MlpWeights w, ReadOnlySpan<float> u, int rows, ForwardBuffers buf, WorkerPool? pool, Span<float> output)
    {
        int m = w.Gate.OutDim, n = rows * m;
        var gate = buf.A.AsSpan(0, n);
        var up = buf.B.AsSpan(0, n);
        MatMulBf16.Multiply(u, rows, w.Gate, w.GateBias, gate, pool);
        MatMulBf16.Multiply(u, rows, w.Up, w.UpBias, up, pool);
        Elementwise.Map(new GeluTanhMultiplyOperator(), gate, up, gate, pool);
        MatMulBf16.Multiply(gate, rows, w.Down, w.DownBias, output, pool);
    }
}

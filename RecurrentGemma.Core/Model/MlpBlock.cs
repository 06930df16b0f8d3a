using RecurrentGemma.Kernels;
using RecurrentGemma.Kernels.Operators;

namespace RecurrentGemma.Core.Model;

/// <summary>out = down(gelu_tanh(gate(u)) * up(u)).</summary>
internal static class MlpBlock
{
    public static void Forward(MlpWeights w, ReadOnlySpan<float> u, int rows, ForwardBuffers buf, Span<float> output)
    {
        int m = w.Gate.Rows, n = rows * m;
        var gate = buf.A.AsSpan(0, n);
        var up = buf.B.AsSpan(0, n);
        MatMulBf16.Multiply(u, rows, w.Gate.Span, m, w.GateBias, gate);
        MatMulBf16.Multiply(u, rows, w.Up.Span, m, w.UpBias, up);
        Elementwise.Map(new GeluTanhMultiplyOperator(), gate, up, gate);
        MatMulBf16.Multiply(gate, rows, w.Down.Span, w.Down.Rows, w.DownBias, output);
    }
}

using System.Numerics.Tensors;
using RecurrentGemma.Kernels.Operators;

namespace RecurrentGemma.Kernels;

/// <summary>Numerically stable softmax in place: subtract the max, exponentiate, normalize.</summary>
public static class Softmax
{
    public static void InPlace(Span<float> x, SimdWidth width)
    {
        float max = Reductions.Max(x);
        Elementwise.Map(new ShiftedExpOperator(max), x, x, width);
        float sum = Reductions.Sum(x, width);
        TensorPrimitives.Multiply(x, 1f / sum, x);
    }
}

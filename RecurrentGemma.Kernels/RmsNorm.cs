using RecurrentGemma.Kernels.Operators;

namespace RecurrentGemma.Kernels;

/// <summary>y = x * rsqrt(mean(x^2) + eps) * scale, row by row. Gemma's (1 + w) is folded into <c>scale</c> once at load.</summary>
public static class RmsNorm
{
    public static void Apply(ReadOnlySpan<float> x, ReadOnlySpan<float> scale, float eps, Span<float> y, int rows) =>
        Apply(x, scale, eps, y, rows, Simd.Best);

    public static void Apply(ReadOnlySpan<float> x, ReadOnlySpan<float> scale, float eps, Span<float> y, int rows, SimdWidth width)
    {
        int d = scale.Length;
        if (x.Length < rows * d || y.Length < rows * d) throw new ArgumentException($"need {rows}x{d} elements");
        for (int r = 0; r < rows; r++)
        {
            var row = x.Slice(r * d, d);
            float meanSquare = Reductions.SumOfSquares(row, width) / d;
            float inv = 1f / MathF.Sqrt(meanSquare + eps);
            Elementwise.Map(new ScaledMultiplyOperator(inv), row, scale, y.Slice(r * d, d), width);
        }
    }
}

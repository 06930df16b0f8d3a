using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace RecurrentGemma.Kernels.Operators;

/// <summary>Transcendentals the runtime lacks as vector intrinsics, built from Vector*.Exp.</summary>
public static class VectorMath
{
    // tanh(x) = 1 - 2 / (exp(2x) + 1): saturates correctly at both ends (exp -> inf gives 1, exp -> 0 gives -1);
    // absolute error ~1e-7 near 0, which is what every caller (GELU, soft-cap) needs.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Tanh(Vector128<float> x) =>
        Vector128<float>.One - Vector128.Create(2f) / (Vector128.Exp(x + x) + Vector128<float>.One);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Tanh(Vector256<float> x) =>
        Vector256<float>.One - Vector256.Create(2f) / (Vector256.Exp(x + x) + Vector256<float>.One);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Tanh(Vector512<float> x) =>
        Vector512<float>.One - Vector512.Create(2f) / (Vector512.Exp(x + x) + Vector512<float>.One);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Sigmoid(Vector128<float> x) => Vector128<float>.One / (Vector128<float>.One + Vector128.Exp(-x));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Sigmoid(Vector256<float> x) => Vector256<float>.One / (Vector256<float>.One + Vector256.Exp(-x));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Sigmoid(Vector512<float> x) => Vector512<float>.One / (Vector512<float>.One + Vector512.Exp(-x));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Sigmoid(float x) => 1f / (1f + MathF.Exp(-x));
}

/// <summary>The logistic function 1 / (1 + e^-x): the RG-LRU's gates.</summary>
public readonly struct SigmoidOperator : IUnaryOperator
{
    public float Invoke(float x) => VectorMath.Sigmoid(x);
    public Vector128<float> Invoke(Vector128<float> x) => VectorMath.Sigmoid(x);
    public Vector256<float> Invoke(Vector256<float> x) => VectorMath.Sigmoid(x);
    public Vector512<float> Invoke(Vector512<float> x) => VectorMath.Sigmoid(x);
}

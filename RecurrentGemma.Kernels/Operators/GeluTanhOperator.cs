using System.Runtime.Intrinsics;

namespace RecurrentGemma.Kernels.Operators;

/// <summary>gelu_pytorch_tanh: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).</summary>
public readonly struct GeluTanhOperator : IUnaryOperator
{
    const float Sqrt2OverPi = 0.7978845608028654f;
    const float Cubic = 0.044715f;

    public float Invoke(float x) => 0.5f * x * (1f + MathF.Tanh(Sqrt2OverPi * (x + Cubic * x * x * x)));

    public Vector128<float> Invoke(Vector128<float> x) =>
        Vector128.Create(0.5f) * x * (Vector128<float>.One + VectorMath.Tanh(Vector128.Create(Sqrt2OverPi) * (x + Vector128.Create(Cubic) * x * x * x)));

    public Vector256<float> Invoke(Vector256<float> x) =>
        Vector256.Create(0.5f) * x * (Vector256<float>.One + VectorMath.Tanh(Vector256.Create(Sqrt2OverPi) * (x + Vector256.Create(Cubic) * x * x * x)));

    public Vector512<float> Invoke(Vector512<float> x) =>
        Vector512.Create(0.5f) * x * (Vector512<float>.One + VectorMath.Tanh(Vector512.Create(Sqrt2OverPi) * (x + Vector512.Create(Cubic) * x * x * x)));
}

/// <summary>gelu_tanh(a) * b: the MLP's gated product in one pass.</summary>
public readonly struct GeluTanhMultiplyOperator : IBinaryOperator
{
    static readonly GeluTanhOperator Gelu = default;
    public float Invoke(float a, float b) => Gelu.Invoke(a) * b;
    public Vector128<float> Invoke(Vector128<float> a, Vector128<float> b) => Gelu.Invoke(a) * b;
    public Vector256<float> Invoke(Vector256<float> a, Vector256<float> b) => Gelu.Invoke(a) * b;
    public Vector512<float> Invoke(Vector512<float> a, Vector512<float> b) => Gelu.Invoke(a) * b;
}

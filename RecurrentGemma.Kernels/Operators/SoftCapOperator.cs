using System.Runtime.Intrinsics;

namespace RecurrentGemma.Kernels.Operators;

/// <summary>Logit soft-capping: cap * tanh(x / cap).</summary>
public readonly struct SoftCapOperator(float cap) : IUnaryOperator
{
    readonly float _cap = cap;
    readonly float _inverse = 1f / cap;

    public float Invoke(float x) => _cap * MathF.Tanh(x * _inverse);
    public Vector128<float> Invoke(Vector128<float> x) => Vector128.Create(_cap) * VectorMath.Tanh(x * Vector128.Create(_inverse));
    public Vector256<float> Invoke(Vector256<float> x) => Vector256.Create(_cap) * VectorMath.Tanh(x * Vector256.Create(_inverse));
    public Vector512<float> Invoke(Vector512<float> x) => Vector512.Create(_cap) * VectorMath.Tanh(x * Vector512.Create(_inverse));
}

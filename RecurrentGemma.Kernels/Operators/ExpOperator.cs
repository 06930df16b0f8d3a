using System.Runtime.Intrinsics;

namespace RecurrentGemma.Kernels.Operators;

/// <summary>exp(x - shift): softmax's numerator with the row maximum subtracted for stability.</summary>
public readonly struct ShiftedExpOperator(float shift) : IUnaryOperator
{
    readonly float _shift = shift;
    public float Invoke(float x) => MathF.Exp(x - _shift);
    public Vector128<float> Invoke(Vector128<float> x) => Vector128.Exp(x - Vector128.Create(_shift));
    public Vector256<float> Invoke(Vector256<float> x) => Vector256.Exp(x - Vector256.Create(_shift));
    public Vector512<float> Invoke(Vector512<float> x) => Vector512.Exp(x - Vector512.Create(_shift));
}

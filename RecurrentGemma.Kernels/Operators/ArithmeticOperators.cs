using System.Runtime.Intrinsics;

namespace RecurrentGemma.Kernels.Operators;

/// <summary>a * s * b for a fixed scalar s: RMSNorm's normalize-and-scale step.</summary>
public readonly struct ScaledMultiplyOperator(float scale) : IBinaryOperator
{
    readonly float _s = scale;
    public float Invoke(float a, float b) => a * _s * b;
    public Vector128<float> Invoke(Vector128<float> a, Vector128<float> b) => a * Vector128.Create(_s) * b;
    public Vector256<float> Invoke(Vector256<float> a, Vector256<float> b) => a * Vector256.Create(_s) * b;
    public Vector512<float> Invoke(Vector512<float> a, Vector512<float> b) => a * Vector512.Create(_s) * b;
}

/// <summary>x where x >= threshold, else <c>replacement</c>: cuts a distribution (0) or a logit vector (-inf) at a threshold.</summary>
public readonly struct KeepAtLeastOperator(float threshold, float replacement) : IUnaryOperator
{
    readonly float _t = threshold, _r = replacement;
    public float Invoke(float x) => x >= _t ? x : _r;
    public Vector128<float> Invoke(Vector128<float> x) => Vector128.ConditionalSelect(Vector128.GreaterThanOrEqual(x, Vector128.Create(_t)), x, Vector128.Create(_r));
    public Vector256<float> Invoke(Vector256<float> x) => Vector256.ConditionalSelect(Vector256.GreaterThanOrEqual(x, Vector256.Create(_t)), x, Vector256.Create(_r));
    public Vector512<float> Invoke(Vector512<float> x) => Vector512.ConditionalSelect(Vector512.GreaterThanOrEqual(x, Vector512.Create(_t)), x, Vector512.Create(_r));
}

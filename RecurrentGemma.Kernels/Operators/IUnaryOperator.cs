using System.Runtime.Intrinsics;

namespace RecurrentGemma.Kernels.Operators;

/// <summary>
/// One element-wise function at every width (the TensorPrimitives pattern): the scalar overload is the reference,
/// the vector overloads must agree with it to float rounding. Structs, so the generic driver specializes per operator.
/// </summary>
public interface IUnaryOperator
{
    float Invoke(float x);
    Vector128<float> Invoke(Vector128<float> x);
    Vector256<float> Invoke(Vector256<float> x);
    Vector512<float> Invoke(Vector512<float> x);
}

/// <summary>Element-wise function of two inputs, same contract as <see cref="IUnaryOperator"/>.</summary>
public interface IBinaryOperator
{
    float Invoke(float a, float b);
    Vector128<float> Invoke(Vector128<float> a, Vector128<float> b);
    Vector256<float> Invoke(Vector256<float> a, Vector256<float> b);
    Vector512<float> Invoke(Vector512<float> a, Vector512<float> b);
}

using System.Numerics.Tensors;
using BenchmarkDotNet.Attributes;
using System.Runtime.Intrinsics;
using RecurrentGemma.Kernels;
using RecurrentGemma.Kernels.Operators;

namespace RecurrentGemma.Bench;

/// <summary>
/// Our reductions against TensorPrimitives' at a hidden-state width (2560) and a vocabulary (256000): the evidence for
/// which of them the engine uses. Max and IndexOfMax are exact in any order, so TensorPrimitives' are taken where they
/// are as fast; sums must add in an address-independent order (batched == alone), so ours stay unless theirs is far
/// ahead. Add and FusedMultiplyAdd are exact per element.
/// </summary>
[MemoryDiagnoser]
public class PrimitiveBenchmarks
{
    float[] _a = [], _b = [], _y = [];

    [Params(2560, 256000)]
    public int Length { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(5);
        _a = new float[Length]; _b = new float[Length]; _y = new float[Length];
        for (int i = 0; i < Length; i++) (_a[i], _b[i]) = ((float)rng.NextDouble() - 0.5f, (float)rng.NextDouble() - 0.5f);
    }

    [Benchmark] public float DotOurs() => Reductions.Dot(_a, _b);
    [Benchmark] public float DotTensorPrimitives() => TensorPrimitives.Dot(_a, _b);
    [Benchmark] public float SumOurs() => Reductions.Sum(_a, Simd.Best);
    [Benchmark] public float SumTensorPrimitives() => TensorPrimitives.Sum(_a);
    [Benchmark] public int ArgMaxScalarLoop()
    {
        int best = 0;
        for (int i = 1; i < _a.Length; i++) if (_a[i] > _a[best]) best = i;
        return best;
    }
    [Benchmark] public int ArgMaxTensorPrimitives() => TensorPrimitives.IndexOfMax(_a);
    [Benchmark] public float MaxTensorPrimitives() => TensorPrimitives.Max(_a);
    [Benchmark] public void AddOursDriver() => Elementwise.Map(new AddOperator(), _a, _b, _y);
    [Benchmark] public void AddTensorPrimitives() => TensorPrimitives.Add(_a, _b, _y);
    [Benchmark] public void FusedMultiplyAddTensorPrimitives() => TensorPrimitives.FusedMultiplyAdd(_a, _b, _y, _y);
}

/// <summary>a + b through our element-wise driver: what the residual adds ran as before they moved to TensorPrimitives.</summary>
public readonly struct AddOperator : IBinaryOperator
{
    public float Invoke(float a, float b) => a + b;
    public Vector128<float> Invoke(Vector128<float> a, Vector128<float> b) => a + b;
    public Vector256<float> Invoke(Vector256<float> a, Vector256<float> b) => a + b;
    public Vector512<float> Invoke(Vector512<float> a, Vector512<float> b) => a + b;
}

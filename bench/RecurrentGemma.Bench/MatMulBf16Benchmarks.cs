using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Running;
using RecurrentGemma.Kernels;
using RecurrentGemma.Kernels.MatMul;
using RecurrentGemma.Kernels.Parallel;

namespace RecurrentGemma.Bench;

/// <summary>
/// Packed bf16 x f32 matmul at the 2B MLP gate shape (7680 x 2560). Weights cycle through enough copies to exceed the
/// caches, so decode-style GEMV (1 row) measures memory bandwidth, not cache bandwidth.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(ThroughputConfig))]
public class MatMulBf16Benchmarks : IThroughputWorkload
{
    const int Out = 7680, In = 2560, Copies = 8;   // 8 x 39 MB: far past any L3
    PackedBf16Matrix[] _weights = [];
    float[] _x = [], _y = [];
    WorkerPool _pool = null!;
    int _next;

    [Params(1, 32, 256)]
    public int Rows { get; set; }

    [Params(1, 2)]
    public int Threads { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(1);
        var source = new ushort[Out * In];
        _weights = new PackedBf16Matrix[Copies];
        for (int c = 0; c < Copies; c++)
        {
            for (int i = 0; i < source.Length; i++) source[i] = Bf16.FromFloat((float)rng.NextDouble() - 0.5f);
            _weights[c] = PackedBf16Matrix.Pack(source, Out, In);
        }
        _x = new float[Rows * In];
        for (int i = 0; i < _x.Length; i++) _x[i] = (float)rng.NextDouble();
        _y = new float[Rows * Out];
        _pool = new WorkerPool(Threads);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _pool.Dispose();
        foreach (var w in _weights) w.Dispose();
    }

    [Benchmark]
    public void Multiply()
    {
        MatMulBf16.Multiply(_x, Rows, _weights[_next], default, _y, _pool);
        _next = (_next + 1) % Copies;
    }

    public (double Bytes, double Flops) Work(BenchmarkCase b) => (2.0 * Out * In, 2.0 * b.Int(nameof(Rows)) * Out * In);
}

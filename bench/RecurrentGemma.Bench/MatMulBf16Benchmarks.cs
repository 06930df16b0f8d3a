using BenchmarkDotNet.Attributes;
using RecurrentGemma.Kernels;

namespace RecurrentGemma.Bench;

/// <summary>
/// bf16 x f32 matmul at the 2B MLP gate shape (7680 x 2560). Weights cycle through enough copies to exceed the caches,
/// so decode-style GEMV (1 row) measures memory bandwidth, not cache bandwidth. GB/s = weight bytes / time;
/// GFLOP/s = 2 * rows * out * in / time (bench/RESULTS.md turns the means into these).
/// </summary>
[MemoryDiagnoser]
public class MatMulBf16Benchmarks
{
    const int Out = 7680, In = 2560, Copies = 8;   // 8 x 39 MB: far past any L3
    ushort[][] _weights = [];
    float[] _x = [], _y = [];
    int _next;

    [Params(1, 32)]
    public int Rows { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(1);
        _weights = new ushort[Copies][];
        for (int c = 0; c < Copies; c++)
        {
            _weights[c] = new ushort[Out * In];
            for (int i = 0; i < _weights[c].Length; i++) _weights[c][i] = Bf16.FromFloat((float)rng.NextDouble() - 0.5f);
        }
        _x = new float[Rows * In];
        for (int i = 0; i < _x.Length; i++) _x[i] = (float)rng.NextDouble();
        _y = new float[Rows * Out];
    }

    [Benchmark]
    public void Multiply()
    {
        MatMulBf16.Multiply(_x, Rows, _weights[_next], Out, default, _y);
        _next = (_next + 1) % Copies;
    }
}

using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Running;
using RecurrentGemma.Kernels.MatMul;
using RecurrentGemma.Kernels.Parallel;

namespace RecurrentGemma.Bench;

/// <summary>
/// The q8 and q4 matmuls at the 2B MLP gate shape (7680 x 2560), next to <see cref="MatMulBf16Benchmarks"/>: weights
/// cycle through enough copies to exceed the caches, so the 1-row GEMV measures memory bandwidth (on the packed bytes)
/// and 64-256 rows the integer dot throughput (2 ops per multiply-add, the int8 peak's unit).
/// </summary>
[MemoryDiagnoser]
[Config(typeof(ThroughputConfig))]
public class MatMulQuantizedBenchmarks : IThroughputWorkload
{
    const int Out = 7680, In = 2560, Copies = 12;   // q4: 12 x 11 MB, past the L3
    PackedQuantMatrix[] _weights = [];
    float[] _x = [], _y = [];
    WorkerPool _pool = null!;
    int _next;

    [Params(MatrixFormat.Q8, MatrixFormat.Q4)]
    public MatrixFormat Format { get; set; }

    [Params(1, 64, 256)]
    public int Rows { get; set; }

    [Params(1, 2)]
    public int Threads { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _pool = new WorkerPool(Threads);
        _weights = new PackedQuantMatrix[Copies];
        for (int c = 0; c < Copies; c++)
        {
            var rng = new Random(c + 1);
            _weights[c] = PackedQuantMatrix.Quantize(Format, Out, In, (o, row) =>
            {
                var r = new Random(c * Out + o);
                for (int k = 0; k < row.Length; k++) row[k] = (float)r.NextDouble() - 0.5f;
            }, _pool);
        }
        var x = new Random(7);
        _x = new float[Rows * In];
        for (int i = 0; i < _x.Length; i++) _x[i] = (float)x.NextDouble() - 0.5f;
        _y = new float[Rows * Out];
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
        _weights[_next].Multiply(_x, Rows, default, _y, _pool);
        _next = (_next + 1) % Copies;
    }

    public (double Bytes, double Flops) Work(BenchmarkCase b) =>
        ((double)PackedQuantMatrix.SizeOf((MatrixFormat)b.Parameters[nameof(Format)], Out, In), 2.0 * b.Int(nameof(Rows)) * Out * In);
}

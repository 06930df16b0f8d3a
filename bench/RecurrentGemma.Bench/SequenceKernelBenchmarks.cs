using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Running;
using RecurrentGemma.Kernels;
using RecurrentGemma.Kernels.Operators;
using RecurrentGemma.Kernels.Parallel;

namespace RecurrentGemma.Bench;

/// <summary>
/// The per-sequence kernels at 2B widths (E = H = 2560, 10 heads of 256, window 2048) for one decode row and a
/// 256-row prefill chunk: RG-LRU scan, causal conv, RMSNorm, GELU-tanh and sliding-window attention over a full ring.
/// Inputs stay in the model's value ranges (decay = -8 softplus(param) is negative, so the scan stays finite) and every
/// kernel runs on the pool the model gives it, as in a forward pass.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(ThroughputConfig))]
public class SequenceKernelBenchmarks : IThroughputWorkload
{
    const int E = 2560, Heads = 10, HeadDim = 256, Window = 2048, ConvWidth = 4, Mlp = 7680;
    float[] _x = [], _gx = [], _ga = [], _y = [], _out = [], _decay = [], _h = [], _convState = [], _convW = [], _bias = [], _scale = [], _wide = [];
    float[] _q = [], _k = [], _v = [], _ringK = [], _ringV = [], _attn = [];
    WorkerPool _pool = null!;

    [Params(1, 256)]
    public int Rows { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(3);
        float[] R(int n, float s = 1f) { var a = new float[n]; for (int i = 0; i < n; i++) a[i] = s * (float)(rng.NextDouble() * 2 - 1); return a; }
        _x = R(Rows * E); _gx = R(Rows * E); _ga = R(Rows * E); _y = R(Rows * E); _out = new float[Rows * E];
        _decay = new float[E]; RgLru.Decay(R(E), _decay); _h = new float[E]; _convState = new float[(ConvWidth - 1) * E]; _convW = R(ConvWidth * E); _bias = R(E); _scale = R(E);
        _wide = R(Rows * Mlp, 3f);
        _q = R(Rows * Heads * HeadDim); _k = R(Rows * HeadDim); _v = R(Rows * HeadDim);
        _ringK = R(Window * HeadDim); _ringV = R(Window * HeadDim); _attn = new float[Rows * Heads * HeadDim];
        _pool = new WorkerPool();
    }

    [GlobalCleanup]
    public void Cleanup() => _pool.Dispose();

    [Benchmark] public void RgLruScan() => RgLru.Scan(_x, _gx, _ga, _decay, _y, _h, false, _out, Rows, _pool);
    [Benchmark] public void CausalConv() => CausalConv1D.Apply(_x, Rows, _convState, _convW, _bias, _out);
    [Benchmark] public void RmsNormRows() => RmsNorm.Apply(_x, _scale, 1e-6f, _out, Rows);
    [Benchmark] public void GeluTanhMlpWidth() => Elementwise.Map(new GeluTanhOperator(), _wide, _wide);

    /// <summary>Queries at positions 4096.. : every one sees a full window (2049 keys) from ring and chunk.</summary>
    [Benchmark] public void SlidingWindowAttentionFullWindow() =>
        SlidingWindowAttention.Forward(_q, _k, _v, _ringK, _ringV, Rows, 4096, Window, Heads, HeadDim, _attn, _pool);

    public (double Bytes, double Flops) Work(BenchmarkCase b)
    {
        int rows = b.Int(nameof(Rows));
        return b.Descriptor.WorkloadMethod.Name switch
        {
            nameof(SlidingWindowAttentionFullWindow) => (2.0 * Window * HeadDim * 4, 4.0 * rows * Heads * HeadDim * (Window + 1)),
            nameof(CausalConv) => (0, 2.0 * rows * E * ConvWidth),
            nameof(RmsNormRows) => (0, 3.0 * rows * E),
            _ => (0, 0),
        };
    }
}

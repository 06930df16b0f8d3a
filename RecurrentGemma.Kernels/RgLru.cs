using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using RecurrentGemma.Kernels.Operators;
using RecurrentGemma.Kernels.Parallel;

namespace RecurrentGemma.Kernels;

/// <summary>
/// The Real-Gated Linear Recurrent Unit's gates and linear scan, vectorized over channels, sequential over time:
/// gate_x = sigmoid(gx), log_a = decay * sigmoid(ga) with decay = -8 softplus(recurrent_param), a = exp(log_a),
/// h_t = a h_{t-1} + sqrt(1 - exp(2 log_a)) (x gate_x), out_t = h_t * y_t.
/// At a segment start the multiplier is 1 and the previous state counts as 0 (the reference's reset).
/// </summary>
public static class RgLru
{
    public static void Scan(ReadOnlySpan<float> x, ReadOnlySpan<float> gateXPre, ReadOnlySpan<float> gateAPre, ReadOnlySpan<float> decay,
        ReadOnlySpan<float> y, Span<float> h, bool resetAtFirstRow, Span<float> output, int rows, WorkerPool? pool = null) =>
        Scan(x, gateXPre, gateAPre, decay, y, h, resetAtFirstRow, output, rows, pool, Simd.Best);

    /// <summary>Channels are independent, so a long chunk splits them across the pool in blocks of <see cref="ChannelBlock"/>
    /// (a multiple of every vector width: each channel runs the same code as in one pass, so the bits are the same).</summary>
    public static unsafe void Scan(ReadOnlySpan<float> x, ReadOnlySpan<float> gateXPre, ReadOnlySpan<float> gateAPre, ReadOnlySpan<float> decay,
        ReadOnlySpan<float> y, Span<float> h, bool resetAtFirstRow, Span<float> output, int rows, WorkerPool? pool, SimdWidth width)
    {
        int e = decay.Length;
        if (h.Length != e) throw new ArgumentException($"state has {h.Length} channels, expected {e}", nameof(h));
        int n = rows * e;
        if (x.Length < n || gateXPre.Length < n || gateAPre.Length < n || y.Length < n || output.Length < n)
            throw new ArgumentException($"inputs need {rows}x{e} elements");
        int blocks = (e + ChannelBlock - 1) / ChannelBlock;
        if (pool is null || blocks < 2 || rows < 16)
        {
            ScanChannels(x, gateXPre, gateAPre, decay, y, h, resetAtFirstRow, output, rows, 0, e, width);
            return;
        }
        var job = t_job ??= new ScanJob();
        fixed (float* xp = x, gxp = gateXPre, gap = gateAPre, dp = decay, yp = y, hp = h, op = output)
        {
            job.X = xp; job.GateX = gxp; job.GateA = gap; job.Decay = dp; job.Y = yp; job.H = hp; job.Output = op;
            job.Channels = e; job.Rows = rows; job.Reset = resetAtFirstRow; job.Width = width;
            pool.Run(job, blocks);
        }
    }

    const int ChannelBlock = 256;

    [ThreadStatic] static ScanJob? t_job;

    sealed unsafe class ScanJob : IParallelWork
    {
        public float* X, GateX, GateA, Decay, Y, H, Output;
        public int Channels, Rows;
        public bool Reset;
        public SimdWidth Width;

        public void Execute(int block)
        {
            int n = Rows * Channels, c0 = block * ChannelBlock, c1 = Math.Min(Channels, c0 + ChannelBlock);
            ScanChannels(new ReadOnlySpan<float>(X, n), new ReadOnlySpan<float>(GateX, n), new ReadOnlySpan<float>(GateA, n),
                new ReadOnlySpan<float>(Decay, Channels), new ReadOnlySpan<float>(Y, n), new Span<float>(H, Channels), Reset,
                new Span<float>(Output, n), Rows, c0, c1, Width);
        }
    }

    /// <summary>The scan over channels [c0, c1) of [rows, e] inputs; c0 is a multiple of 16.</summary>
    static void ScanChannels(ReadOnlySpan<float> x, ReadOnlySpan<float> gateXPre, ReadOnlySpan<float> gateAPre, ReadOnlySpan<float> decay,
        ReadOnlySpan<float> y, Span<float> h, bool resetAtFirstRow, Span<float> output, int rows, int c0, int c1, SimdWidth width)
    {
        int e = decay.Length;
        ref float xr = ref MemoryMarshal.GetReference(x);
        ref float gxr = ref MemoryMarshal.GetReference(gateXPre);
        ref float gar = ref MemoryMarshal.GetReference(gateAPre);
        ref float yr = ref MemoryMarshal.GetReference(y);
        ref float dr = ref MemoryMarshal.GetReference(decay);
        ref float hr = ref MemoryMarshal.GetReference(h);
        ref float or = ref MemoryMarshal.GetReference(output);
        for (int t = 0; t < rows; t++)
        {
            bool reset = resetAtFirstRow && t == 0;
            nuint row = (nuint)(t * e), i = (nuint)c0;
            if (width >= SimdWidth.Vector512)
                for (; i + 16 <= (nuint)c1; i += 16)
                {
                    var logA = Vector512.LoadUnsafe(ref dr, i) * VectorMath.Sigmoid(Vector512.LoadUnsafe(ref gar, row + i));
                    var gated = Vector512.LoadUnsafe(ref xr, row + i) * VectorMath.Sigmoid(Vector512.LoadUnsafe(ref gxr, row + i));
                    Vector512<float> hNew = reset ? gated
                        : Vector512.FusedMultiplyAdd(Vector512.Exp(logA), Vector512.LoadUnsafe(ref hr, i),
                            gated * Vector512.Sqrt(Vector512<float>.One - Vector512.Exp(logA + logA)));
                    hNew.StoreUnsafe(ref hr, i);
                    (hNew * Vector512.LoadUnsafe(ref yr, row + i)).StoreUnsafe(ref or, row + i);
                }
            if (width >= SimdWidth.Vector256)
                for (; i + 8 <= (nuint)c1; i += 8)
                {
                    var logA = Vector256.LoadUnsafe(ref dr, i) * VectorMath.Sigmoid(Vector256.LoadUnsafe(ref gar, row + i));
                    var gated = Vector256.LoadUnsafe(ref xr, row + i) * VectorMath.Sigmoid(Vector256.LoadUnsafe(ref gxr, row + i));
                    Vector256<float> hNew = reset ? gated
                        : Vector256.FusedMultiplyAdd(Vector256.Exp(logA), Vector256.LoadUnsafe(ref hr, i),
                            gated * Vector256.Sqrt(Vector256<float>.One - Vector256.Exp(logA + logA)));
                    hNew.StoreUnsafe(ref hr, i);
                    (hNew * Vector256.LoadUnsafe(ref yr, row + i)).StoreUnsafe(ref or, row + i);
                }
            if (width >= SimdWidth.Vector128)
                for (; i + 4 <= (nuint)c1; i += 4)
                {
                    var logA = Vector128.LoadUnsafe(ref dr, i) * VectorMath.Sigmoid(Vector128.LoadUnsafe(ref gar, row + i));
                    var gated = Vector128.LoadUnsafe(ref xr, row + i) * VectorMath.Sigmoid(Vector128.LoadUnsafe(ref gxr, row + i));
                    Vector128<float> hNew = reset ? gated
                        : Vector128.FusedMultiplyAdd(Vector128.Exp(logA), Vector128.LoadUnsafe(ref hr, i),
                            gated * Vector128.Sqrt(Vector128<float>.One - Vector128.Exp(logA + logA)));
                    hNew.StoreUnsafe(ref hr, i);
                    (hNew * Vector128.LoadUnsafe(ref yr, row + i)).StoreUnsafe(ref or, row + i);
                }
            for (; i < (nuint)c1; i++)
            {
                int j = (int)row + (int)i;
                float logA = decay[(int)i] * VectorMath.Sigmoid(gateAPre[j]);
                float gated = x[j] * VectorMath.Sigmoid(gateXPre[j]);
                float hNew = reset ? gated : MathF.Exp(logA) * h[(int)i] + gated * MathF.Sqrt(1f - MathF.Exp(logA + logA));
                h[(int)i] = hNew;
                output[j] = hNew * y[j];
            }
        }
    }

    /// <summary>softplus(z) = log(1 + e^z), the identity above 20 (torch's threshold).</summary>
    public static float Softplus(float z) => z > 20f ? z : (float)Math.Log(1.0 + Math.Exp(z));

    /// <summary>The per-channel decay -8 softplus(recurrent_param); constant per layer, so computed once at load.</summary>
    public static void Decay(ReadOnlySpan<float> recurrentParam, Span<float> decay)
    {
        for (int i = 0; i < recurrentParam.Length; i++) decay[i] = -8f * Softplus(recurrentParam[i]);
    }
}

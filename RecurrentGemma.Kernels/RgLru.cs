using System.Runtime.CompilerServices;
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
        ReadOnlySpan<float> y, float[] h, bool resetAtFirstRow, Span<float> output, int rows, WorkerPool? pool = null) =>
        Scan(x, gateXPre, gateAPre, decay, y, h, resetAtFirstRow, output, rows, pool, Simd.Best);

    /// <summary>One sequence's rows from state <paramref name="h"/>. A long chunk splits its channels across the pool
    /// (<see cref="ScanBatch"/> with one chunk); a short one runs on the caller, where waking a worker would cost more.</summary>
    public static unsafe void Scan(ReadOnlySpan<float> x, ReadOnlySpan<float> gateXPre, ReadOnlySpan<float> gateAPre, ReadOnlySpan<float> decay,
        ReadOnlySpan<float> y, float[] h, bool resetAtFirstRow, Span<float> output, int rows, WorkerPool? pool, SimdWidth width)
    {
        int e = decay.Length;
        if (h.Length != e) throw new ArgumentException($"state has {h.Length} channels, expected {e}", nameof(h));
        long n = (long)rows * e;
        if (rows < 0 || x.Length < n || gateXPre.Length < n || gateAPre.Length < n || y.Length < n || output.Length < n)
            throw new ArgumentException($"inputs need {rows}x{e} elements");
        if (pool is not null && e > ChannelBlock && rows >= 16)
        {
            ScanBatch(x, gateXPre, gateAPre, decay, y, output, new[] { new LruChunk(0, rows, h, resetAtFirstRow) }, pool, width);
            return;
        }
        fixed (float* xp = x, gxp = gateXPre, gap = gateAPre, dp = decay, yp = y, hp = h, op = output)
            ScanChannels(new ScanPointers { X = xp, GateX = gxp, GateA = gap, Decay = dp, Y = yp, H = hp, Output = op, Channels = e, Rows = rows, Reset = resetAtFirstRow }, 0, e, width);
    }

    /// <summary>
    /// The scan of every sequence of a step in one parallel job: items are (sequence, block of channels), so a batch of
    /// one-row decodes is split as finely as one long prefill chunk. <paramref name="x"/>, the gates, <paramref name="y"/>
    /// and <paramref name="output"/> hold all rows of the step; each chunk names its rows and its own state. Every
    /// channel of every sequence runs the same code as in <see cref="Scan(ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, float[], bool, Span{float}, int, WorkerPool?, SimdWidth)"/>,
    /// so the bits do not depend on the batch or the split.
    /// </summary>
    public static unsafe void ScanBatch(ReadOnlySpan<float> x, ReadOnlySpan<float> gateXPre, ReadOnlySpan<float> gateAPre, ReadOnlySpan<float> decay,
        ReadOnlySpan<float> y, Span<float> output, ReadOnlyMemory<LruChunk> chunks, WorkerPool? pool, SimdWidth width)
    {
        int e = decay.Length, rows = 0;
        foreach (ref readonly var c in chunks.Span)
        {
            if (c.Rows < 0 || c.RowStart != rows) throw new ArgumentException($"chunk at row {c.RowStart}: chunks must follow each other from row 0");
            if (c.State is null || c.State.Length != e) throw new ArgumentException($"chunk at row {c.RowStart}: state must have {e} channels");
            rows += c.Rows;
        }
        long n = (long)rows * e;
        if (x.Length < n || gateXPre.Length < n || gateAPre.Length < n || y.Length < n || output.Length < n)
            throw new ArgumentException($"inputs need {rows}x{e} elements");
        if (rows == 0) return;
        var job = t_job ??= new ScanJob();
        fixed (float* xp = x, gxp = gateXPre, gap = gateAPre, dp = decay, yp = y, op = output)
        {
            job.Base = new ScanPointers { X = xp, GateX = gxp, GateA = gap, Decay = dp, Y = yp, Output = op, Channels = e };
            (job.Chunks, job.Width, job.Blocks) = (chunks, width, (e + ChannelBlock - 1) / ChannelBlock);
            int items = chunks.Length * job.Blocks;
            if (pool is null) for (int i = 0; i < items; i++) job.Execute(i);
            else pool.Run(job, items);
            job.Chunks = default;
        }
    }

    [ThreadStatic] static ScanJob? t_job;

    sealed unsafe class ScanJob : IParallelWork
    {
        public ScanPointers Base;
        public ReadOnlyMemory<LruChunk> Chunks;
        public SimdWidth Width;
        public int Blocks;

        public void Execute(int item)
        {
            ref readonly var c = ref Chunks.Span[item / Blocks];
            int c0 = item % Blocks * ChannelBlock;
            long offset = (long)c.RowStart * Base.Channels;
            fixed (float* h = c.State)
            {
                var s = Base;
                s.X += offset; s.GateX += offset; s.GateA += offset; s.Y += offset; s.Output += offset;
                s.H = h;
                (s.Rows, s.Reset) = (c.Rows, c.ResetAtFirstRow);
                ScanChannels(s, c0, Math.Min(Base.Channels, c0 + ChannelBlock), Width);
            }
        }
    }

    const int ChannelBlock = 256;

    unsafe struct ScanPointers
    {
        public float* X, GateX, GateA, Decay, Y, H, Output;
        public int Channels, Rows;
        public bool Reset;
    }

    /// <summary>The scan over channels [c0, c1) at one width.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void ScanChannels(ScanPointers s, int c0, int c1, SimdWidth width)
    {
        switch (width)
        {
            case SimdWidth.Vector512: ScanChannels<Vector512<float>, Lanes512>(s, c0, c1); break;
            case SimdWidth.Vector256: ScanChannels<Vector256<float>, Lanes256>(s, c0, c1); break;
            case SimdWidth.Vector128: ScanChannels<Vector128<float>, Lanes128>(s, c0, c1); break;
            default: ScanChannels<float, LanesScalar>(s, c0, c1); break;
        }
    }

    /// <summary>Full vectors of channels, then the channels left over one at a time (the same formula at one lane).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static unsafe void ScanChannels<TV, TL>(ScanPointers s, int c0, int c1)
        where TV : struct where TL : struct, IVectorLanes<TV>
    {
        for (int t = 0; t < s.Rows; t++)
        {
            bool reset = s.Reset && t == 0;
            long row = (long)t * s.Channels;
            int i = c0;
            for (; i + TL.Count <= c1; i += TL.Count) Step<TV, TL>(s, row, i, reset);
            for (; i < c1; i++) Step<float, LanesScalar>(s, row, i, reset);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static unsafe void Step<TV, TL>(ScanPointers s, long row, int i, bool reset) where TV : struct where TL : struct, IVectorLanes<TV>
    {
        long j = row + i;
        TV logA = TL.Multiply(TL.Load(s.Decay + i), TL.Apply(default(SigmoidOperator), TL.Load(s.GateA + j)));
        TV gated = TL.Multiply(TL.Load(s.X + j), TL.Apply(default(SigmoidOperator), TL.Load(s.GateX + j)));
        TV hNew = reset ? gated
            : TL.FusedMultiplyAdd(TL.Exp(logA), TL.Load(s.H + i),
                TL.Multiply(gated, TL.Sqrt(TL.Subtract(TL.Broadcast(1f), TL.Exp(TL.Add(logA, logA))))));
        TL.Store(hNew, s.H + i);
        TL.Store(TL.Multiply(hNew, TL.Load(s.Y + j)), s.Output + j);
    }

    /// <summary>softplus(z) = log(1 + e^z), the identity above 20 (torch's threshold).</summary>
    public static float Softplus(float z) => z > 20f ? z : (float)Math.Log(1.0 + Math.Exp(z));

    /// <summary>The per-channel decay -8 softplus(recurrent_param); constant per layer, so computed once at load.</summary>
    public static void Decay(ReadOnlySpan<float> recurrentParam, Span<float> decay)
    {
        for (int i = 0; i < recurrentParam.Length; i++) decay[i] = -8f * Softplus(recurrentParam[i]);
    }
}

/// <summary>One sequence's rows in a step for <see cref="RgLru.ScanBatch"/>: rows [RowStart, RowStart + Rows) of the
/// step's inputs, scanned from its own state h (reset at the first row when the sequence starts there).</summary>
public readonly record struct LruChunk(int RowStart, int Rows, float[] State, bool ResetAtFirstRow);

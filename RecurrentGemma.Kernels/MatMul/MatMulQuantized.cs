using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using RecurrentGemma.Kernels.Parallel;

namespace RecurrentGemma.Kernels.MatMul;

/// <summary>
/// y[r, o] = sum_b xs[r, b] * ws[o, b] * dot_b(r, o) + bias[o] for a <see cref="PackedQuantMatrix"/>: the input rows are
/// quantized per 32-block to int8 first (<see cref="QuantizedActivations"/>), each block's dot product of codes is exact
/// integer arithmetic, and the blocks are accumulated in f32 in block order: y = fma(float(dot_b), xs * ws, y).
/// <para>
/// Every path (<see cref="Int8Path"/>), tiling and thread count computes exactly those operations, so results are
/// bit-identical to the scalar reference and a row's output never depends on the rows beside it. The tile is up to
/// <see cref="MaxTileRows"/> rows x two vectors of columns; per quad of k it loads the codes once and does one integer
/// dot per row and vector. Panels are split across the <see cref="WorkerPool"/>.
/// </para>
/// </summary>
public static unsafe class MatMulQuantized
{
    const int PanelWidth = PackedQuantMatrix.PanelWidth, BlockSize = PackedQuantMatrix.BlockSize;
    const int MaxTileRows = 6, QuadPanels = 4;
    /// <summary>Software prefetch distance in bytes: as for the bf16 tile, one weight stream per core needs lines requested
    /// ahead of the hardware prefetcher to reach the bandwidth a GEMV is bound by.</summary>
    const int PrefetchAhead = 6144;

    public static void Multiply(ReadOnlySpan<float> x, int rows, PackedQuantMatrix w, ReadOnlySpan<float> bias, Span<float> y, WorkerPool? pool, Int8Path path)
    {
        if (rows <= 0) return;
        if (x.Length < (long)rows * w.InDim) throw new ArgumentException($"x holds {x.Length} floats, expected {rows}x{w.InDim}", nameof(x));
        if (y.Length < (long)rows * w.OutDim) throw new ArgumentException($"y holds {y.Length} floats, expected {rows}x{w.OutDim}", nameof(y));
        if (!bias.IsEmpty && bias.Length != w.OutDim) throw new ArgumentException($"bias has {bias.Length} floats, expected {w.OutDim}", nameof(bias));
        var activations = QuantizedActivations.ForThisThread;
        var job = t_job ??= new Job();
        fixed (float* xp = x, yp = y, bp = bias)
        {
            activations.Quantize(xp, rows, w.InDim, w.InDim);
            job.A = activations;
            job.Y = yp;
            job.Bias = bias.IsEmpty ? null : bp;
            job.Rows = rows;
            job.W = w;
            job.Path = path;
            int threads = pool?.Threads ?? 1;
            job.PanelsPerTask = Math.Max(1, w.Panels / (threads * 4));
            if (rows == 1) job.PanelsPerTask = (job.PanelsPerTask + QuadPanels - 1) / QuadPanels * QuadPanels;
            int tasks = (w.Panels + job.PanelsPerTask - 1) / job.PanelsPerTask;
            try
            {
                if (pool is null) for (int t = 0; t < tasks; t++) job.Execute(t);
                else pool.Run(job, tasks);
            }
            finally
            {
                job.W = null!;
                job.A = null!;
            }
        }
    }

    [ThreadStatic] static Job? t_job;

    sealed class Job : IParallelWork
    {
        public QuantizedActivations A = null!;
        public float* Y, Bias;
        public int Rows, PanelsPerTask;
        public PackedQuantMatrix W = null!;
        public Int8Path Path;

        public void Execute(int index)
        {
            if (W.Format == MatrixFormat.Q8) Execute<Q8Format>(index);
            else Execute<Q4Format>(index);
        }

        void Execute<TFmt>(int index) where TFmt : struct, IQuantFormat
        {
            switch (Path)
            {
                case Int8Path.AvxVnni: Run<Vector256<int>, Vector256<float>, VnniLanes, Lanes256, TFmt>(index); break;
                case Int8Path.Avx512: Run<Vector512<int>, Vector512<float>, Avx512Lanes, Lanes512, TFmt>(index); break;
                case Int8Path.Avx2: Run<Vector256<int>, Vector256<float>, Avx2Lanes, Lanes256, TFmt>(index); break;
                case Int8Path.Vector128: Run<Vector128<int>, Vector128<float>, PortableLanes, Lanes128, TFmt>(index); break;
                default: Run<int, float, ScalarInt8Lanes, LanesScalar, TFmt>(index); break;
            }
        }

        void Run<TI, TF, TL, TFL, TFmt>(int index)
            where TI : struct where TF : struct where TL : struct, IInt8Lanes<TI, TF> where TFL : struct, IBf16Lanes<TF> where TFmt : struct, IQuantFormat
        {
            int first = index * PanelsPerTask, end = Math.Min(first + PanelsPerTask, W.Panels);
            for (int p = first; p < end;)
            {
                if (Rows == 1 && p + QuadPanels <= end && (p + QuadPanels) * PanelWidth <= W.OutDim)
                {
                    SingleRow<TI, TF, TL, TFL, TFmt>(p);
                    p += QuadPanels;
                }
                else Panel<TI, TF, TL, TFL, TFmt>(p++);
            }
        }

        /// <summary>One row against four full panels (decode): four weight streams in flight, eight integer chains.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        void SingleRow<TI, TF, TL, TFL, TFmt>(int panel)
            where TI : struct where TF : struct where TL : struct, IInt8Lanes<TI, TF> where TFL : struct, IBf16Lanes<TF> where TFmt : struct, IQuantFormat
        {
            var w = W;
            long panelBytes = (long)w.Blocks * w.BlockBytes;
            byte* wp = w.Data + panel * panelBytes;
            float* acc = stackalloc float[QuadPanels * PanelWidth];
            var rows = new TileInput(A, 0, w.BlockBytes);
            for (int s = 0; s < 16 / TL.Count; s++) QuadTile<TI, TF, TL, TFL, TFmt>(wp, panelBytes, s, rows, acc);
            float* dst = Y + panel * PanelWidth;
            for (int c = 0; c < QuadPanels * PanelWidth; c++) dst[c] = Bias == null ? acc[c] : acc[c] + Bias[panel * PanelWidth + c];
        }

        /// <summary>All rows against one panel, in tiles of up to <see cref="MaxTileRows"/> rows.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        void Panel<TI, TF, TL, TFL, TFmt>(int panel)
            where TI : struct where TF : struct where TL : struct, IInt8Lanes<TI, TF> where TFL : struct, IBf16Lanes<TF> where TFmt : struct, IQuantFormat
        {
            var w = W;
            int col0 = panel * PanelWidth, cols = Math.Min(PanelWidth, w.OutDim - col0);
            byte* wp = w.Data + (long)panel * w.Blocks * w.BlockBytes;
            float* acc = stackalloc float[MaxTileRows * PanelWidth];
            int subTiles = 16 / TL.Count, maxRows = TileRows;
            for (int r0 = 0; r0 < Rows; r0 += maxRows)
            {
                int n = Math.Min(maxRows, Rows - r0);
                var rows = new TileInput(A, r0, w.BlockBytes);
                for (int s = 0; s < subTiles; s++)
                {
                    switch (n)
                    {
                        case 1: Tile<TI, TF, TL, TFL, TFmt, Rows1>(wp, s, rows, acc); break;
                        case 2: Tile<TI, TF, TL, TFL, TFmt, Rows2>(wp, s, rows, acc); break;
                        case 3: Tile<TI, TF, TL, TFL, TFmt, Rows3>(wp, s, rows, acc); break;
                        case 4: Tile<TI, TF, TL, TFL, TFmt, Rows4>(wp, s, rows, acc); break;
                        case 5: Tile<TI, TF, TL, TFL, TFmt, Rows5>(wp, s, rows, acc); break;
                        default: Tile<TI, TF, TL, TFL, TFmt, Rows6>(wp, s, rows, acc); break;
                    }
                }
                for (int r = 0; r < n; r++)
                {
                    float* dst = Y + (long)(r0 + r) * w.OutDim + col0, src = acc + r * PanelWidth;
                    if (Bias == null) new Span<float>(src, cols).CopyTo(new Span<float>(dst, cols));
                    else for (int c = 0; c < cols; c++) dst[c] = src[c] + Bias[col0 + c];
                }
            }
        }
    }

    /// <summary>
    /// Rows per tile: six where the ISA has 32 vector registers (AVX-512's EVEX encoding, which AVX-VNNI code gets too
    /// on such machines): 6 x (2 integer + 2 float) accumulators + codes + broadcast + scales = 29; three otherwise (16).
    /// </summary>
    static readonly int TileRows = System.Runtime.Intrinsics.X86.Avx512F.IsSupported || !System.Runtime.Intrinsics.X86.Avx.IsSupported ? 6 : 3;

    /// <summary>Where a tile's rows find their codes, scales and sums, and the panel's block stride.</summary>
    readonly struct TileInput(QuantizedActivations a, int firstRow, int blockBytes)
    {
        public readonly sbyte* Codes = a.Codes + (long)firstRow * a.Stride;
        public readonly float* Scales = a.Scales + (long)firstRow * a.Blocks;
        public readonly int* Sums = a.Sums + (long)firstRow * a.Blocks;
        public readonly int Stride = a.Stride, Blocks = a.Blocks, BlockBytes = blockBytes;
    }

    /// <summary>
    /// TR.N rows x columns [s*Count, +Count) and [16 + s*Count, +Count) over every block of a panel. Per block the
    /// integer accumulators start at -Offset * sum(x codes) and take eight quads of dots (a single row splits them over
    /// even and odd quads, two chains each, to cover the dot's latency; integer sums are exact in any order), then fold
    /// into the f32 accumulators: acc = fma(float(dot), xs * ws, acc). Results go to acc[r * 32 + column].
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Tile<TI, TF, TL, TFL, TFmt, TR>(byte* panel, int s, in TileInput rows, float* acc)
        where TI : struct where TF : struct where TL : struct, IInt8Lanes<TI, TF> where TFL : struct, IBf16Lanes<TF>
        where TFmt : struct, IQuantFormat where TR : struct, ITileRows
    {
        int off = TFmt.Offset, blocks = rows.Blocks, blockBytes = rows.BlockBytes, codeOffset = s * 4 * TL.Count;
        long stride = rows.Stride;
        TF f0l = default, f0h = default, f1l = default, f1h = default, f2l = default, f2h = default;
        TF f3l = default, f3h = default, f4l = default, f4h = default, f5l = default, f5h = default;
        sbyte* x0 = rows.Codes, x1 = x0 + stride, x2 = x1 + stride, x3 = x2 + stride, x4 = x3 + stride, x5 = x4 + stride;
        int* sums = rows.Sums;
        float* scales = rows.Scales;
        byte* block = panel;
        bool prefetch = s == 0 && System.Runtime.Intrinsics.X86.Sse.IsSupported && PrefetchAhead > 0;
        for (int b = 0; b < blocks; b++, block += blockBytes, x0 += BlockSize, x1 += BlockSize, x2 += BlockSize, x3 += BlockSize, x4 += BlockSize, x5 += BlockSize)
        {
            if (prefetch)
                for (int line = 0; line < blockBytes; line += 64) System.Runtime.Intrinsics.X86.Sse.Prefetch0(block + PrefetchAhead + line);
            TI l0 = TL.Splat(-off * sums[b]), h0 = l0, l1 = default, h1 = default, l2 = default, h2 = default;
            TI l3 = default, h3 = default, l4 = default, h4 = default, l5 = default, h5 = default;
            if (TR.N == 1)
            {
                // Second pair of chains for the odd quads (started at zero), summed into the first at the end.
                TI l0b = TL.Splat(0), h0b = l0b;
                for (int q = 0; q < 8; q += 2)
                {
                    TFmt.Load<TI, TF, TL>(block + q * TFmt.QuadBytes, s, out var wl, out var wh);
                    TFmt.Load<TI, TF, TL>(block + (q + 1) * TFmt.QuadBytes, s, out var vl, out var vh);
                    TI v = TL.BroadcastQuad(x0 + 4 * q), u = TL.BroadcastQuad(x0 + 4 * q + 4);
                    l0 = TL.Dot(l0, wl, v); h0 = TL.Dot(h0, wh, v);
                    l0b = TL.Dot(l0b, vl, u); h0b = TL.Dot(h0b, vh, u);
                }
                l0 = TL.Add(l0, l0b);
                h0 = TL.Add(h0, h0b);
            }
            else
            {
                if (TR.N > 1) { l1 = TL.Splat(-off * sums[blocks + b]); h1 = l1; }
                if (TR.N > 2) { l2 = TL.Splat(-off * sums[2 * blocks + b]); h2 = l2; }
                if (TR.N > 3) { l3 = TL.Splat(-off * sums[3 * blocks + b]); h3 = l3; }
                if (TR.N > 4) { l4 = TL.Splat(-off * sums[4 * blocks + b]); h4 = l4; }
                if (TR.N > 5) { l5 = TL.Splat(-off * sums[5 * blocks + b]); h5 = l5; }
                for (int q = 0; q < 8; q++)
                {
                    TFmt.Load<TI, TF, TL>(block + q * TFmt.QuadBytes, s, out var wl, out var wh);
                    TI v = TL.BroadcastQuad(x0 + 4 * q); l0 = TL.Dot(l0, wl, v); h0 = TL.Dot(h0, wh, v);
                    v = TL.BroadcastQuad(x1 + 4 * q); l1 = TL.Dot(l1, wl, v); h1 = TL.Dot(h1, wh, v);
                    if (TR.N > 2) { v = TL.BroadcastQuad(x2 + 4 * q); l2 = TL.Dot(l2, wl, v); h2 = TL.Dot(h2, wh, v); }
                    if (TR.N > 3) { v = TL.BroadcastQuad(x3 + 4 * q); l3 = TL.Dot(l3, wl, v); h3 = TL.Dot(h3, wh, v); }
                    if (TR.N > 4) { v = TL.BroadcastQuad(x4 + 4 * q); l4 = TL.Dot(l4, wl, v); h4 = TL.Dot(h4, wh, v); }
                    if (TR.N > 5) { v = TL.BroadcastQuad(x5 + 4 * q); l5 = TL.Dot(l5, wl, v); h5 = TL.Dot(h5, wh, v); }
                }
            }
            TFL.Widen((ushort*)(block + 8 * TFmt.QuadBytes) + s * 2 * TL.Count, out var sl, out var sh);
            Fold<TI, TF, TL, TFL>(l0, h0, sl, sh, scales[b], ref f0l, ref f0h);
            if (TR.N > 1) Fold<TI, TF, TL, TFL>(l1, h1, sl, sh, scales[blocks + b], ref f1l, ref f1h);
            if (TR.N > 2) Fold<TI, TF, TL, TFL>(l2, h2, sl, sh, scales[2 * blocks + b], ref f2l, ref f2h);
            if (TR.N > 3) Fold<TI, TF, TL, TFL>(l3, h3, sl, sh, scales[3 * blocks + b], ref f3l, ref f3h);
            if (TR.N > 4) Fold<TI, TF, TL, TFL>(l4, h4, sl, sh, scales[4 * blocks + b], ref f4l, ref f4h);
            if (TR.N > 5) Fold<TI, TF, TL, TFL>(l5, h5, sl, sh, scales[5 * blocks + b], ref f5l, ref f5h);
        }
        int lo = s * TL.Count, hi = 16 + lo;
        TFL.Store(f0l, acc + lo); TFL.Store(f0h, acc + hi);
        if (TR.N > 1) { acc += PanelWidth; TFL.Store(f1l, acc + lo); TFL.Store(f1h, acc + hi); }
        if (TR.N > 2) { acc += PanelWidth; TFL.Store(f2l, acc + lo); TFL.Store(f2h, acc + hi); }
        if (TR.N > 3) { acc += PanelWidth; TFL.Store(f3l, acc + lo); TFL.Store(f3h, acc + hi); }
        if (TR.N > 4) { acc += PanelWidth; TFL.Store(f4l, acc + lo); TFL.Store(f4h, acc + hi); }
        if (TR.N > 5) { acc += PanelWidth; TFL.Store(f5l, acc + lo); TFL.Store(f5h, acc + hi); }
    }

    /// <summary>
    /// One row x four consecutive panels, columns [s*Count, +Count) and [16 + s*Count, +Count) of each: the same
    /// per-element arithmetic as <see cref="Tile"/>, written to acc[p * 32 + column]. No software prefetch: four streams
    /// keep the hardware prefetcher ahead (measured on the Zen 5 VM: prefetching 2-24 KB ahead cost 5-20%).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void QuadTile<TI, TF, TL, TFL, TFmt>(byte* panel, long panelBytes, int s, in TileInput rows, float* acc)
        where TI : struct where TF : struct where TL : struct, IInt8Lanes<TI, TF> where TFL : struct, IBf16Lanes<TF>
        where TFmt : struct, IQuantFormat
    {
        int off = TFmt.Offset, blocks = rows.Blocks, blockBytes = rows.BlockBytes;
        TF f0l = default, f0h = default, f1l = default, f1h = default, f2l = default, f2h = default, f3l = default, f3h = default;
        sbyte* x = rows.Codes;
        byte* b0 = panel, b1 = panel + panelBytes, b2 = b1 + panelBytes, b3 = b2 + panelBytes;
        for (int b = 0; b < blocks; b++, x += BlockSize, b0 += blockBytes, b1 += blockBytes, b2 += blockBytes, b3 += blockBytes)
        {
            TI l0 = TL.Splat(-off * rows.Sums[b]), h0 = l0, l1 = l0, h1 = l0, l2 = l0, h2 = l0, l3 = l0, h3 = l0;
            for (int q = 0; q < 8; q++)
            {
                TI v = TL.BroadcastQuad(x + 4 * q);
                int at = q * TFmt.QuadBytes;
                TFmt.Load<TI, TF, TL>(b0 + at, s, out var wl, out var wh); l0 = TL.Dot(l0, wl, v); h0 = TL.Dot(h0, wh, v);
                TFmt.Load<TI, TF, TL>(b1 + at, s, out wl, out wh); l1 = TL.Dot(l1, wl, v); h1 = TL.Dot(h1, wh, v);
                TFmt.Load<TI, TF, TL>(b2 + at, s, out wl, out wh); l2 = TL.Dot(l2, wl, v); h2 = TL.Dot(h2, wh, v);
                TFmt.Load<TI, TF, TL>(b3 + at, s, out wl, out wh); l3 = TL.Dot(l3, wl, v); h3 = TL.Dot(h3, wh, v);
            }
            float xs = rows.Scales[b];
            int sc = 8 * TFmt.QuadBytes;
            TFL.Widen((ushort*)(b0 + sc) + s * 2 * TL.Count, out var sl, out var sh); Fold<TI, TF, TL, TFL>(l0, h0, sl, sh, xs, ref f0l, ref f0h);
            TFL.Widen((ushort*)(b1 + sc) + s * 2 * TL.Count, out sl, out sh); Fold<TI, TF, TL, TFL>(l1, h1, sl, sh, xs, ref f1l, ref f1h);
            TFL.Widen((ushort*)(b2 + sc) + s * 2 * TL.Count, out sl, out sh); Fold<TI, TF, TL, TFL>(l2, h2, sl, sh, xs, ref f2l, ref f2h);
            TFL.Widen((ushort*)(b3 + sc) + s * 2 * TL.Count, out sl, out sh); Fold<TI, TF, TL, TFL>(l3, h3, sl, sh, xs, ref f3l, ref f3h);
        }
        int lo = s * TL.Count, hi = 16 + lo;
        TFL.Store(f0l, acc + lo); TFL.Store(f0h, acc + hi);
        acc += PanelWidth; TFL.Store(f1l, acc + lo); TFL.Store(f1h, acc + hi);
        acc += PanelWidth; TFL.Store(f2l, acc + lo); TFL.Store(f2h, acc + hi);
        acc += PanelWidth; TFL.Store(f3l, acc + lo); TFL.Store(f3h, acc + hi);
    }

    /// <summary>f = fma(float(dot), xs * ws, f) for one row's two vectors of columns.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Fold<TI, TF, TL, TFL>(TI dotLo, TI dotHi, TF scaleLo, TF scaleHi, float xs, ref TF lo, ref TF hi)
        where TI : struct where TF : struct where TL : struct, IInt8Lanes<TI, TF> where TFL : struct, IBf16Lanes<TF>
    {
        TF x = TFL.Broadcast(xs);
        lo = TFL.FusedMultiplyAdd(TL.ToFloat(dotLo), TFL.Multiply(x, scaleLo), lo);
        hi = TFL.FusedMultiplyAdd(TL.ToFloat(dotHi), TFL.Multiply(x, scaleHi), hi);
    }
}

using System.Numerics.Tensors;
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
/// bit-identical to the scalar reference and a row's output never depends on the rows beside it. Two tiles: one row
/// against one panel, all 32 columns per block (<see cref="RowTile"/>, decode), and up to <see cref="MaxTileRows"/> rows
/// x two vectors of columns (<see cref="Tile"/>); per quad of k each loads the codes once and does one integer dot per
/// row and vector. Panels are split across the <see cref="WorkerPool"/>.
/// </para>
/// </summary>
public static unsafe class MatMulQuantized
{
    const int PanelWidth = PackedQuantMatrix.PanelWidth, BlockSize = PackedQuantMatrix.BlockSize;
    const int MaxTileRows = 6;
    /// <summary>Software prefetch distance in bytes: as for the bf16 tile, one weight stream per core needs lines requested
    /// ahead of the hardware prefetcher to reach the bandwidth a GEMV is bound by.</summary>
    const int PrefetchAhead = 6144;

    public static void Multiply(ReadOnlySpan<float> x, int rows, PackedQuantMatrix w, ReadOnlySpan<float> bias, Span<float> y, WorkerPool? pool, Int8Path path)
    {
        if (rows <= 0) return;
        w.CheckMultiply(x, rows, bias, y);
        var activations = QuantizedActivations.ForThisThread;
        var job = t_job ??= new Job();
        fixed (float* xp = x, yp = y, bp = bias)
        {
            activations.Quantize(xp, rows, w.InDim, w.InDim, StartOffsets.Of(w.Format, path), pool);
            job.A = activations;
            job.Y = yp;
            job.Bias = bias.IsEmpty ? null : bp;
            job.Rows = rows;
            job.W = w;
            job.Path = path;
            try
            {
                job.Split.Run(job, w.Panels, granule: 1, streams: rows <= RowTileRows(w.Format), pool);
            }
            finally
            {
                job.W = null!;
                job.A = null!;
            }
        }
    }

    [ThreadStatic] static Job? t_job;

    sealed class Job : IPanelWork
    {
        public readonly PanelSplit Split = new();
        public QuantizedActivations A = null!;
        public float* Y, Bias;
        public int Rows;
        public PackedQuantMatrix W = null!;
        public Int8Path Path;

        public void RunPanels(int first, int end)
        {
            if (W.Format == MatrixFormat.Q8) RunPanels<Q8Format>(first, end);
            else RunPanels<Q4Format>(first, end);
        }

        void RunPanels<TFmt>(int first, int end) where TFmt : struct, IQuantFormat
        {
            switch (Path)
            {
                case Int8Path.AvxVnni: Run<Vector256<int>, Vector256<float>, VnniLanes, Lanes256, TFmt>(first, end); break;
                case Int8Path.Avx512: Run<Vector512<int>, Vector512<float>, Avx512Lanes, Lanes512, TFmt>(first, end); break;
                case Int8Path.Avx2: Run<Vector256<int>, Vector256<float>, Avx2Lanes, Lanes256, TFmt>(first, end); break;
                case Int8Path.Vector128: Run<Vector128<int>, Vector128<float>, PortableLanes, Lanes128, TFmt>(first, end); break;
                case Int8Path.ArmDp: Run<Vector128<int>, Vector128<float>, DpLanes, Lanes128, TFmt>(first, end); break;
                default: Run<int, float, ScalarInt8Lanes, LanesScalar, TFmt>(first, end); break;
            }
        }

        void Run<TI, TF, TL, TFL, TFmt>(int first, int end)
            where TI : struct where TF : struct where TL : struct, IInt8Lanes<TI, TF> where TFL : struct, IBf16Lanes<TF> where TFmt : struct, IQuantFormat
        {
            bool rowTile = Rows <= TFmt.RowTileRows && TL.Count >= 8;
            for (int p = first; p < end; p++)
            {
                if (!rowTile || (p + 1) * PanelWidth > W.OutDim) Panel<TI, TF, TL, TFL, TFmt>(p);
                else if (Rows == 1) RowPanel<TI, TF, TL, TFL, TFmt, Rows1>(p);
                else if (Rows == 2) RowPanel<TI, TF, TL, TFL, TFmt, Rows2>(p);
                else if (Rows == 3) RowPanel<TI, TF, TL, TFL, TFmt, Rows3>(p);
                else RowPanel<TI, TF, TL, TFL, TFmt, Rows4>(p);
            }
        }

        /// <summary>One to four rows against one full panel (decode): see <see cref="RowTile"/>.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        void RowPanel<TI, TF, TL, TFL, TFmt, TR>(int panel)
            where TI : struct where TF : struct where TL : struct, IInt8Lanes<TI, TF> where TFL : struct, IBf16Lanes<TF>
            where TFmt : struct, IQuantFormat where TR : struct, ITileRows
        {
            var w = W;
            float* acc = stackalloc float[TR.N * PanelWidth];
            RowTile<TI, TF, TL, TFL, TFmt, TR>(w.Data + (long)panel * w.Blocks * w.BlockBytes, new TileInput(A, 0, w.BlockBytes), acc);
            for (int r = 0; r < TR.N; r++) StoreRow(acc + r * PanelWidth, Y + (long)r * w.OutDim + panel * PanelWidth, panel * PanelWidth, PanelWidth);
        }

        /// <summary>One row of a panel's results from the tile's accumulators to y, plus the bias (vectorized: measured 3% of a
        /// 256-row q8 pass as a scalar loop).</summary>
        void StoreRow(float* src, float* dst, int col0, int cols)
        {
            if (Bias == null) new ReadOnlySpan<float>(src, cols).CopyTo(new Span<float>(dst, cols));
            else TensorPrimitives.Add(new ReadOnlySpan<float>(src, cols), new ReadOnlySpan<float>(Bias + col0, cols), new Span<float>(dst, cols));
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
            // Tiles of equal height (8 rows: 4 + 4, not 6 + 2): a short last tile costs a whole pass over the panel.
            int subTiles = 16 / TL.Count, tiles = (Rows + TileRows - 1) / TileRows, height = (Rows + tiles - 1) / tiles;
            for (int r0 = 0; r0 < Rows; r0 += height)
            {
                int n = Math.Min(height, Rows - r0);
                var rows = new TileInput(A, r0, w.BlockBytes);
                new Span<float>(acc, n * PanelWidth).Clear();
                for (int s = 0; s < subTiles; s++)
                {
                    switch (n)
                    {
                        case 1: Tile<TI, TF, TL, TFL, TFmt, Rows1>(wp, s, r0 == 0 && s == 0, rows, acc); break;
                        case 2: Tile<TI, TF, TL, TFL, TFmt, Rows2>(wp, s, r0 == 0 && s == 0, rows, acc); break;
                        case 3: Tile<TI, TF, TL, TFL, TFmt, Rows3>(wp, s, r0 == 0 && s == 0, rows, acc); break;
                        case 4: Tile<TI, TF, TL, TFL, TFmt, Rows4>(wp, s, r0 == 0 && s == 0, rows, acc); break;
                        case 5: Tile<TI, TF, TL, TFL, TFmt, Rows5>(wp, s, r0 == 0 && s == 0, rows, acc); break;
                        default: Tile<TI, TF, TL, TFL, TFmt, Rows6>(wp, s, r0 == 0 && s == 0, rows, acc); break;
                    }
                }
                for (int r = 0; r < n; r++) StoreRow(acc + r * PanelWidth, Y + (long)(r0 + r) * w.OutDim + col0, col0, cols);
            }
        }
    }

    /// <summary>
    /// Rows per tile: six where there are 32 vector registers (AVX-512 machines, ARM64): 12 integer accumulators + codes
    /// + broadcast, and room for the AVX2 / portable dots' four temporaries; three on 16-register machines (counted, not
    /// measured: none was at hand), where six rows would spill once those temporaries are live.
    /// </summary>
    static readonly int TileRows = ManyRegisters ? 6 : 3;

    /// <summary>32 vector registers (x64 with AVX-512's EVEX encoding, or ARM64), else 16.</summary>
    static bool ManyRegisters => System.Runtime.Intrinsics.X86.Avx512F.IsSupported || !System.Runtime.Intrinsics.X86.Avx.IsSupported;

    /// <summary>Where a tile's rows find their codes and block values (the next block's Meta + MetaStride), and the panel's block stride.</summary>
    readonly struct TileInput(QuantizedActivations a, int firstRow, int blockBytes)
    {
        public readonly sbyte* Codes = a.Codes + (long)firstRow * a.Stride;
        public readonly BlockMeta* Meta = a.Meta + firstRow;
        public readonly int Stride = a.Stride, Blocks = a.Blocks, BlockBytes = blockBytes, MetaStride = a.Rows;
    }

    /// <summary>
    /// TR.N rows x columns [s*Count, +Count) and [16 + s*Count, +Count) over every block of a panel. Per block the
    /// integer accumulators start at the row's start value (-offset x sum(x codes), <see cref="BlockMeta"/>) and take eight quads of dots (a single row splits them over
    /// even and odd quads, two chains each, to cover the dot's latency; integer sums are exact in any order), then fold
    /// into the f32 accumulators: acc = fma(float(dot), xs * ws, acc), kept in acc[r * 32 + column] (L1, zeroed by the
    /// caller) so that the twelve integer accumulators, the codes and the broadcast fit in 16 vector registers: VPDPBUSD
    /// here is the VEX form, which cannot name registers 16-31, and the JIT copies any accumulator held there in and
    /// out around every dot (measured: two moves a dot with the f32 accumulators in registers).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Tile<TI, TF, TL, TFL, TFmt, TR>(byte* panel, int s, bool firstPass, in TileInput rows, float* acc)
        where TI : struct where TF : struct where TL : struct, IInt8Lanes<TI, TF> where TFL : struct, IBf16Lanes<TF>
        where TFmt : struct, IQuantFormat where TR : struct, ITileRows
    {
        int blocks = rows.Blocks, blockBytes = rows.BlockBytes, metaStride = rows.MetaStride;
        long stride = rows.Stride;
        TF highScale = TFL.Broadcast(TFmt.HighScale);
        int lo = s * TL.Count, hi = 16 + lo;
        sbyte* x0 = rows.Codes;
        BlockMeta* m = rows.Meta;
        byte* block = panel;
        // Only the first pass over a panel reads it from memory; later ones find it in L2.
        bool prefetch = firstPass && System.Runtime.Intrinsics.X86.Sse.IsSupported;
        for (int b = 0; b < blocks; b++, block += blockBytes, x0 += BlockSize, m += metaStride)
        {
            if (prefetch)
                for (int line = 0; line < blockBytes; line += 64) System.Runtime.Intrinsics.X86.Sse.Prefetch0(block + PrefetchAhead + line);
            TI l0 = TL.Splat(m[0].LowStart), h0 = TL.Splat(m[0].HighStart), l1 = default, h1 = default, l2 = default, h2 = default;
            TI l3 = default, h3 = default, l4 = default, h4 = default, l5 = default, h5 = default;
            byte* w = block + s * 4 * TL.Count;
            if (TR.N == 1)
            {
                // Second pair of chains for the odd quads (started at zero), summed into the first at the end.
                TI l0b = TL.Splat(0), h0b = l0b;
                sbyte* x = x0;
                for (int q = 0; q < 8; q += 2, w += 2 * TFmt.QuadBytes, x += 8)
                {
                    TFmt.Load<TI, TF, TL>(w, out var wl, out var wh);
                    TFmt.Load<TI, TF, TL>(w + TFmt.QuadBytes, out var vl, out var vh);
                    TI v = TL.BroadcastQuad(x), u = TL.BroadcastQuad(x + 4);
                    l0 = TL.Dot(l0, wl, v); h0 = TL.Dot(h0, wh, v);
                    l0b = TL.Dot(l0b, vl, u); h0b = TL.Dot(h0b, vh, u);
                }
                l0 = TL.Add(l0, l0b);
                h0 = TL.Add(h0, h0b);
            }
            else
            {
                l1 = TL.Splat(m[1].LowStart); h1 = TL.Splat(m[1].HighStart);
                if (TR.N > 2) { l2 = TL.Splat(m[2].LowStart); h2 = TL.Splat(m[2].HighStart); }
                if (TR.N > 3) { l3 = TL.Splat(m[3].LowStart); h3 = TL.Splat(m[3].HighStart); }
                if (TR.N > 4) { l4 = TL.Splat(m[4].LowStart); h4 = TL.Splat(m[4].HighStart); }
                if (TR.N > 5) { l5 = TL.Splat(m[5].LowStart); h5 = TL.Splat(m[5].HighStart); }
                sbyte* x = x0;
                for (int q = 0; q < 8; q++, w += TFmt.QuadBytes, x += 4)
                {
                    TFmt.Load<TI, TF, TL>(w, out var wl, out var wh);
                    TI v = TL.BroadcastQuad(x); l0 = TL.Dot(l0, wl, v); h0 = TL.Dot(h0, wh, v);
                    v = TL.BroadcastQuad(x + stride); l1 = TL.Dot(l1, wl, v); h1 = TL.Dot(h1, wh, v);
                    if (TR.N > 2) { v = TL.BroadcastQuad(x + 2 * stride); l2 = TL.Dot(l2, wl, v); h2 = TL.Dot(h2, wh, v); }
                    if (TR.N > 3) { v = TL.BroadcastQuad(x + 3 * stride); l3 = TL.Dot(l3, wl, v); h3 = TL.Dot(h3, wh, v); }
                    if (TR.N > 4) { v = TL.BroadcastQuad(x + 4 * stride); l4 = TL.Dot(l4, wl, v); h4 = TL.Dot(h4, wh, v); }
                    if (TR.N > 5) { v = TL.BroadcastQuad(x + 5 * stride); l5 = TL.Dot(l5, wl, v); h5 = TL.Dot(h5, wh, v); }
                }
            }
            if (TFmt.CombinedLow)
            {
                l0 = TL.Subtract(l0, h0);
                if (TR.N > 1) l1 = TL.Subtract(l1, h1);
                if (TR.N > 2) l2 = TL.Subtract(l2, h2);
                if (TR.N > 3) l3 = TL.Subtract(l3, h3);
                if (TR.N > 4) l4 = TL.Subtract(l4, h4);
                if (TR.N > 5) l5 = TL.Subtract(l5, h5);
            }
            TFL.Widen((ushort*)(block + 8 * TFmt.QuadBytes) + s * 2 * TL.Count, out var sl, out var sh);
            sh = TFL.Multiply(sh, highScale);
            FoldInto<TI, TF, TL, TFL>(l0, h0, sl, sh, &m[0].Scale, acc + lo);
            if (TR.N > 1) FoldInto<TI, TF, TL, TFL>(l1, h1, sl, sh, &m[1].Scale, acc + PanelWidth + lo);
            if (TR.N > 2) FoldInto<TI, TF, TL, TFL>(l2, h2, sl, sh, &m[2].Scale, acc + 2 * PanelWidth + lo);
            if (TR.N > 3) FoldInto<TI, TF, TL, TFL>(l3, h3, sl, sh, &m[3].Scale, acc + 3 * PanelWidth + lo);
            if (TR.N > 4) FoldInto<TI, TF, TL, TFL>(l4, h4, sl, sh, &m[4].Scale, acc + 4 * PanelWidth + lo);
            if (TR.N > 5) FoldInto<TI, TF, TL, TFL>(l5, h5, sl, sh, &m[5].Scale, acc + 5 * PanelWidth + lo);
        }
    }

    /// <summary>Up to the format's <see cref="IQuantFormat.RowTileRows"/> rows take <see cref="RowTile"/> (and the panel
    /// split's streams): a GEMV's shape, bound by the weight stream.</summary>
    static int RowTileRows(MatrixFormat format) => format == MatrixFormat.Q8 ? Q8Format.RowTileRows : Q4Format.RowTileRows;

    /// <summary>
    /// One to four rows x one panel (decode), all 32 columns in one sweep: per quad each code byte is loaded once and
    /// dotted with every row, so a task's run of panels is one sequential stream. Measured on the Zen 5 VM (2 threads,
    /// 7680x2560 and 2560x7680): q8 88-90 GB/s and q4 81 GB/s this way for one row, against 78-87 / 69-83 with four panels
    /// as four streams and 60-80 with a second pass over the panel for the other half of the columns (memory idles during
    /// it); software prefetch only cost. Two to four rows took the 6-row tile before, with four to eight dependent dot
    /// chains and two passes per panel: the 2B's layer matrices in sequence read 46 / 47 (q4, 2 / 3 rows) and 67 / 62 / 58
    /// (q8, 2-4 rows) GB/s there, 62 / 47 and 78 / 73-78 / 73-76 here. Integer accumulators live in registers: one row
    /// splits even and odd quads into two chains each (summed at the end: exact) to cover the dot's latency, more rows
    /// have a chain each (four rows hold sixteen: the JIT keeps VNNI accumulators in ymm0-15 and copies the two that do not
    /// fit in and out around each dot); the f32 ones in acc (L1), folded once per block with the same per-element
    /// arithmetic as <see cref="Tile"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void RowTile<TI, TF, TL, TFL, TFmt, TR>(byte* panel, in TileInput rows, float* acc)
        where TI : struct where TF : struct where TL : struct, IInt8Lanes<TI, TF> where TFL : struct, IBf16Lanes<TF>
        where TFmt : struct, IQuantFormat where TR : struct, ITileRows
    {
        int blocks = rows.Blocks, blockBytes = rows.BlockBytes, half = 4 * TL.Count;
        long stride = rows.Stride;
        bool two = TL.Count == 8;   // 256-bit lanes: two vector pairs per 32 columns; 512-bit: one (narrower paths use Tile)
        TF highScale = TFL.Broadcast(TFmt.HighScale);
        new Span<float>(acc, TR.N * PanelWidth).Clear();
        sbyte* x = rows.Codes;
        BlockMeta* m = rows.Meta;
        byte* block = panel;
        for (int b = 0; b < blocks; b++, x += BlockSize, block += blockBytes, m += rows.MetaStride)
        {
            // Row 0: a, b (first vector pair), c, d (second); chains ...1 are row 1's, or row 0's odd quads (started at zero);
            // chains ...2 and ...3 are rows 2 and 3's. Three or four rows broadcast their codes again for the second pair.
            TI a0 = TL.Splat(m[0].LowStart), b0 = TL.Splat(m[0].HighStart), c0 = a0, d0 = b0;
            TI a1 = TL.Splat(TR.N >= 2 ? m[1].LowStart : 0), b1 = TL.Splat(TR.N >= 2 ? m[1].HighStart : 0), c1 = a1, d1 = b1;
            TI a2 = default, b2 = default, c2 = default, d2 = default, a3 = default, b3 = default, c3 = default, d3 = default;
            if (TR.N >= 3) { a2 = TL.Splat(m[2].LowStart); b2 = TL.Splat(m[2].HighStart); c2 = a2; d2 = b2; }
            if (TR.N >= 4) { a3 = TL.Splat(m[3].LowStart); b3 = TL.Splat(m[3].HighStart); c3 = a3; d3 = b3; }
            byte* w = block;
            sbyte* xq = x;
            if (TR.N == 1)
            {
                for (int q = 0; q < 8; q += 2, w += 2 * TFmt.QuadBytes, xq += 8)
                {
                    TI v = TL.BroadcastQuad(xq), u = TL.BroadcastQuad(xq + 4);
                    TFmt.Load<TI, TF, TL>(w, out var wl, out var wh); a0 = TL.Dot(a0, wl, v); b0 = TL.Dot(b0, wh, v);
                    TFmt.Load<TI, TF, TL>(w + TFmt.QuadBytes, out wl, out wh); a1 = TL.Dot(a1, wl, u); b1 = TL.Dot(b1, wh, u);
                    if (two)
                    {
                        TFmt.Load<TI, TF, TL>(w + half, out wl, out wh); c0 = TL.Dot(c0, wl, v); d0 = TL.Dot(d0, wh, v);
                        TFmt.Load<TI, TF, TL>(w + TFmt.QuadBytes + half, out wl, out wh); c1 = TL.Dot(c1, wl, u); d1 = TL.Dot(d1, wh, u);
                    }
                }
                TI lo0 = TL.Add(a0, a1), hi0 = TL.Add(b0, b1), lo1 = TL.Add(c0, c1), hi1 = TL.Add(d0, d1);
                FoldPanel<TI, TF, TL, TFL, TFmt>(lo0, hi0, lo1, hi1, two, block + 8 * TFmt.QuadBytes, &m[0].Scale, highScale, acc);
            }
            else
            {
                for (int q = 0; q < 8; q++, w += TFmt.QuadBytes, xq += 4)
                {
                    TI v = TL.BroadcastQuad(xq), u = TL.BroadcastQuad(xq + stride);
                    TFmt.Load<TI, TF, TL>(w, out var wl, out var wh);
                    a0 = TL.Dot(a0, wl, v); b0 = TL.Dot(b0, wh, v); a1 = TL.Dot(a1, wl, u); b1 = TL.Dot(b1, wh, u);
                    if (TR.N >= 3) { TI t = TL.BroadcastQuad(xq + 2 * stride); a2 = TL.Dot(a2, wl, t); b2 = TL.Dot(b2, wh, t); }
                    if (TR.N >= 4) { TI t = TL.BroadcastQuad(xq + 3 * stride); a3 = TL.Dot(a3, wl, t); b3 = TL.Dot(b3, wh, t); }
                    if (two)
                    {
                        TFmt.Load<TI, TF, TL>(w + half, out wl, out wh);
                        if (TR.N >= 3)
                        {
                            v = TL.BroadcastQuad(xq); u = TL.BroadcastQuad(xq + stride);
                        }
                        c0 = TL.Dot(c0, wl, v); d0 = TL.Dot(d0, wh, v); c1 = TL.Dot(c1, wl, u); d1 = TL.Dot(d1, wh, u);
                        if (TR.N >= 3) { TI t = TL.BroadcastQuad(xq + 2 * stride); c2 = TL.Dot(c2, wl, t); d2 = TL.Dot(d2, wh, t); }
                        if (TR.N >= 4) { TI t = TL.BroadcastQuad(xq + 3 * stride); c3 = TL.Dot(c3, wl, t); d3 = TL.Dot(d3, wh, t); }
                    }
                }
                FoldPanel<TI, TF, TL, TFL, TFmt>(a0, b0, c0, d0, two, block + 8 * TFmt.QuadBytes, &m[0].Scale, highScale, acc);
                FoldPanel<TI, TF, TL, TFL, TFmt>(a1, b1, c1, d1, two, block + 8 * TFmt.QuadBytes, &m[1].Scale, highScale, acc + PanelWidth);
                if (TR.N >= 3) FoldPanel<TI, TF, TL, TFL, TFmt>(a2, b2, c2, d2, two, block + 8 * TFmt.QuadBytes, &m[2].Scale, highScale, acc + 2 * PanelWidth);
                if (TR.N >= 4) FoldPanel<TI, TF, TL, TFL, TFmt>(a3, b3, c3, d3, two, block + 8 * TFmt.QuadBytes, &m[3].Scale, highScale, acc + 3 * PanelWidth);
            }
        }
    }

    /// <summary>One row's block of dots for one panel folded into its 32 f32 accumulators in memory (columns lo, 16 + lo for
    /// each vector pair), after the format's low-half correction.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void FoldPanel<TI, TF, TL, TFL, TFmt>(TI lo0, TI hi0, TI lo1, TI hi1, bool two, byte* scales, float* xs, TF highScale, float* acc)
        where TI : struct where TF : struct where TL : struct, IInt8Lanes<TI, TF> where TFL : struct, IBf16Lanes<TF> where TFmt : struct, IQuantFormat
    {
        if (TFmt.CombinedLow) { lo0 = TL.Subtract(lo0, hi0); lo1 = TL.Subtract(lo1, hi1); }
        TFL.Widen((ushort*)scales, out var sl, out var sh);
        FoldInto<TI, TF, TL, TFL>(lo0, hi0, sl, TFL.Multiply(sh, highScale), xs, acc);
        if (two)
        {
            TFL.Widen((ushort*)scales + 2 * TL.Count, out sl, out sh);
            FoldInto<TI, TF, TL, TFL>(lo1, hi1, sl, TFL.Multiply(sh, highScale), xs, acc + TL.Count);
        }
    }

    /// <summary>
    /// acc = fma(float(dot), xs * ws, acc) for one row's two vectors of columns: the low one at <paramref name="acc"/>,
    /// the high one 16 columns on (one base pointer, so the JIT addresses both by displacement), xs broadcast from memory.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void FoldInto<TI, TF, TL, TFL>(TI dotLo, TI dotHi, TF scaleLo, TF scaleHi, float* xs, float* acc)
        where TI : struct where TF : struct where TL : struct, IInt8Lanes<TI, TF> where TFL : struct, IBf16Lanes<TF>
    {
        TF x = TFL.Broadcast(*xs);
        TFL.Store(TFL.FusedMultiplyAdd(TL.ToFloat(dotLo), TFL.Multiply(x, scaleLo), TFL.Load(acc)), acc);
        TFL.Store(TFL.FusedMultiplyAdd(TL.ToFloat(dotHi), TFL.Multiply(x, scaleHi), TFL.Load(acc + 16)), acc + 16);
    }
}

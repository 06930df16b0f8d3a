using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using RecurrentGemma.Kernels.Parallel;

namespace RecurrentGemma.Kernels.MatMul;

/// <summary>
/// y[r, o] = sum_k x[r, k] * W[o, k] + bias[o], W bf16 in <see cref="PackedBf16Matrix"/> panels, x and y f32.
/// <para>
/// Two register tiles: one or two rows x four panels (decode: four weight streams keep a GEMV on bandwidth), and up to
/// 8 rows x one panel (32 columns), i.e. 16 zmm accumulators fed by one 64-byte weight load and 8 broadcasts per k, for
/// every larger row count (batched decode, prefill). Panels are split across the <see cref="WorkerPool"/>.
/// </para>
/// <para>
/// Every output element is accumulated the same way on every path: acc = fma(x[k], w[k], acc) for k = 0, 1, ... in
/// order, then + bias. So the result is bit-identical across vector widths, row tilings and thread counts, and equal
/// to the scalar loop — a row's output never depends on which other rows share the batch.
/// </para>
/// </summary>
public static unsafe class MatMulBf16
{
    const int PanelWidth = PackedBf16Matrix.PanelWidth;
    const int MaxTileRows = 8;
    /// <summary>Up to this many rows (decode), four panels go through one tile: 8-16 independent FMA chains and four
    /// weight streams in flight, where one panel alone would leave a GEMV bound by FMA latency instead of bandwidth.</summary>
    const int MaxQuadRows = 2, QuadPanels = 4;
    /// <summary>
    /// The 8-row tile reads one weight stream per core, which the hardware prefetcher alone keeps at about half the
    /// bandwidth a batch of 3-64 rows needs to stay on the FMA units; a software prefetch this far ahead (6 KB, about the
    /// latency x bandwidth of one core's share of memory) keeps enough lines in flight. Measured on the Zen 5 VM: batch 8
    /// 63.6 -> 83.4 tok/s, batch 64 80.5 -> 87.7, prefill unchanged; it replaced a two-panel tile for 3-32 rows that had
    /// worked around the same limit with two streams.
    /// </summary>
    const int PrefetchAhead = 96 * PanelWidth;
    static readonly float[] ZeroBias = GC.AllocateArray<float>(QuadPanels * PanelWidth, pinned: true);
    static readonly float* ZeroBiasPointer = (float*)System.Runtime.CompilerServices.Unsafe.AsPointer(ref ZeroBias[0]);

    public static void Multiply(ReadOnlySpan<float> x, int rows, PackedBf16Matrix w, ReadOnlySpan<float> bias, Span<float> y, WorkerPool? pool = null) =>
        Multiply(x, rows, w, bias, y, pool, Simd.Best);

    public static void Multiply(ReadOnlySpan<float> x, int rows, PackedBf16Matrix w, ReadOnlySpan<float> bias, Span<float> y, WorkerPool? pool, SimdWidth width)
    {
        if (rows <= 0) return;
        w.CheckMultiply(x, rows, bias, y);
        var job = t_job ??= new Job();
        fixed (float* xp = x, yp = y, bp = bias)
        {
            job.X = xp;
            job.Y = yp;
            job.Bias = bias.IsEmpty ? null : bp;
            job.Rows = rows;
            job.W = w;
            job.Width = width;
            bool quads = rows <= MaxQuadRows;
            try
            {
                job.Split.Run(job, w.Panels, granule: quads ? QuadPanels : 1, streams: quads, pool);
            }
            finally
            {
                job.W = null!;
            }
        }
    }

    [ThreadStatic] static Job? t_job;

    sealed class Job : IPanelWork
    {
        public readonly PanelSplit Split = new();
        public float* X, Y, Bias;
        public int Rows;
        public PackedBf16Matrix W = null!;
        public SimdWidth Width;

        public void RunPanels(int first, int end)
        {
            switch (Width)
            {
                case SimdWidth.Vector512: Run<Vector512<float>, Lanes512>(first, end); break;
                case SimdWidth.Vector256: Run<Vector256<float>, Lanes256>(first, end); break;
                case SimdWidth.Vector128: Run<Vector128<float>, Lanes128>(first, end); break;
                default: Run<float, LanesScalar>(first, end); break;
            }
        }

        /// <summary>A run of panels, each through the tile that suits the row count.</summary>
        void Run<TV, TL>(int first, int end) where TV : struct where TL : struct, IBf16Lanes<TV>
        {
            bool quads = Rows <= MaxQuadRows;
            for (int p = first; p < end;)
            {
                if (quads && CanRun(p, end, QuadPanels))
                {
                    Quad<TV, TL>(p);
                    p += QuadPanels;
                }
                else Panel<TV, TL>(p++);
            }
        }

        /// <summary>n full panels of one group (so they share x and contiguous y columns).</summary>
        bool CanRun(int p, int end, int n)
        {
            int ppg = W.PanelsPerGroup, last = p + n - 1;
            return last < end && p / ppg == last / ppg && (last % ppg + 1) * PanelWidth <= W.OutPerGroup;
        }

        /// <summary>Where a run of full panels starting at <paramref name="panel"/> reads and writes.</summary>
        void Locate(int panel, out ushort* wp, out float* x, out float* y, out float* bias)
        {
            var w = W;
            int g = panel / w.PanelsPerGroup, col0 = panel % w.PanelsPerGroup * PanelWidth;
            wp = w.Data + (long)panel * w.InPerGroup * PanelWidth;
            x = X + (long)g * w.InPerGroup;
            y = Y + (long)g * w.OutPerGroup + col0;
            bias = Bias != null ? Bias + (long)g * w.OutPerGroup + col0 : ZeroBiasPointer;
        }

        void Quad<TV, TL>(int panel) where TV : struct where TL : struct, IBf16Lanes<TV>
        {
            var w = W;
            int k = w.InPerGroup;
            Locate(panel, out var wp, out var x, out var y, out var bias);
            for (int s = 0; s < PanelWidth / (2 * TL.Count); s++)
            {
                if (Rows == 1) QuadTile<TV, TL, Rows1>(x, w.InDim, wp + s * 2 * TL.Count, k, bias, y, w.OutDim, s * TL.Count);
                else QuadTile<TV, TL, Rows2>(x, w.InDim, wp + s * 2 * TL.Count, k, bias, y, w.OutDim, s * TL.Count);
            }
        }

        /// <summary>All rows against one panel, in tiles of up to 8 rows. A partial last panel goes through scratch.</summary>
        void Panel<TV, TL>(int panel) where TV : struct where TL : struct, IBf16Lanes<TV>
        {
            var w = W;
            int g = panel / w.PanelsPerGroup, col0 = panel % w.PanelsPerGroup * PanelWidth, k = w.InPerGroup;
            int cols = Math.Min(PanelWidth, w.OutPerGroup - col0);
            ushort* wp = w.Data + (long)panel * k * PanelWidth;
            float* x = X + (long)g * k;
            long ldx = w.InDim, ldy = w.OutDim;
            float* y = Y + (long)g * w.OutPerGroup + col0;
            float* biasScratch = stackalloc float[PanelWidth];
            float* yScratch = stackalloc float[MaxTileRows * PanelWidth];
            float* bias = biasScratch;
            if (cols == PanelWidth && Bias != null) bias = Bias + (long)g * w.OutPerGroup + col0;
            else
            {
                new Span<float>(biasScratch, PanelWidth).Clear();
                if (Bias != null) new Span<float>(Bias + (long)g * w.OutPerGroup + col0, cols).CopyTo(new Span<float>(biasScratch, cols));
            }
            int subPanels = PanelWidth / (2 * TL.Count);
            for (int r0 = 0; r0 < Rows; r0 += MaxTileRows)
            {
                int n = Math.Min(MaxTileRows, Rows - r0);
                bool partial = cols < PanelWidth;
                float* dst = partial ? yScratch : y + r0 * ldy;
                long ldd = partial ? PanelWidth : ldy;
                for (int s = 0; s < subPanels; s++)
                    Tile<TV, TL>(n, x + r0 * ldx, ldx, wp + s * 2 * TL.Count, k, bias, dst, ldd, s * TL.Count);
                if (partial)
                    for (int r = 0; r < n; r++)
                        new Span<float>(yScratch + r * PanelWidth, cols).CopyTo(new Span<float>(y + (r0 + r) * ldy, cols));
            }
        }
    }

    static void Tile<TV, TL>(int n, float* x, long ldx, ushort* w, int k, float* bias, float* y, long ldy, int loCol)
        where TV : struct where TL : struct, IBf16Lanes<TV>
    {
        switch (n)
        {
            case 1: Tile<TV, TL, Rows1>(x, ldx, w, k, bias, y, ldy, loCol); break;
            case 2: Tile<TV, TL, Rows2>(x, ldx, w, k, bias, y, ldy, loCol); break;
            case 3: Tile<TV, TL, Rows3>(x, ldx, w, k, bias, y, ldy, loCol); break;
            case 4: Tile<TV, TL, Rows4>(x, ldx, w, k, bias, y, ldy, loCol); break;
            case 5: Tile<TV, TL, Rows5>(x, ldx, w, k, bias, y, ldy, loCol); break;
            case 6: Tile<TV, TL, Rows6>(x, ldx, w, k, bias, y, ldy, loCol); break;
            case 7: Tile<TV, TL, Rows7>(x, ldx, w, k, bias, y, ldy, loCol); break;
            default: Tile<TV, TL, Rows8>(x, ldx, w, k, bias, y, ldy, loCol); break;
        }
    }

    /// <summary>
    /// TR.N rows x 2*Count columns (columns loCol.. and 16+loCol..): per k one widening load and one broadcast + two
    /// FMAs per row. The JIT drops the rows past TR.N, so each accumulator stays in a register.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Tile<TV, TL, TR>(float* x, long ldx, ushort* w, int k, float* bias, float* y, long ldy, int loCol)
        where TV : struct where TL : struct, IBf16Lanes<TV> where TR : struct, ITileRows
    {
        TV a0 = default, b0 = default, a1 = default, b1 = default, a2 = default, b2 = default, a3 = default, b3 = default;
        TV a4 = default, b4 = default, a5 = default, b5 = default, a6 = default, b6 = default, a7 = default, b7 = default;
        float* x0 = x, x1 = x + ldx, x2 = x + 2 * ldx, x3 = x + 3 * ldx, x4 = x + 4 * ldx, x5 = x + 5 * ldx, x6 = x + 6 * ldx, x7 = x + 7 * ldx;
        for (int i = 0; i < k; i++, w += PanelWidth)
        {
            if (System.Runtime.Intrinsics.X86.Sse.IsSupported) System.Runtime.Intrinsics.X86.Sse.Prefetch0(w + PrefetchAhead);
            TL.Widen(w, out var lo, out var hi);
            TV v = TL.Broadcast(x0[i]); a0 = TL.FusedMultiplyAdd(v, lo, a0); b0 = TL.FusedMultiplyAdd(v, hi, b0);
            if (TR.N > 1) { v = TL.Broadcast(x1[i]); a1 = TL.FusedMultiplyAdd(v, lo, a1); b1 = TL.FusedMultiplyAdd(v, hi, b1); }
            if (TR.N > 2) { v = TL.Broadcast(x2[i]); a2 = TL.FusedMultiplyAdd(v, lo, a2); b2 = TL.FusedMultiplyAdd(v, hi, b2); }
            if (TR.N > 3) { v = TL.Broadcast(x3[i]); a3 = TL.FusedMultiplyAdd(v, lo, a3); b3 = TL.FusedMultiplyAdd(v, hi, b3); }
            if (TR.N > 4) { v = TL.Broadcast(x4[i]); a4 = TL.FusedMultiplyAdd(v, lo, a4); b4 = TL.FusedMultiplyAdd(v, hi, b4); }
            if (TR.N > 5) { v = TL.Broadcast(x5[i]); a5 = TL.FusedMultiplyAdd(v, lo, a5); b5 = TL.FusedMultiplyAdd(v, hi, b5); }
            if (TR.N > 6) { v = TL.Broadcast(x6[i]); a6 = TL.FusedMultiplyAdd(v, lo, a6); b6 = TL.FusedMultiplyAdd(v, hi, b6); }
            if (TR.N > 7) { v = TL.Broadcast(x7[i]); a7 = TL.FusedMultiplyAdd(v, lo, a7); b7 = TL.FusedMultiplyAdd(v, hi, b7); }
        }
        int hiCol = 16 + loCol;
        TL.StorePlusBias(a0, bias + loCol, y + loCol); TL.StorePlusBias(b0, bias + hiCol, y + hiCol);
        if (TR.N > 1) { y += ldy; TL.StorePlusBias(a1, bias + loCol, y + loCol); TL.StorePlusBias(b1, bias + hiCol, y + hiCol); }
        if (TR.N > 2) { y += ldy; TL.StorePlusBias(a2, bias + loCol, y + loCol); TL.StorePlusBias(b2, bias + hiCol, y + hiCol); }
        if (TR.N > 3) { y += ldy; TL.StorePlusBias(a3, bias + loCol, y + loCol); TL.StorePlusBias(b3, bias + hiCol, y + hiCol); }
        if (TR.N > 4) { y += ldy; TL.StorePlusBias(a4, bias + loCol, y + loCol); TL.StorePlusBias(b4, bias + hiCol, y + hiCol); }
        if (TR.N > 5) { y += ldy; TL.StorePlusBias(a5, bias + loCol, y + loCol); TL.StorePlusBias(b5, bias + hiCol, y + hiCol); }
        if (TR.N > 6) { y += ldy; TL.StorePlusBias(a6, bias + loCol, y + loCol); TL.StorePlusBias(b6, bias + hiCol, y + hiCol); }
        if (TR.N > 7) { y += ldy; TL.StorePlusBias(a7, bias + loCol, y + loCol); TL.StorePlusBias(b7, bias + hiCol, y + hiCol); }
    }


    /// <summary>
    /// TR.N (1 or 2) rows x four consecutive panels: four widening loads, one broadcast per row and eight FMAs per row
    /// per k. Same per-element arithmetic as <see cref="Tile{TV, TL, TR}"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void QuadTile<TV, TL, TR>(float* x, long ldx, ushort* w, int k, float* bias, float* y, long ldy, int loCol)
        where TV : struct where TL : struct, IBf16Lanes<TV> where TR : struct, ITileRows
    {
        TV a0 = default, b0 = default, c0 = default, d0 = default, e0 = default, f0 = default, g0 = default, h0 = default;
        TV a1 = default, b1 = default, c1 = default, d1 = default, e1 = default, f1 = default, g1 = default, h1 = default;
        long ps = (long)k * PanelWidth;
        float* x0 = x, x1 = x + ldx;
        for (int i = 0; i < k; i++, w += PanelWidth)
        {
            TL.Widen(w, out var lo0, out var hi0);
            TL.Widen(w + ps, out var lo1, out var hi1);
            TL.Widen(w + 2 * ps, out var lo2, out var hi2);
            TL.Widen(w + 3 * ps, out var lo3, out var hi3);
            TV v = TL.Broadcast(x0[i]);
            a0 = TL.FusedMultiplyAdd(v, lo0, a0); b0 = TL.FusedMultiplyAdd(v, hi0, b0);
            c0 = TL.FusedMultiplyAdd(v, lo1, c0); d0 = TL.FusedMultiplyAdd(v, hi1, d0);
            e0 = TL.FusedMultiplyAdd(v, lo2, e0); f0 = TL.FusedMultiplyAdd(v, hi2, f0);
            g0 = TL.FusedMultiplyAdd(v, lo3, g0); h0 = TL.FusedMultiplyAdd(v, hi3, h0);
            if (TR.N > 1)
            {
                v = TL.Broadcast(x1[i]);
                a1 = TL.FusedMultiplyAdd(v, lo0, a1); b1 = TL.FusedMultiplyAdd(v, hi0, b1);
                c1 = TL.FusedMultiplyAdd(v, lo1, c1); d1 = TL.FusedMultiplyAdd(v, hi1, d1);
                e1 = TL.FusedMultiplyAdd(v, lo2, e1); f1 = TL.FusedMultiplyAdd(v, hi2, f1);
                g1 = TL.FusedMultiplyAdd(v, lo3, g1); h1 = TL.FusedMultiplyAdd(v, hi3, h1);
            }
        }
        StoreQuadRow<TV, TL>(a0, b0, c0, d0, e0, f0, g0, h0, bias, y, loCol);
        if (TR.N > 1) StoreQuadRow<TV, TL>(a1, b1, c1, d1, e1, f1, g1, h1, bias, y + ldy, loCol);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void StorePairRow<TV, TL>(TV a, TV b, TV c, TV d, float* bias, float* y, int loCol)
        where TV : struct where TL : struct, IBf16Lanes<TV>
    {
        int hiCol = 16 + loCol;
        TL.StorePlusBias(a, bias + loCol, y + loCol); TL.StorePlusBias(b, bias + hiCol, y + hiCol);
        TL.StorePlusBias(c, bias + 32 + loCol, y + 32 + loCol); TL.StorePlusBias(d, bias + 32 + hiCol, y + 32 + hiCol);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void StoreQuadRow<TV, TL>(TV a, TV b, TV c, TV d, TV e, TV f, TV g, TV h, float* bias, float* y, int loCol)
        where TV : struct where TL : struct, IBf16Lanes<TV>
    {
        StorePairRow<TV, TL>(a, b, c, d, bias, y, loCol);
        StorePairRow<TV, TL>(e, f, g, h, bias + 2 * PanelWidth, y + 2 * PanelWidth, loCol);
    }
}

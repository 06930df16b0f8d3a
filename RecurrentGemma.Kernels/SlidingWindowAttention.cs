using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using RecurrentGemma.Kernels.MatMul;
using RecurrentGemma.Kernels.Parallel;

namespace RecurrentGemma.Kernels;

/// <summary>
/// Local multi-query attention: every head shares one K/V row per position. The query at position t sees keys
/// t - window .. t (window + 1 keys, as in the reference implementation). Keys before the chunk come from a ring
/// buffer of <c>window</c> slots (slot = position mod window); keys inside it come from the chunk itself, so one
/// routine serves prefill (many rows) and decode (one row).
/// </summary>
public static class SlidingWindowAttention
{
    public static void Forward(ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v, float[] ringK, float[] ringV,
        int rows, int startPos, int window, int heads, int headDim, Span<float> output, WorkerPool? pool = null) =>
        Forward(q, k, v, ringK, ringV, rows, startPos, window, heads, headDim, output, pool, Simd.Best);

    /// <summary>One sequence's chunk: <see cref="ForwardBatch"/> with a single <see cref="AttentionChunk"/>.</summary>
    public static void Forward(ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v, float[] ringK, float[] ringV,
        int rows, int startPos, int window, int heads, int headDim, Span<float> output, WorkerPool? pool, SimdWidth width) =>
        ForwardBatch(q, k, v, new[] { new AttentionChunk(0, rows, startPos, ringK, ringV) }, window, heads, headDim, output, pool, width);

    /// <summary>Keys per work item: a query's window is split into blocks of this many keys (from its first key), each
    /// block's partial softmax kept and merged in block order. It depends on nothing but the query's own key range, so
    /// a row's result is the same alone, in any batch, chunking or thread count.</summary>
    public const int DefaultKeyBlock = 256;

    /// <summary>
    /// Attention for every sequence of a step in one parallel job (flash-decoding style). <paramref name="q"/>,
    /// <paramref name="k"/>, <paramref name="v"/> and <paramref name="output"/> hold all rows of the step; each chunk
    /// names its rows, its first position and its own ring buffers. Work items are (row, block of
    /// <paramref name="keyBlock"/> keys), and with fewer items than twice the threads also groups of heads: each item
    /// loads a key's K and V rows once for all its heads. A row whose keys fit one block is normalized in its item; a
    /// longer one keeps each block's max, sum and unnormalized output, and a second, cheap pass merges them in block
    /// order. A head's arithmetic depends only on its row's key range, never on the split or the batch.
    /// </summary>
    public static unsafe void ForwardBatch(ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v, ReadOnlyMemory<AttentionChunk> chunks,
        int window, int heads, int headDim, Span<float> output, WorkerPool? pool, SimdWidth width, int keyBlock = DefaultKeyBlock)
    {
        if (window <= 0 || heads <= 0 || headDim <= 0)
            throw new ArgumentException($"window {window} and heads {heads} x headDim {headDim} must be positive");
        if (keyBlock <= 0) throw new ArgumentOutOfRangeException(nameof(keyBlock), keyBlock, "must be positive");
        long qWidth = (long)heads * headDim, ringNeed = (long)window * headDim;
        int rows = 0;
        foreach (ref readonly var c in chunks.Span)
        {
            // Sizes in 64-bit: a product that wrapped in 32 bits could pass as a small (even empty) buffer.
            if (c.Rows < 0 || c.StartPos < 0 || c.RowStart != rows)
                throw new ArgumentException($"chunk at row {c.RowStart} ({c.Rows} rows from position {c.StartPos}): chunks must be non-negative and follow each other from row 0");
            if ((long)c.StartPos + c.Rows > int.MaxValue) throw new ArgumentException($"positions {c.StartPos} + {c.Rows} pass {int.MaxValue}");
            if (c.RingKeys is null || c.RingValues is null || c.RingKeys.Length != ringNeed || c.RingValues.Length != ringNeed)
                throw new ArgumentException($"ring buffers need {window}x{headDim}");
            rows += c.Rows;
        }
        if (q.Length < rows * qWidth || output.Length < rows * qWidth) throw new ArgumentException($"q and output need {rows}x{qWidth}");
        if (k.Length < (long)rows * headDim || v.Length < (long)rows * headDim) throw new ArgumentException($"k and v need {rows}x{headDim}");
        if (rows == 0) return;
        int threads = pool?.Threads ?? 1;
        var job = t_job ??= new Job();
        fixed (float* qp = q, kp = k, vp = v, op = output)
        {
            int items = job.Set(qp, kp, vp, op, chunks, window, heads, headDim, keyBlock, width);
            int groups = items >= 2 * threads ? 1 : Math.Min(heads, (2 * threads + items - 1) / items);
            Run(job, items * job.Split(groups), pool);
            if (job.BeginMerge() is var merges and > 0) Run(job, merges, pool);
            job.Clear();
        }
    }

    static void Run(Job job, int items, WorkerPool? pool)
    {
        if (pool is null) for (int i = 0; i < items; i++) job.Execute(i);
        else pool.Run(job, items);
    }

    [ThreadStatic] static Job? t_job;

    sealed unsafe class Job : IParallelWork
    {
        [ThreadStatic] static float[]? t_scores;
        float* _q, _k, _v, _out;
        ReadOnlyMemory<AttentionChunk> _chunks;
        int _window, _heads, _headDim, _headsPerItem, _keyBlock, _rows, _merges;
        bool _merging;
        SimdWidth _width;
        int[] _rowFirstItem = [], _itemRow = [], _mergeRows = [];
        float[] _partials = [];   // per multi-block item: heads x headDim unnormalized outputs, then heads maxima, then heads sums

        /// <summary>Sets up a step and returns its (row, key block) item count.</summary>
        public int Set(float* q, float* k, float* v, float* output, ReadOnlyMemory<AttentionChunk> chunks,
            int window, int heads, int headDim, int keyBlock, SimdWidth width)
        {
            _q = q; _k = k; _v = v; _out = output; _chunks = chunks;
            (_window, _heads, _headDim, _keyBlock, _width, _merging) = (window, heads, headDim, keyBlock, width, false);
            var span = chunks.Span;
            _rows = span[^1].RowStart + span[^1].Rows;
            if (_rowFirstItem.Length < _rows + 1) _rowFirstItem = new int[Math.Max(_rows + 1, 2 * _rowFirstItem.Length)];
            int items = 0, merges = 0;
            foreach (ref readonly var c in span)
                for (int i = 0; i < c.Rows; i++)
                {
                    _rowFirstItem[c.RowStart + i] = items;
                    int blocks = Blocks(c.StartPos + i);
                    items += blocks;
                    if (blocks > 1) merges++;
                }
            _rowFirstItem[_rows] = items;
            if (_itemRow.Length < items) _itemRow = new int[Math.Max(items, 2 * _itemRow.Length)];
            if (_mergeRows.Length < merges) _mergeRows = new int[Math.Max(merges, 2 * _mergeRows.Length)];
            merges = 0;
            for (int r = 0; r < _rows; r++)
            {
                for (int it = _rowFirstItem[r]; it < _rowFirstItem[r + 1]; it++) _itemRow[it] = r;
                if (_rowFirstItem[r + 1] - _rowFirstItem[r] > 1) _mergeRows[merges++] = r;
            }
            _merges = merges;
            long need = merges == 0 ? 0 : (long)items * heads * (headDim + 2);
            if (need > _partials.Length) _partials = new float[Math.Max(need, Math.Min(Array.MaxLength, 2L * _partials.Length))];
            return items;
        }

        /// <summary>Splits each item's heads into about <paramref name="groups"/> groups; returns how many groups that makes
        /// (fewer where the heads do not divide: 4 heads in 3 groups of 2 are 2 groups, and a task count of 3 x items
        /// would have mapped task indices past the last item).</summary>
        public int Split(int groups)
        {
            _headsPerItem = (_heads + groups - 1) / groups;
            return (_heads + _headsPerItem - 1) / _headsPerItem;
        }

        /// <summary>Switches to the merge pass; returns how many rows need one (those with more than one key block).</summary>
        public int BeginMerge()
        {
            _merging = true;
            return _merges;
        }

        public void Clear() => _chunks = default;

        /// <summary>How many key blocks the query at position t has: its keys max(0, t - window) .. t in blocks from the first.</summary>
        int Blocks(int t)
        {
            int keys = Math.Min(t, _window) + 1;
            return (keys + _keyBlock - 1) / _keyBlock;
        }

        /// <summary>The chunk holding row <paramref name="row"/> (chunks are in row order).</summary>
        static int ChunkOf(ReadOnlySpan<AttentionChunk> chunks, int row)
        {
            int lo = 0, hi = chunks.Length - 1;
            while (lo < hi)
            {
                int mid = (lo + hi + 1) >> 1;
                if (chunks[mid].RowStart <= row) lo = mid;
                else hi = mid - 1;
            }
            return lo;
        }

        public void Execute(int index)
        {
            if (_merging) { Merge(_mergeRows[index]); return; }
            int groups = (_heads + _headsPerItem - 1) / _headsPerItem;
            int item = index / groups, h0 = index % groups * _headsPerItem, h1 = Math.Min(_heads, h0 + _headsPerItem);
            int r = _itemRow[item], block = item - _rowFirstItem[r], blocks = _rowFirstItem[r + 1] - _rowFirstItem[r];
            var chunks = _chunks.Span;
            ref readonly var chunk = ref chunks[ChunkOf(chunks, r)];
            int t = chunk.StartPos + (r - chunk.RowStart);
            int first = Math.Max(0, t - _window) + block * _keyBlock, keys = Math.Min(_keyBlock, t + 1 - first);
            int stride = Math.Min(_keyBlock, _window + 1);
            var scores = t_scores is { } s && s.Length >= _heads * stride ? s : t_scores = new float[_heads * stride];
            float* q = _q + (long)r * _heads * _headDim;
            float scale = 1f / MathF.Sqrt(_headDim);
            fixed (float* sc = scores, ringK = chunk.RingKeys, ringV = chunk.RingValues, partials = _partials)
            {
                var kv = new KeyValues(_k + (long)chunk.RowStart * _headDim, _v + (long)chunk.RowStart * _headDim, ringK, ringV, chunk.StartPos, _window, _headDim);
                // One block: the row's softmax is finished here, normalized before the values as a whole softmax is.
                // Several: this block's unnormalized output, max and sum go to its partial slot for the merge.
                var target = blocks == 1
                    ? new BlockTarget(_out + (long)r * _heads * _headDim, null, null)
                    : PartialSlot(partials, item);
                switch (_width)
                {
                    case SimdWidth.Vector512: Attend<Vector512<float>, Lanes512>(kv, q, sc, stride, first, keys, h0, h1, scale, target); break;
                    case SimdWidth.Vector256: Attend<Vector256<float>, Lanes256>(kv, q, sc, stride, first, keys, h0, h1, scale, target); break;
                    case SimdWidth.Vector128: Attend<Vector128<float>, Lanes128>(kv, q, sc, stride, first, keys, h0, h1, scale, target); break;
                    default: Attend<float, LanesScalar>(kv, q, sc, stride, first, keys, h0, h1, scale, target); break;
                }
            }
        }

        BlockTarget PartialSlot(float* partials, int item)
        {
            float* slot = partials + (long)item * _heads * (_headDim + 2);
            return new BlockTarget(slot, slot + _heads * _headDim, slot + _heads * _headDim + _heads);
        }

        /// <summary>
        /// out = sum_b e^(m_b - M) o_b / sum_b e^(m_b - M) l_b over the row's blocks in order (M the largest block max):
        /// the softmax over all keys, from the blocks' partial ones.
        /// </summary>
        void Merge(int r)
        {
            int firstItem = _rowFirstItem[r], blocks = _rowFirstItem[r + 1] - firstItem, d = _headDim;
            float* output = _out + (long)r * _heads * d;
            fixed (float* partials = _partials)
            {
                for (int h = 0; h < _heads; h++)
                {
                    float max = float.NegativeInfinity;
                    for (int b = 0; b < blocks; b++) max = MathF.Max(max, PartialSlot(partials, firstItem + b).Max[h]);
                    float total = 0;
                    for (int b = 0; b < blocks; b++)
                    {
                        var slot = PartialSlot(partials, firstItem + b);
                        total += MathF.Exp(slot.Max[h] - max) * slot.Sum[h];
                    }
                    var y = new Span<float>(output + h * d, d);
                    y.Clear();
                    for (int b = 0; b < blocks; b++)
                    {
                        var slot = PartialSlot(partials, firstItem + b);
                        float weight = MathF.Exp(slot.Max[h] - max) / total;
                        System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(slot.Output + h * d, d), weight, y, y);
                    }
                }
            }
        }

        /// <summary>
        /// Scores, then values. Scores: keys in blocks of eight, each block's K rows loaded once for two heads at a time
        /// where there are 32 vector registers (sixteen independent dot products cover the FMA latency), their sixteen
        /// accumulators summed in one shuffle tree (<see cref="IVectorLanes{TV}.SumEach"/>). Values: four
        /// heads x four vectors of output held in registers over all the item's keys, so each V vector is loaded once for
        /// four heads and no output is stored until the last key. Each key's dot product and each output element's chain
        /// of FMAs over the keys in order are the same operations however the heads, keys and dimensions are grouped.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        void Attend<TV, TL>(in KeyValues kv, float* q, float* scores, int stride, int first, int keys, int h0, int h1, float scale, BlockTarget target)
            where TV : struct where TL : struct, IBf16Lanes<TV>
        {
            int d = _headDim;
            float* s16 = stackalloc float[16];
            float* scratch = stackalloc float[16 * TL.Count];   // a dot product's accumulators, for SumEach
            float** k = stackalloc float*[8];
            for (int j = 0; j < keys; j += 8)
            {
                int n = Math.Min(8, keys - j);
                kv.Rows8(kv.Keys, kv.RingKeys, first + j, n, k);
                int h = h0;
                if (PairHeads)
                    for (; h + 2 <= h1; h += 2)
                    {
                        Dot8<TV, TL, Rows2>(q + h * d, q + (h + 1) * d, k, d, s16, scratch);
                        float* sh = scores + h * stride + j;
                        for (int i = 0; i < n; i++) { sh[i] = s16[i] * scale; sh[stride + i] = s16[8 + i] * scale; }
                    }
                for (; h < h1; h++)
                {
                    Dot8<TV, TL, Rows1>(q + h * d, null, k, d, s16, scratch);
                    float* sh = scores + h * stride + j;
                    for (int i = 0; i < n; i++) sh[i] = s16[i] * scale;
                }
            }
            for (int h = h0; h < h1; h++)
            {
                var row = new Span<float>(scores + h * stride, keys);
                if (target.Max is null) Softmax.InPlace(row, _width);
                else
                {
                    float max = Reductions.Max(row);
                    Elementwise.Map(new Operators.ShiftedExpOperator(max), row, row, _width);
                    target.Max[h] = max;
                    target.Sum[h] = Reductions.Sum(row, _width);
                }
            }
            var values = new ValueRows(kv, first, keys, scores, stride);
            int vectors = d / TL.Count;
            for (int h = h0; h < h1; h += 4)
            {
                float* y = target.Output + h * d;
                switch (Math.Min(4, h1 - h))
                {
                    case 1: Values<TV, TL, Rows1>(values, h, y, d, vectors); break;
                    case 2: Values<TV, TL, Rows2>(values, h, y, d, vectors); break;
                    case 3: Values<TV, TL, Rows3>(values, h, y, d, vectors); break;
                    default: Values<TV, TL, Rows4>(values, h, y, d, vectors); break;
                }
            }
            if (vectors * TL.Count < d) ValuesTail(kv, scores, stride, first, keys, h0, h1, target.Output, vectors * TL.Count);
        }

        /// <summary>32 vector registers (x64 with AVX-512, ARM64): room for two heads' sixteen score accumulators.</summary>
        static readonly bool PairHeads = Avx512F.IsSupported || !Avx.IsSupported;

        /// <summary>
        /// The output vectors [0, vectors) of heads h .. h + TH.N - 1: out = sum over the keys in order of p x v, one FMA
        /// chain per element from zero, four vectors of dimensions at a time.
        /// </summary>
        [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
        static void Values<TV, TL, TH>(in ValueRows values, int h, float* y, int d, int vectors)
            where TV : struct where TL : struct, IBf16Lanes<TV> where TH : struct, ITileRows
        {
            int c = TL.Count;
            float* p0 = values.Scores + h * values.Stride, p1 = p0 + values.Stride, p2 = p1 + values.Stride, p3 = p2 + values.Stride;
            int x = 0;
            for (; x + 4 <= vectors; x += 4)
            {
                TV a0 = default, a1 = default, a2 = default, a3 = default, b0 = default, b1 = default, b2 = default, b3 = default;
                TV e0 = default, e1 = default, e2 = default, e3 = default, f0 = default, f1 = default, f2 = default, f3 = default;
                var rows = values.Start();
                for (int j = 0; j < values.Keys; j++)
                {
                    float* v = rows.Next() + x * c;
                    TV v0 = TL.Load(v), v1 = TL.Load(v + c), v2 = TL.Load(v + 2 * c), v3 = TL.Load(v + 3 * c);
                    TV p = TL.Broadcast(p0[j]);
                    a0 = TL.FusedMultiplyAdd(p, v0, a0); a1 = TL.FusedMultiplyAdd(p, v1, a1); a2 = TL.FusedMultiplyAdd(p, v2, a2); a3 = TL.FusedMultiplyAdd(p, v3, a3);
                    if (TH.N > 1) { p = TL.Broadcast(p1[j]); b0 = TL.FusedMultiplyAdd(p, v0, b0); b1 = TL.FusedMultiplyAdd(p, v1, b1); b2 = TL.FusedMultiplyAdd(p, v2, b2); b3 = TL.FusedMultiplyAdd(p, v3, b3); }
                    if (TH.N > 2) { p = TL.Broadcast(p2[j]); e0 = TL.FusedMultiplyAdd(p, v0, e0); e1 = TL.FusedMultiplyAdd(p, v1, e1); e2 = TL.FusedMultiplyAdd(p, v2, e2); e3 = TL.FusedMultiplyAdd(p, v3, e3); }
                    if (TH.N > 3) { p = TL.Broadcast(p3[j]); f0 = TL.FusedMultiplyAdd(p, v0, f0); f1 = TL.FusedMultiplyAdd(p, v1, f1); f2 = TL.FusedMultiplyAdd(p, v2, f2); f3 = TL.FusedMultiplyAdd(p, v3, f3); }
                }
                float* o = y + x * c;
                TL.Store(a0, o); TL.Store(a1, o + c); TL.Store(a2, o + 2 * c); TL.Store(a3, o + 3 * c);
                if (TH.N > 1) { o += d; TL.Store(b0, o); TL.Store(b1, o + c); TL.Store(b2, o + 2 * c); TL.Store(b3, o + 3 * c); }
                if (TH.N > 2) { o += d; TL.Store(e0, o); TL.Store(e1, o + c); TL.Store(e2, o + 2 * c); TL.Store(e3, o + 3 * c); }
                if (TH.N > 3) { o += d; TL.Store(f0, o); TL.Store(f1, o + c); TL.Store(f2, o + 2 * c); TL.Store(f3, o + 3 * c); }
            }
            for (; x < vectors; x++)
            {
                TV a = default, b = default, e = default, f = default;
                var rows = values.Start();
                for (int j = 0; j < values.Keys; j++)
                {
                    TV v = TL.Load(rows.Next() + x * c);
                    a = TL.FusedMultiplyAdd(TL.Broadcast(p0[j]), v, a);
                    if (TH.N > 1) b = TL.FusedMultiplyAdd(TL.Broadcast(p1[j]), v, b);
                    if (TH.N > 2) e = TL.FusedMultiplyAdd(TL.Broadcast(p2[j]), v, e);
                    if (TH.N > 3) f = TL.FusedMultiplyAdd(TL.Broadcast(p3[j]), v, f);
                }
                float* o = y + x * c;
                TL.Store(a, o);
                if (TH.N > 1) TL.Store(b, o + d);
                if (TH.N > 2) TL.Store(e, o + 2 * d);
                if (TH.N > 3) TL.Store(f, o + 3 * d);
            }
        }

        /// <summary>The dimensions [from, d) that fill no vector, in scalar arithmetic, eight keys at a time.</summary>
        void ValuesTail(in KeyValues kv, float* scores, int stride, int first, int keys, int h0, int h1, float* output, int from)
        {
            int d = _headDim;
            float** v = stackalloc float*[8];
            for (int h = h0; h < h1; h++)
                for (int i = from; i < d; i++) output[h * d + i] = 0;
            for (int j = 0; j < keys; j += 8)
            {
                int n = Math.Min(8, keys - j);
                kv.Rows8(kv.Values, kv.RingValues, first + j, n, v);
                for (int h = h0; h < h1; h++)
                {
                    float* p = scores + h * stride + j, y = output + h * d;
                    float p0 = p[0], p1 = n > 1 ? p[1] : 0, p2 = n > 2 ? p[2] : 0, p3 = n > 3 ? p[3] : 0;
                    float p4 = n > 4 ? p[4] : 0, p5 = n > 5 ? p[5] : 0, p6 = n > 6 ? p[6] : 0, p7 = n > 7 ? p[7] : 0;
                    for (int i = from; i < d; i++)
                    {
                        float t = y[i] + (p0 * v[0][i] + p1 * v[1][i] + p2 * v[2][i] + p3 * v[3][i]);
                        y[i] = t + (p4 * v[4][i] + p5 * v[5][i] + p6 * v[6][i] + p7 * v[7][i]);
                    }
                }
            }
        }
    }

    /// <summary>Where an item's result goes: the row's output (Max null), or a partial slot with the block's maxima and sums.</summary>
    readonly unsafe struct BlockTarget(float* output, float* max, float* sum)
    {
        public readonly float* Output = output, Max = max, Sum = sum;
    }

    /// <summary>One chunk's keys and values: rows of the chunk itself, or of the ring for positions before it.</summary>
    readonly unsafe struct KeyValues(float* keys, float* values, float* ringKeys, float* ringValues, int startPos, int window, int headDim)
    {
        public readonly float* Keys = keys, Values = values, RingKeys = ringKeys, RingValues = ringValues;
        public readonly int StartPos = startPos, Window = window, HeadDim = headDim;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        float* Row(float* chunk, float* ring, int position) =>
            position >= StartPos ? chunk + (long)(position - StartPos) * HeadDim : ring + (long)(position % Window) * HeadDim;

        /// <summary>The K (or V) rows of positions p..p+n-1 (n <= 8) into rows[0..8); missing ones repeat the first (their weight is zero).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Rows8(float* chunk, float* ring, int p, int n, float** rows)
        {
            for (int i = 0; i < 8; i++) rows[i] = Row(chunk, ring, i < n ? p + i : p);
        }
    }

    /// <summary>An item's V rows (keys first .. first + keys - 1) and their softmax weights (head h's at Scores + h x Stride).</summary>
    readonly unsafe struct ValueRows(in KeyValues kv, int first, int keys, float* scores, int stride)
    {
        readonly KeyValues _kv = kv;
        public readonly int First = first, Keys = keys, Stride = stride;
        public readonly float* Scores = scores;

        /// <summary>A walk over the rows in key order: the ring's (positions before the chunk, wrapping), then the chunk's.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public RowWalk Start()
        {
            long d = _kv.HeadDim;
            int inRing = Math.Clamp(_kv.StartPos - First, 0, Keys);
            return new RowWalk(_kv.RingValues + First % _kv.Window * d, _kv.RingValues, _kv.RingValues + _kv.Window * d,
                _kv.Values + Math.Max(0, First - _kv.StartPos) * d, d, inRing);
        }
    }

    /// <summary>Row pointers in key order without a division per key (see <see cref="ValueRows.Start"/>).</summary>
    unsafe struct RowWalk(float* ring, float* ringStart, float* ringEnd, float* chunk, long headDim, int inRing)
    {
        float* _ring = ring, _chunk = chunk;
        int _inRing = inRing;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public float* Next()
        {
            float* row;
            if (_inRing > 0)
            {
                _inRing--;
                row = _ring;
                _ring += headDim;
                if (_ring == ringEnd) _ring = ringStart;
            }
            else
            {
                row = _chunk;
                _chunk += headDim;
            }
            return row;
        }
    }

    /// <summary>
    /// s[i] = q . k[i] for eight keys, and with TH.N = 2 also s[8 + i] = r . k[i] (each K load serves both queries): one
    /// accumulator per (query, key) over the dimensions in order, then the width's fixed sum (<see cref="IVectorLanes{TV}.SumEach"/>,
    /// through <paramref name="scratch"/>) and the scalar tail.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    static unsafe void Dot8<TV, TL, TH>(float* q, float* r, float** k, int n, float* s, float* scratch)
        where TV : struct where TL : struct, IBf16Lanes<TV> where TH : struct, ITileRows
    {
        float* k0 = k[0], k1 = k[1], k2 = k[2], k3 = k[3], k4 = k[4], k5 = k[5], k6 = k[6], k7 = k[7];
        TV a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
        TV b0 = default, b1 = default, b2 = default, b3 = default, b4 = default, b5 = default, b6 = default, b7 = default;
        int i = 0;
        for (; i + TL.Count <= n; i += TL.Count)
        {
            TV qv = TL.Load(q + i), rv = TH.N > 1 ? TL.Load(r + i) : default, kv = TL.Load(k0 + i);
            a0 = TL.FusedMultiplyAdd(qv, kv, a0); if (TH.N > 1) b0 = TL.FusedMultiplyAdd(rv, kv, b0); kv = TL.Load(k1 + i);
            a1 = TL.FusedMultiplyAdd(qv, kv, a1); if (TH.N > 1) b1 = TL.FusedMultiplyAdd(rv, kv, b1); kv = TL.Load(k2 + i);
            a2 = TL.FusedMultiplyAdd(qv, kv, a2); if (TH.N > 1) b2 = TL.FusedMultiplyAdd(rv, kv, b2); kv = TL.Load(k3 + i);
            a3 = TL.FusedMultiplyAdd(qv, kv, a3); if (TH.N > 1) b3 = TL.FusedMultiplyAdd(rv, kv, b3); kv = TL.Load(k4 + i);
            a4 = TL.FusedMultiplyAdd(qv, kv, a4); if (TH.N > 1) b4 = TL.FusedMultiplyAdd(rv, kv, b4); kv = TL.Load(k5 + i);
            a5 = TL.FusedMultiplyAdd(qv, kv, a5); if (TH.N > 1) b5 = TL.FusedMultiplyAdd(rv, kv, b5); kv = TL.Load(k6 + i);
            a6 = TL.FusedMultiplyAdd(qv, kv, a6); if (TH.N > 1) b6 = TL.FusedMultiplyAdd(rv, kv, b6); kv = TL.Load(k7 + i);
            a7 = TL.FusedMultiplyAdd(qv, kv, a7); if (TH.N > 1) b7 = TL.FusedMultiplyAdd(rv, kv, b7);
        }
        int c = TL.Count;
        TL.Store(a0, scratch); TL.Store(a1, scratch + c); TL.Store(a2, scratch + 2 * c); TL.Store(a3, scratch + 3 * c);
        TL.Store(a4, scratch + 4 * c); TL.Store(a5, scratch + 5 * c); TL.Store(a6, scratch + 6 * c); TL.Store(a7, scratch + 7 * c);
        if (TH.N > 1)
        {
            TL.Store(b0, scratch + 8 * c); TL.Store(b1, scratch + 9 * c); TL.Store(b2, scratch + 10 * c); TL.Store(b3, scratch + 11 * c);
            TL.Store(b4, scratch + 12 * c); TL.Store(b5, scratch + 13 * c); TL.Store(b6, scratch + 14 * c); TL.Store(b7, scratch + 15 * c);
        }
        TL.SumEach(scratch, 8 * TH.N, s);
        for (; i < n; i++)
        {
            s[0] += q[i] * k0[i]; s[1] += q[i] * k1[i]; s[2] += q[i] * k2[i]; s[3] += q[i] * k3[i];
            s[4] += q[i] * k4[i]; s[5] += q[i] * k5[i]; s[6] += q[i] * k6[i]; s[7] += q[i] * k7[i];
            if (TH.N > 1)
            {
                s[8] += r[i] * k0[i]; s[9] += r[i] * k1[i]; s[10] += r[i] * k2[i]; s[11] += r[i] * k3[i];
                s[12] += r[i] * k4[i]; s[13] += r[i] * k5[i]; s[14] += r[i] * k6[i]; s[15] += r[i] * k7[i];
            }
        }
    }

    /// <summary>Writes the chunk's last (up to window) K/V rows into the ring at slot position mod window. Call after <see cref="Forward"/>.</summary>
    public static void AppendToRing(ReadOnlySpan<float> k, ReadOnlySpan<float> v, int rows, int startPos, int window, int headDim, Span<float> ringK, Span<float> ringV)
    {
        for (int i = Math.Max(0, rows - window); i < rows; i++)
        {
            int slot = (startPos + i) % window;
            k.Slice(i * headDim, headDim).CopyTo(ringK.Slice(slot * headDim, headDim));
            v.Slice(i * headDim, headDim).CopyTo(ringV.Slice(slot * headDim, headDim));
        }
    }
}

/// <summary>One sequence's rows in a step for <see cref="SlidingWindowAttention.ForwardBatch"/>: rows
/// [RowStart, RowStart + Rows) of the step's q/k/v, at positions StartPos.., attending over its own rings.</summary>
public readonly record struct AttentionChunk(int RowStart, int Rows, int StartPos, float[] RingKeys, float[] RingValues);

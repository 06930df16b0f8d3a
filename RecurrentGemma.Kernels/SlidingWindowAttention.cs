using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
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
            job.Split(groups);
            Run(job, items * groups, pool);
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

        public void Split(int groups) => _headsPerItem = (_heads + groups - 1) / groups;

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
        /// Keys and values go in blocks of eight: each block's K (then V) rows are loaded once for all the item's heads, and
        /// eight independent dot products (eight accumulators, enough to cover the FMA latency at two FMAs a cycle) keep the
        /// FMA units busy. Each key's dot product and each output's chain of FMAs over the keys in order are the same
        /// operations whatever the block size, so blocks of eight give the same bits as blocks of four did.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        void Attend<TV, TL>(in KeyValues kv, float* q, float* scores, int stride, int first, int keys, int h0, int h1, float scale, BlockTarget target)
            where TV : struct where TL : struct, IBf16Lanes<TV>
        {
            int d = _headDim;
            float* s8 = stackalloc float[8];
            float** k = stackalloc float*[8];
            for (int j = 0; j < keys; j += 8)
            {
                int n = Math.Min(8, keys - j);
                kv.Rows8(kv.Keys, kv.RingKeys, first + j, n, k);
                for (int h = h0; h < h1; h++)
                {
                    Dot8<TV, TL>(q + h * d, k, d, s8);
                    float* sh = scores + h * stride + j;
                    for (int i = 0; i < n; i++) sh[i] = s8[i] * scale;
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
            float* output = target.Output;
            new Span<float>(output + h0 * d, (h1 - h0) * d).Clear();
            float* p8 = stackalloc float[8];
            for (int j = 0; j < keys; j += 8)
            {
                int n = Math.Min(8, keys - j);
                kv.Rows8(kv.Values, kv.RingValues, first + j, n, k);
                for (int h = h0; h < h1; h++)
                {
                    float* p = scores + h * stride + j;
                    for (int i = 0; i < 8; i++) p8[i] = i < n ? p[i] : 0f;
                    Axpy8<TV, TL>(p8, k, output + h * d, d);
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

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        float* Row(float* chunk, float* ring, int position) =>
            position >= startPos ? chunk + (long)(position - startPos) * headDim : ring + (long)(position % window) * headDim;

        /// <summary>The K (or V) rows of positions p..p+n-1 (n <= 8) into rows[0..8); missing ones repeat the first (their weight is zero).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Rows8(float* chunk, float* ring, int p, int n, float** rows)
        {
            for (int i = 0; i < 8; i++) rows[i] = Row(chunk, ring, i < n ? p + i : p);
        }
    }

    /// <summary>s[i] = q . k[i] for eight keys: one accumulator per key over the dimensions in order, then the width's fixed sum.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static unsafe void Dot8<TV, TL>(float* q, float** k, int n, float* s)
        where TV : struct where TL : struct, IBf16Lanes<TV>
    {
        float* k0 = k[0], k1 = k[1], k2 = k[2], k3 = k[3], k4 = k[4], k5 = k[5], k6 = k[6], k7 = k[7];
        TV a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
        int i = 0;
        for (; i + TL.Count <= n; i += TL.Count)
        {
            TV qv = TL.Load(q + i);
            a0 = TL.FusedMultiplyAdd(qv, TL.Load(k0 + i), a0);
            a1 = TL.FusedMultiplyAdd(qv, TL.Load(k1 + i), a1);
            a2 = TL.FusedMultiplyAdd(qv, TL.Load(k2 + i), a2);
            a3 = TL.FusedMultiplyAdd(qv, TL.Load(k3 + i), a3);
            a4 = TL.FusedMultiplyAdd(qv, TL.Load(k4 + i), a4);
            a5 = TL.FusedMultiplyAdd(qv, TL.Load(k5 + i), a5);
            a6 = TL.FusedMultiplyAdd(qv, TL.Load(k6 + i), a6);
            a7 = TL.FusedMultiplyAdd(qv, TL.Load(k7 + i), a7);
        }
        float s0 = TL.Sum(a0), s1 = TL.Sum(a1), s2 = TL.Sum(a2), s3 = TL.Sum(a3), s4 = TL.Sum(a4), s5 = TL.Sum(a5), s6 = TL.Sum(a6), s7 = TL.Sum(a7);
        for (; i < n; i++)
        {
            s0 += q[i] * k0[i]; s1 += q[i] * k1[i]; s2 += q[i] * k2[i]; s3 += q[i] * k3[i];
            s4 += q[i] * k4[i]; s5 += q[i] * k5[i]; s6 += q[i] * k6[i]; s7 += q[i] * k7[i];
        }
        s[0] = s0; s[1] = s1; s[2] = s2; s[3] = s3; s[4] = s4; s[5] = s5; s[6] = s6; s[7] = s7;
    }

    /// <summary>y += p0 v0 + ... + p7 v7, one FMA chain per element over the keys in order (a zero weight adds nothing).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static unsafe void Axpy8<TV, TL>(float* p, float** v, float* y, int n)
        where TV : struct where TL : struct, IBf16Lanes<TV>
    {
        float* v0 = v[0], v1 = v[1], v2 = v[2], v3 = v[3], v4 = v[4], v5 = v[5], v6 = v[6], v7 = v[7];
        TV b0 = TL.Broadcast(p[0]), b1 = TL.Broadcast(p[1]), b2 = TL.Broadcast(p[2]), b3 = TL.Broadcast(p[3]);
        TV b4 = TL.Broadcast(p[4]), b5 = TL.Broadcast(p[5]), b6 = TL.Broadcast(p[6]), b7 = TL.Broadcast(p[7]);
        int i = 0;
        for (; i + TL.Count <= n; i += TL.Count)
        {
            TV acc = TL.FusedMultiplyAdd(b0, TL.Load(v0 + i), TL.Load(y + i));
            acc = TL.FusedMultiplyAdd(b1, TL.Load(v1 + i), acc);
            acc = TL.FusedMultiplyAdd(b2, TL.Load(v2 + i), acc);
            acc = TL.FusedMultiplyAdd(b3, TL.Load(v3 + i), acc);
            acc = TL.FusedMultiplyAdd(b4, TL.Load(v4 + i), acc);
            acc = TL.FusedMultiplyAdd(b5, TL.Load(v5 + i), acc);
            acc = TL.FusedMultiplyAdd(b6, TL.Load(v6 + i), acc);
            TL.Store(TL.FusedMultiplyAdd(b7, TL.Load(v7 + i), acc), y + i);
        }
        for (; i < n; i++)
        {
            // As two blocks of four, which is what this tail computed before blocks of eight.
            float t = y[i] + (p[0] * v0[i] + p[1] * v1[i] + p[2] * v2[i] + p[3] * v3[i]);
            y[i] = t + (p[4] * v4[i] + p[5] * v5[i] + p[6] * v6[i] + p[7] * v7[i]);
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

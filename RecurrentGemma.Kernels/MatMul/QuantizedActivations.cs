using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using RecurrentGemma.Kernels.Parallel;

namespace RecurrentGemma.Kernels.MatMul;

/// <summary>
/// The input rows of a quantized matmul as int8: per row and per 32-block, q = round(x * 127 / max|x|) in [-127, 127],
/// with the block's scale max|x| / 127 and the integer accumulators' start values (-(offset - the path's weight bias) x
/// the sum of its codes, <see cref="StartOffsets"/>), block-major (<see cref="BlockMeta"/>) so that a tile finds its rows' values for a block
/// at fixed offsets from one pointer: one memory broadcast each. Row-local by construction, so a row's codes never
/// depend on the rows beside it. One buffer per calling thread, grown on demand and then reused: nothing is allocated
/// per token. The buffer is a pinned managed array (the pinned object heap), not native memory: when the thread exits,
/// its instance becomes garbage and the buffer goes with it (a scheduler engine thread that ends, every load/free cycle
/// of a model in a long-lived process, leaks nothing).
/// </summary>
internal sealed unsafe class QuantizedActivations
{
    public const int BlockSize = 32;

    [ThreadStatic] static QuantizedActivations? t_current;
    public static QuantizedActivations ForThisThread => t_current ??= new QuantizedActivations();

    byte[]? _buffer;   // pinned: its address never changes while this instance holds it
    byte* _memory;
    long _capacity;

    public sbyte* Codes { get; private set; }
    /// <summary>Row r's values for block b at Meta[b * Rows + r].</summary>
    public BlockMeta* Meta { get; private set; }
    public int Rows { get; private set; }
    public int Blocks { get; private set; }
    /// <summary>Bytes per row of <see cref="Codes"/> (Blocks * 32, zero-padded).</summary>
    public int Stride => Blocks * BlockSize;

    /// <summary>
    /// Quantizes <paramref name="rows"/> rows of x (row r at x + r * ldx). Many rows are split across the pool (rows
    /// are independent, so the codes are the same however they are split): a 256-row prefill pass quantizes 0.7-2M
    /// values a matmul, which alone on the caller's thread left the other threads idle for 2-3% of the prefill.
    /// </summary>
    public void Quantize(float* x, int rows, int inDim, long ldx, StartOffsets offsets, WorkerPool? pool = null)
    {
        Prepare(rows, inDim);
        _offsets = offsets;
        if (pool is null || rows < ParallelRows)
        {
            QuantizeRows(x, 0, rows, inDim, ldx);
            return;
        }
        var job = _job ??= new RowsJob(this);
        job.X = x;
        (job.InDim, job.Ldx, job.Rows) = (inDim, ldx, rows);
        pool.Run(job, (rows + RowsPerTask - 1) / RowsPerTask);
    }

    const int ParallelRows = 16, RowsPerTask = 8;
    RowsJob? _job;
    StartOffsets _offsets;

    sealed class RowsJob(QuantizedActivations target) : IParallelWork
    {
        public float* X;
        public int InDim, Rows;
        public long Ldx;

        public void Execute(int index)
        {
            int r0 = index * RowsPerTask;
            target.QuantizeRows(X, r0, Math.Min(Rows, r0 + RowsPerTask), InDim, Ldx);
        }
    }

    void Prepare(int rows, int inDim)
    {
        Blocks = (inDim + BlockSize - 1) / BlockSize;
        Rows = rows;
        long codeBytes = (long)rows * Stride, metaBytes = (long)rows * Blocks * sizeof(BlockMeta);
        long need = codeBytes + metaBytes + 64;
        if (need > _capacity)
        {
            _capacity = Math.Max(need, _capacity * 2);
            // 64 more bytes so the start can be aligned to a cache line.
            _buffer = GC.AllocateUninitializedArray<byte>(checked((int)(_capacity + 64)), pinned: true);
            byte* start = (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_buffer));
            _memory = (byte*)(((nint)start + 63) & ~(nint)63);
        }
        Codes = (sbyte*)_memory;
        Meta = (BlockMeta*)(_memory + (codeBytes + 63) / 64 * 64);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]   // per matmul: never run tier-0 code
    void QuantizeRows(float* x, int first, int end, int inDim, long ldx)
    {
        float* padded = stackalloc float[BlockSize];
        for (int r = first; r < end; r++)
        {
            float* row = x + r * ldx;
            for (int b = 0; b < Blocks; b++)
            {
                int n = Math.Min(BlockSize, inDim - b * BlockSize);
                float* block = row + b * BlockSize;
                if (n < BlockSize)
                {
                    new Span<float>(padded, BlockSize).Clear();
                    new Span<float>(block, n).CopyTo(new Span<float>(padded, n));
                    block = padded;
                }
                int sum = Block(block, Codes + (long)r * Stride + b * BlockSize, out float scale, BlockQuantizer.Vectorized);
                Meta[(long)b * Rows + r] = new BlockMeta(scale, -_offsets.Low * sum, -_offsets.High * sum);
            }
        }
    }

    /// <summary>
    /// One block: codes round(x * 127 / max|x|) (in [-127, 127], so the clamp never binds), returns their sum; the scalar
    /// and vector paths give the same codes (tested).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static int Block(float* x, sbyte* codes, out float scale, bool vectorized)
    {
        float max = BlockQuantizer.MaxAbs(x, vectorized);
        scale = max / 127f;
        return BlockQuantizer.Encode(x, (byte*)codes, max > 0 ? 127f / max : 0f, -127, 127, 0, vectorized);
    }
}

/// <summary>One row's values for one block: the scale, and the start values of the low and high halves' integer accumulators.</summary>
[StructLayout(LayoutKind.Sequential, Size = 16)]   // 16 bytes: a row's entry is one scaled offset from the tile's pointer
internal struct BlockMeta(float scale, int lowStart, int highStart)
{
    public float Scale = scale;
    public int LowStart = lowStart, HighStart = highStart;
}

/// <summary>
/// What the low and high halves' start values take per unit of sum(x): the weight format's offsets
/// (<see cref="IQuantFormat.LowOffset"/>) less the path's <see cref="IInt8Lanes{TI, TF}.WeightBias"/>.
/// </summary>
internal readonly record struct StartOffsets(int Low, int High)
{
    public static StartOffsets Of(MatrixFormat format, Int8Path path)
    {
        int bias = Int8Paths.WeightBias(path);
        return format == MatrixFormat.Q8
            ? new(Q8Format.LowOffset - bias, Q8Format.HighOffset - bias)
            : new(Q4Format.LowOffset - bias, Q4Format.HighOffset - bias);
    }
}

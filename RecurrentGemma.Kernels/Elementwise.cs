using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using RecurrentGemma.Kernels.Operators;
using RecurrentGemma.Kernels.Parallel;

namespace RecurrentGemma.Kernels;

/// <summary>
/// The one driver for our element-wise operators (GELU, soft-cap, cuts), written once over widths. At a given width
/// every element goes through the same vector code: the tail is padded into one full vector rather than handled by
/// narrower or scalar code. So an element's result never depends on its index or on the span's length, which is what
/// makes a sequence's logits bit-identical whether it runs alone or batched with others. In-place use (x and y the same
/// span) is allowed. Plain arithmetic (add, scale) is TensorPrimitives': exact per element, so it needs no such care.
/// The thin entry points inline into their callers: left to tiered compilation, they run unoptimized for the first
/// calls, which cost a first 256-token prefill ~4% (measured; equal with tiering off).
/// </summary>
public static unsafe class Elementwise
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Map<TOp>(TOp op, ReadOnlySpan<float> x, Span<float> y) where TOp : struct, IUnaryOperator =>
        Map(op, x, y, Simd.Best);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Map<TOp>(TOp op, ReadOnlySpan<float> x, Span<float> y, SimdWidth width) where TOp : struct, IUnaryOperator =>
        Drive(new Unary<TOp>(op), x, x, y, width);

    /// <summary>
    /// The operator over one long span (the logits' soft-cap: 256000 per row), split across the pool in chunks of
    /// <see cref="ChunkElements"/>, whole vectors at every width; each element runs the same code as in
    /// <see cref="Map{TOp}(TOp, ReadOnlySpan{float}, Span{float})"/>. Short spans run on the caller.
    /// </summary>
    public static void Map<TOp>(TOp op, ReadOnlySpan<float> x, Span<float> y, WorkerPool? pool) where TOp : struct, IUnaryOperator
    {
        if (y.Length < x.Length) throw new ArgumentException($"the output ({y.Length}) is shorter than the input ({x.Length})", nameof(y));
        int chunks = x.Length / ChunkElements, head = chunks * ChunkElements;
        if (pool is null || pool.Threads == 1 || chunks < 2)
        {
            Map(op, x, y);
            return;
        }
        MapRows(op, x, ChunkElements, 0, ChunkElements, y, ChunkElements, chunks, pool);
        if (head < x.Length) Map(op, x.Slice(head), y.Slice(head, x.Length - head));
    }

    /// <summary>Elements a task of the one-span <see cref="Map{TOp}(TOp, ReadOnlySpan{float}, Span{float}, WorkerPool?)"/> takes at a time (64 KB).</summary>
    public const int ChunkElements = 16384;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Map<TOp>(TOp op, ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> y) where TOp : struct, IBinaryOperator =>
        Map(op, a, b, y, Simd.Best);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Map<TOp>(TOp op, ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> y, SimdWidth width) where TOp : struct, IBinaryOperator
    {
        if (b.Length != a.Length) throw new ArgumentException($"inputs differ in length ({a.Length} and {b.Length})", nameof(b));
        Drive(new Binary<TOp>(op), a, b, y, width);
    }

    /// <summary>
    /// The operator over <paramref name="rows"/> rows of a [rows, stride] matrix, rows split across the pool: row r
    /// reads <paramref name="width"/> values at r * stride + <paramref name="aOffset"/> (and, for a binary operator, at
    /// r * stride + <paramref name="bOffset"/>) and writes them at r * <paramref name="destinationStride"/>. Each row runs
    /// exactly as <see cref="Map{TOp}(TOp, ReadOnlySpan{float}, ReadOnlySpan{float}, Span{float})"/> would run it alone.
    /// </summary>
    public static unsafe void MapRows<TOp>(TOp op, ReadOnlySpan<float> source, int stride, int aOffset, int bOffset, int width,
        Span<float> destination, int destinationStride, int rows, WorkerPool? pool) where TOp : struct, IBinaryOperator =>
        DriveRows(new Binary<TOp>(op), source, stride, aOffset, bOffset, width, destination, destinationStride, rows, pool);

    /// <summary>The unary form of <see cref="MapRows{TOp}(TOp, ReadOnlySpan{float}, int, int, int, int, Span{float}, int, int, WorkerPool?)"/>.</summary>
    public static unsafe void MapRows<TOp>(TOp op, ReadOnlySpan<float> source, int stride, int offset, int width,
        Span<float> destination, int destinationStride, int rows, WorkerPool? pool) where TOp : struct, IUnaryOperator =>
        DriveRows(new Unary<TOp>(op), source, stride, offset, offset, width, destination, destinationStride, rows, pool);

    static unsafe void DriveRows<TS>(TS step, ReadOnlySpan<float> source, int stride, int aOffset, int bOffset, int width,
        Span<float> destination, int destinationStride, int rows, WorkerPool? pool) where TS : struct, IStep
    {
        if (rows < 0 || width < 0 || aOffset < 0 || bOffset < 0 || Math.Max(aOffset, bOffset) + width > stride || width > destinationStride)
            throw new ArgumentException($"rows of {width} at offsets {aOffset}, {bOffset} do not fit a stride of {stride} (destination {destinationStride})");
        if (rows > 0 && (source.Length < (long)(rows - 1) * stride + Math.Max(aOffset, bOffset) + width || destination.Length < (long)(rows - 1) * destinationStride + width))
            throw new ArgumentException($"{rows} rows do not fit the spans");
        if (pool is null || rows < 2)
        {
            for (int r = 0; r < rows; r++)
                Drive(step, source.Slice(r * stride + aOffset, width), source.Slice(r * stride + bOffset, width), destination.Slice(r * destinationStride, width), Simd.Best);
            return;
        }
        var job = RowsJob<TS>.ForThisThread;
        fixed (float* sp = source, dp = destination)
        {
            job.Source = sp; job.Destination = dp;
            (job.Step, job.Stride, job.AOffset, job.BOffset, job.Width, job.DestinationStride, job.Rows) = (step, stride, aOffset, bOffset, width, destinationStride, rows);
            job.Tasks = Math.Min(rows, pool.Threads * 4);
            pool.Run(job, job.Tasks);
        }
    }

    sealed unsafe class RowsJob<TS> : IParallelWork where TS : struct, IStep
    {
        [ThreadStatic] static RowsJob<TS>? t_job;
        public static RowsJob<TS> ForThisThread => t_job ??= new RowsJob<TS>();

        public TS Step;
        public float* Source, Destination;
        public int Stride, AOffset, BOffset, Width, DestinationStride, Rows, Tasks;

        public void Execute(int task)
        {
            int r0 = (int)((long)task * Rows / Tasks), r1 = (int)((long)(task + 1) * Rows / Tasks);
            for (int r = r0; r < r1; r++)
            {
                float* row = Source + (long)r * Stride;
                Drive(Step, new ReadOnlySpan<float>(row + AOffset, Width), new ReadOnlySpan<float>(row + BOffset, Width),
                    new Span<float>(Destination + (long)r * DestinationStride, Width), Simd.Best);
            }
        }
    }

    /// <summary>An operator of one or two inputs as the driver sees it.</summary>
    interface IStep
    {
        TV Apply<TV, TL>(TV a, TV b) where TV : struct where TL : struct, IVectorLanes<TV>;
    }

    readonly struct Unary<TOp>(TOp op) : IStep where TOp : struct, IUnaryOperator
    {
        readonly TOp _op = op;
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public TV Apply<TV, TL>(TV a, TV b) where TV : struct where TL : struct, IVectorLanes<TV> => TL.Apply(_op, a);
    }

    readonly struct Binary<TOp>(TOp op) : IStep where TOp : struct, IBinaryOperator
    {
        readonly TOp _op = op;
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public TV Apply<TV, TL>(TV a, TV b) where TV : struct where TL : struct, IVectorLanes<TV> => TL.Apply(_op, a, b);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Drive<TS>(TS step, ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> y, SimdWidth width) where TS : struct, IStep
    {
        if (y.Length < a.Length) throw new ArgumentException($"output ({y.Length}) shorter than input ({a.Length})", nameof(y));
        fixed (float* pa = a, pb = b, py = y)
        {
            switch (width)
            {
                case SimdWidth.Vector512: Run<TS, Vector512<float>, Lanes512>(step, pa, pb, py, a.Length); break;
                case SimdWidth.Vector256: Run<TS, Vector256<float>, Lanes256>(step, pa, pb, py, a.Length); break;
                case SimdWidth.Vector128: Run<TS, Vector128<float>, Lanes128>(step, pa, pb, py, a.Length); break;
                default: Run<TS, float, LanesScalar>(step, pa, pb, py, a.Length); break;
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Run<TS, TV, TL>(TS step, float* a, float* b, float* y, int n)
        where TS : struct, IStep where TV : struct where TL : struct, IVectorLanes<TV>
    {
        int full = n - n % TL.Count;
        for (int i = 0; i < full; i += TL.Count) TL.Store(step.Apply<TV, TL>(TL.Load(a + i), TL.Load(b + i)), y + i);
        if (full == n) return;
        // The tail, zero-padded into one full vector: the same code as every other element.
        float* padA = stackalloc float[16], padB = stackalloc float[16];
        new Span<float>(padA, 16).Clear();
        new Span<float>(padB, 16).Clear();
        int rest = n - full;
        new ReadOnlySpan<float>(a + full, rest).CopyTo(new Span<float>(padA, rest));
        new ReadOnlySpan<float>(b + full, rest).CopyTo(new Span<float>(padB, rest));
        TL.Store(step.Apply<TV, TL>(TL.Load(padA), TL.Load(padB)), padA);
        new ReadOnlySpan<float>(padA, rest).CopyTo(new Span<float>(y + full, rest));
    }
}

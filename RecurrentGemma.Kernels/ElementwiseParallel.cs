using RecurrentGemma.Kernels.Operators;
using RecurrentGemma.Kernels.Parallel;

namespace RecurrentGemma.Kernels;

/// <summary>
/// Element-wise maps over large spans (a prefill chunk's MLP activations: rows x 7680) split into chunks across the pool.
/// Chunks are multiples of every vector width, and an element's result never depends on its position, so the output is
/// bit-identical to the single-threaded map.
/// </summary>
public static partial class Elementwise
{
    /// <summary>Elements per task; below two of these the map runs on the calling thread.</summary>
    const int ParallelChunk = 32 * 1024;

    public static unsafe void Map<TOp>(TOp op, ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> y, WorkerPool? pool) where TOp : struct, IBinaryOperator
    {
        if (pool is null || a.Length < 2 * ParallelChunk)
        {
            Map(op, a, b, y, Simd.Best);
            return;
        }
        if (b.Length != a.Length) throw new ArgumentException("inputs differ in length", nameof(b));
        if (y.Length < a.Length) throw new ArgumentException("output shorter than input", nameof(y));
        var job = BinaryJob<TOp>.Current ??= new BinaryJob<TOp>();
        fixed (float* ap = a, bp = b, yp = y)
        {
            job.Op = op;
            job.A = ap;
            job.B = bp;
            job.Y = yp;
            job.Length = a.Length;
            pool.Run(job, (a.Length + ParallelChunk - 1) / ParallelChunk);
        }
    }

    sealed unsafe class BinaryJob<TOp> : IParallelWork where TOp : struct, IBinaryOperator
    {
        [ThreadStatic] public static BinaryJob<TOp>? Current;
        public TOp Op;
        public float* A, B, Y;
        public int Length;

        public void Execute(int index)
        {
            int start = index * ParallelChunk, n = Math.Min(ParallelChunk, Length - start);
            Map(Op, new ReadOnlySpan<float>(A + start, n), new ReadOnlySpan<float>(B + start, n), new Span<float>(Y + start, n), Simd.Best);
        }
    }
}

using RecurrentGemma.Kernels.Operators;
using RecurrentGemma.Kernels.Parallel;

namespace RecurrentGemma.Kernels;

/// <summary>y = x * rsqrt(mean(x^2) + eps) * scale, row by row. Gemma's (1 + w) is folded into <c>scale</c> once at load.</summary>
public static class RmsNorm
{
    public static void Apply(ReadOnlySpan<float> x, ReadOnlySpan<float> scale, float eps, Span<float> y, int rows, WorkerPool? pool = null) =>
        Apply(x, scale, eps, y, rows, pool, Simd.Best);

    public static void Apply(ReadOnlySpan<float> x, ReadOnlySpan<float> scale, float eps, Span<float> y, int rows, SimdWidth width) =>
        Apply(x, scale, eps, y, rows, null, width);

    /// <summary>Rows are independent, so many rows (a prefill chunk, a batch of decodes) split across the pool; each row
    /// runs the same code either way, so the bits do not depend on the split.</summary>
    public static unsafe void Apply(ReadOnlySpan<float> x, ReadOnlySpan<float> scale, float eps, Span<float> y, int rows, WorkerPool? pool, SimdWidth width)
    {
        int d = scale.Length;
        if (rows < 0 || x.Length < (long)rows * d || y.Length < (long)rows * d) throw new ArgumentException($"need {rows}x{d} elements");
        if (pool is null || rows < MinRowsToSplit)
        {
            for (int r = 0; r < rows; r++) Row(x.Slice(r * d, d), scale, eps, y.Slice(r * d, d), width);
            return;
        }
        var job = t_job ??= new Job();
        fixed (float* xp = x, sp = scale, yp = y)
        {
            job.X = xp; job.Scale = sp; job.Y = yp;
            (job.Dim, job.Rows, job.Eps, job.Width) = (d, rows, eps, width);
            job.Tasks = Math.Min(rows, pool.Threads * 4);
            pool.Run(job, job.Tasks);
        }
    }

    /// <summary>Below this a row costs less than waking a worker.</summary>
    const int MinRowsToSplit = 8;

    static void Row(ReadOnlySpan<float> x, ReadOnlySpan<float> scale, float eps, Span<float> y, SimdWidth width)
    {
        float meanSquare = Reductions.SumOfSquares(x, width) / scale.Length;
        float inv = 1f / MathF.Sqrt(meanSquare + eps);
        Elementwise.Map(new ScaledMultiplyOperator(inv), x, scale, y, width);
    }

    [ThreadStatic] static Job? t_job;

    sealed unsafe class Job : IParallelWork
    {
        public float* X, Scale, Y;
        public int Dim, Rows, Tasks;
        public float Eps;
        public SimdWidth Width;

        public void Execute(int task)
        {
            int r0 = (int)((long)task * Rows / Tasks), r1 = (int)((long)(task + 1) * Rows / Tasks);
            var scale = new ReadOnlySpan<float>(Scale, Dim);
            for (int r = r0; r < r1; r++)
                Row(new ReadOnlySpan<float>(X + (long)r * Dim, Dim), scale, Eps, new Span<float>(Y + (long)r * Dim, Dim), Width);
        }
    }
}

using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace RecurrentGemma.Kernels;

/// <summary>
/// Partial rotary position embedding, rotate-half form: in each head the first 2*half dims are rotated
/// ([x1, x2] -> [x1 cos - x2 sin, x2 cos + x1 sin]), the rest pass through.
/// </summary>
public static class Rope
{
    /// <summary>inv_freq[i] = 1 / theta^(2i / rotaryDim), i &lt; rotaryDim / 2.</summary>
    public static float[] InverseFrequencies(int rotaryDim, double theta)
    {
        var inv = new float[rotaryDim / 2];
        for (int i = 0; i < inv.Length; i++) inv[i] = (float)(1.0 / Math.Pow(theta, 2.0 * i / rotaryDim));
        return inv;
    }

    /// <summary>cos and sin of position * inv_freq (angles in double: exact enough at any position).</summary>
    public static void Angles(int position, ReadOnlySpan<float> inverseFrequencies, Span<float> cos, Span<float> sin)
    {
        for (int i = 0; i < inverseFrequencies.Length; i++)
        {
            double angle = (double)position * inverseFrequencies[i];
            cos[i] = (float)Math.Cos(angle);
            sin[i] = (float)Math.Sin(angle);
        }
    }

    /// <summary>
    /// Every row of a step at once, across the pool: row r of <paramref name="q"/> (heads x headDim) and of
    /// <paramref name="k"/> (one head) rotated by the angles of <paramref name="positions"/>[r]. Each row is computed
    /// exactly as <see cref="Angles"/> then <see cref="Apply(Span{float}, int, int, ReadOnlySpan{float}, ReadOnlySpan{float})"/>
    /// would, whichever thread takes it.
    /// </summary>
    public static unsafe void ApplyRows(Span<float> q, Span<float> k, ReadOnlySpan<int> positions, int heads, int headDim,
        float[] inverseFrequencies, Parallel.WorkerPool? pool)
    {
        int rows = positions.Length;
        if (q.Length < (long)rows * heads * headDim || k.Length < (long)rows * headDim)
            throw new ArgumentException($"q and k need {rows} rows of {heads}x{headDim} and {headDim}");
        if (2 * inverseFrequencies.Length > headDim) throw new ArgumentException($"rotary half {inverseFrequencies.Length} does not fit head dim {headDim}");
        var job = t_rows ??= new RowsJob();
        fixed (float* qp = q, kp = k)
        fixed (int* pp = positions)
        {
            job.Q = qp;
            job.K = kp;
            job.Positions = pp;
            (job.Heads, job.HeadDim, job.InverseFrequencies) = (heads, headDim, inverseFrequencies);
            job.Tasks = pool is null || rows < 2 ? 1 : Math.Min(rows, pool.Threads * 4);
            job.Rows = rows;
            if (job.Tasks == 1) job.Execute(0);
            else pool!.Run(job, job.Tasks);
            job.InverseFrequencies = null!;
        }
    }

    [ThreadStatic] static RowsJob? t_rows;

    sealed unsafe class RowsJob : Parallel.IParallelWork
    {
        [ThreadStatic] static float[]? t_cos, t_sin;
        public float* Q, K;
        public int* Positions;
        public int Heads, HeadDim, Rows, Tasks;
        public float[] InverseFrequencies = null!;

        public void Execute(int task)
        {
            int half = InverseFrequencies.Length;
            var cos = (t_cos is { } c && c.Length == half ? c : t_cos = new float[half]).AsSpan();
            var sin = (t_sin is { } s && s.Length == half ? s : t_sin = new float[half]).AsSpan();
            int perTask = (Rows + Tasks - 1) / Tasks;
            for (int r = task * perTask, end = Math.Min(Rows, r + perTask); r < end; r++)
            {
                Angles(Positions[r], InverseFrequencies, cos, sin);
                Apply(new Span<float>(Q + (long)r * Heads * HeadDim, Heads * HeadDim), Heads, HeadDim, cos, sin);
                Apply(new Span<float>(K + (long)r * HeadDim, HeadDim), 1, HeadDim, cos, sin);
            }
        }
    }

    public static void Apply(Span<float> x, int heads, int headDim, ReadOnlySpan<float> cos, ReadOnlySpan<float> sin) =>
        Apply(x, heads, headDim, cos, sin, Simd.Best);

    public static unsafe void Apply(Span<float> x, int heads, int headDim, ReadOnlySpan<float> cos, ReadOnlySpan<float> sin, SimdWidth width)
    {
        int half = cos.Length;
        if (sin.Length != half || 2 * half > headDim) throw new ArgumentException($"rotary half {half} does not fit head dim {headDim}");
        if (x.Length < (long)heads * headDim) throw new ArgumentException($"x needs {heads}x{headDim}", nameof(x));
        fixed (float* xp = x, cp = cos, sp = sin)
        {
            for (int h = 0; h < heads; h++)
            {
                float* head = xp + (long)h * headDim;
                switch (width)
                {
                    case SimdWidth.Vector512: Rotate<Vector512<float>, Lanes512>(head, head + half, cp, sp, half); break;
                    case SimdWidth.Vector256: Rotate<Vector256<float>, Lanes256>(head, head + half, cp, sp, half); break;
                    case SimdWidth.Vector128: Rotate<Vector128<float>, Lanes128>(head, head + half, cp, sp, half); break;
                    default: Rotate<float, LanesScalar>(head, head + half, cp, sp, half); break;
                }
            }
        }
    }

    /// <summary>[x1, x2] -> [x1 cos - x2 sin, x2 cos + x1 sin] over n pairs: full vectors, then the rest one lane at a time.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static unsafe void Rotate<TV, TL>(float* x1, float* x2, float* cos, float* sin, int n) where TV : struct where TL : struct, IVectorLanes<TV>
    {
        int i = 0;
        for (; i + TL.Count <= n; i += TL.Count) Pair<TV, TL>(x1 + i, x2 + i, cos + i, sin + i);
        for (; i < n; i++) Pair<float, LanesScalar>(x1 + i, x2 + i, cos + i, sin + i);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static unsafe void Pair<TV, TL>(float* x1, float* x2, float* cos, float* sin) where TV : struct where TL : struct, IVectorLanes<TV>
    {
        TV a = TL.Load(x1), b = TL.Load(x2), c = TL.Load(cos), s = TL.Load(sin);
        TL.Store(TL.Subtract(TL.Multiply(a, c), TL.Multiply(b, s)), x1);
        TL.Store(TL.Add(TL.Multiply(b, c), TL.Multiply(a, s)), x2);
    }
}

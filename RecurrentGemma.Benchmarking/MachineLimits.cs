using RecurrentGemma.Kernels;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using RecurrentGemma.Kernels.MatMul;
using RecurrentGemma.Kernels.Memory;
using RecurrentGemma.Kernels.Parallel;

namespace RecurrentGemma.Benchmarking;

/// <summary>
/// Short probes of this machine's two rooflines, measured with the same threads the engine uses, so throughput can be
/// reported as a fraction of what the hardware does right now (shared machines drift; ratios survive). Each probe
/// keeps its best of several repetitions.
/// </summary>
public static unsafe class MachineLimits
{
    /// <summary>Read bandwidth in GB/s (1e9 bytes/s): the pool streams a buffer far larger than the caches.</summary>
    public static double MeasureReadBandwidth(WorkerPool pool, long bytes = 512L << 20, int repetitions = 5)
    {
        var buffer = (float*)NativeBuffer.Allocate(bytes);
        try
        {
            long floats = bytes / sizeof(float);
            new Span<byte>(buffer, (int)Math.Min(bytes, int.MaxValue)).Fill(1);
            for (long i = int.MaxValue; i < bytes; i++) ((byte*)buffer)[i] = 1;
            var job = new ReadJob { Data = buffer, Floats = floats, Tasks = pool.Threads * 16 };
            pool.Run(job, job.Tasks);   // warm: page tables, threads awake
            double best = double.MaxValue;
            for (int r = 0; r < repetitions; r++)
            {
                long t0 = Stopwatch.GetTimestamp();
                pool.Run(job, job.Tasks);
                best = Math.Min(best, Stopwatch.GetElapsedTime(t0).TotalSeconds);
            }
            return bytes / best / 1e9;
        }
        finally
        {
            NativeBuffer.Free(buffer, bytes);
        }
    }

    /// <summary>f32 FMA peak in GFLOP/s (an FMA counts 2 flops) at the widest vector width, across the pool's threads.</summary>
    public static double MeasureFmaPeak(WorkerPool pool, long iterationsPerThread = 20_000_000, int repetitions = 3) =>
        OperationsPerSecond(pool, new FmaJob(), FmaJob.Chains * 2.0 * (int)Simd.Best, iterationsPerThread, repetitions) / 1e9;

    /// <summary>
    /// Integer dot-product peak in GOP/s (a u8 x s8 multiply-add counts 2 ops) on the quantized matmul's own
    /// instruction sequence (<see cref="Int8Paths.Best"/>: VPDPBUSD where there is AVX-VNNI, SDOT on ARM64 with FEAT_DotProd), across the pool's threads.
    /// </summary>
    public static double MeasureInt8Peak(WorkerPool pool, long iterationsPerThread = 20_000_000, int repetitions = 3) =>
        OperationsPerSecond(pool, new Int8Job(), Int8Job.OpsPerIteration, iterationsPerThread, repetitions) / 1e9;

    /// <summary>A loop of independent chains on every thread: a short warm-up run, then the best of the repetitions.</summary>
    static double OperationsPerSecond(WorkerPool pool, IPeakLoop job, double opsPerIteration, long iterationsPerThread, int repetitions)
    {
        job.Iterations = iterationsPerThread / 10;
        pool.Run(job, pool.Threads);
        job.Iterations = iterationsPerThread;
        double best = double.MaxValue;
        for (int r = 0; r < repetitions; r++)
        {
            long t0 = Stopwatch.GetTimestamp();
            pool.Run(job, pool.Threads);
            best = Math.Min(best, Stopwatch.GetElapsedTime(t0).TotalSeconds);
        }
        return pool.Threads * iterationsPerThread * opsPerIteration / best;
    }

    interface IPeakLoop : IParallelWork
    {
        long Iterations { set; }
    }

    sealed class Int8Job : IPeakLoop
    {
        const int Chains = 12;
        public long Iterations { get; set; }
        public int Sink;

        public static int OpsPerIteration => Chains * 2 * 4 * Int8Paths.Best switch
        {
            Int8Path.AvxVnni or Int8Path.Avx2 => VnniLanes.Count,
            Int8Path.Avx512 => Avx512Lanes.Count,
            Int8Path.Vector128 or Int8Path.ArmDp => PortableLanes.Count,
            _ => 1,
        };

        public void Execute(int index) => Sink += Int8Paths.Best switch
        {
            Int8Path.AvxVnni => Run<Vector256<int>, Vector256<float>, VnniLanes>(Iterations),
            Int8Path.Avx512 => Run<Vector512<int>, Vector512<float>, Avx512Lanes>(Iterations),
            Int8Path.Avx2 => Run<Vector256<int>, Vector256<float>, Avx2Lanes>(Iterations),
            Int8Path.Vector128 => Run<Vector128<int>, Vector128<float>, PortableLanes>(Iterations),
            Int8Path.ArmDp => Run<Vector128<int>, Vector128<float>, DpLanes>(Iterations),
            _ => Run<int, float, ScalarInt8Lanes>(Iterations),
        };

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        static int Run<TI, TF, TL>(long n) where TI : struct where TF : struct where TL : struct, IInt8Lanes<TI, TF>
        {
            TI w = TL.Splat(0x01020304), x = TL.Splat(0x01FF01FF);
            TI a0 = w, a1 = w, a2 = w, a3 = w, a4 = w, a5 = w, a6 = w, a7 = w, a8 = w, a9 = w, a10 = w, a11 = w;
            for (long i = 0; i < n; i++)
            {
                a0 = TL.Dot(a0, w, x); a1 = TL.Dot(a1, w, x); a2 = TL.Dot(a2, w, x); a3 = TL.Dot(a3, w, x);
                a4 = TL.Dot(a4, w, x); a5 = TL.Dot(a5, w, x); a6 = TL.Dot(a6, w, x); a7 = TL.Dot(a7, w, x);
                a8 = TL.Dot(a8, w, x); a9 = TL.Dot(a9, w, x); a10 = TL.Dot(a10, w, x); a11 = TL.Dot(a11, w, x);
            }
            TI sum = TL.Add(TL.Add(TL.Add(a0, a1), TL.Add(a2, a3)), TL.Add(TL.Add(a4, a5), TL.Add(a6, a7)));
            sum = TL.Add(sum, TL.Add(TL.Add(a8, a9), TL.Add(a10, a11)));
            return sum.GetHashCode();
        }
    }

    sealed class ReadJob : IParallelWork
    {
        public float* Data;
        public long Floats;
        public int Tasks;
        public float Sink;

        public void Execute(int index)
        {
            long chunk = Floats / Tasks, start = index * chunk, end = index == Tasks - 1 ? Floats : start + chunk;
            float s = Sum(Data + start, end - start);
            Sink += s;   // racy on purpose: only has to stop the JIT dropping the loads
        }

        /// <summary>Sums four equal parts of the range at once: four sequential streams per thread, like the GEMV's four
        /// panels (one stream alone leaves bandwidth unused on this machine).</summary>
        static float Sum(float* p, long n) => Vector512.IsHardwareAccelerated ? Sum<Vector512<float>, Lanes512>(p, n)
            : Vector256.IsHardwareAccelerated ? Sum<Vector256<float>, Lanes256>(p, n)
            : Sum<Vector128<float>, Lanes128>(p, n);

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        static float Sum<TV, TL>(float* p, long n) where TV : struct where TL : struct, IBf16Lanes<TV>
        {
            long part = n / 4 / 64 * 64;
            float* p0 = p, p1 = p + part, p2 = p + 2 * part, p3 = p + 3 * part;
            TV one = TL.Broadcast(1f), a = default, b = default, c = default, d = default;
            for (long i = 0; i < part; i += TL.Count)
            {
                a = TL.FusedMultiplyAdd(TL.Load(p0 + i), one, a);
                b = TL.FusedMultiplyAdd(TL.Load(p1 + i), one, b);
                c = TL.FusedMultiplyAdd(TL.Load(p2 + i), one, c);
                d = TL.FusedMultiplyAdd(TL.Load(p3 + i), one, d);
            }
            return TL.Sum(a) + TL.Sum(b) + TL.Sum(c) + TL.Sum(d);
        }
    }

    sealed class FmaJob : IPeakLoop
    {
        public const int Chains = 12;   // independent accumulators: enough to cover FMA latency x throughput
        public long Iterations { get; set; }
        public float Sink;

        public void Execute(int index) => Sink += Simd.Best switch
        {
            SimdWidth.Vector512 => Run<Vector512<float>, Lanes512>(Iterations),
            SimdWidth.Vector256 => Run<Vector256<float>, Lanes256>(Iterations),
            _ => Run<Vector128<float>, Lanes128>(Iterations),
        };

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        static float Run<TV, TL>(long n) where TV : struct where TL : struct, IBf16Lanes<TV>
        {
            TV m = TL.Broadcast(0.999999f), c = TL.Broadcast(1e-7f);
            TV a0 = m, a1 = m, a2 = m, a3 = m, a4 = m, a5 = m, a6 = m, a7 = m, a8 = m, a9 = m, a10 = m, a11 = m;
            for (long i = 0; i < n; i++)
            {
                a0 = TL.FusedMultiplyAdd(a0, m, c); a1 = TL.FusedMultiplyAdd(a1, m, c);
                a2 = TL.FusedMultiplyAdd(a2, m, c); a3 = TL.FusedMultiplyAdd(a3, m, c);
                a4 = TL.FusedMultiplyAdd(a4, m, c); a5 = TL.FusedMultiplyAdd(a5, m, c);
                a6 = TL.FusedMultiplyAdd(a6, m, c); a7 = TL.FusedMultiplyAdd(a7, m, c);
                a8 = TL.FusedMultiplyAdd(a8, m, c); a9 = TL.FusedMultiplyAdd(a9, m, c);
                a10 = TL.FusedMultiplyAdd(a10, m, c); a11 = TL.FusedMultiplyAdd(a11, m, c);
            }
            return TL.Sum(a0) + TL.Sum(a1) + TL.Sum(a2) + TL.Sum(a3) + TL.Sum(a4) + TL.Sum(a5)
                + TL.Sum(a6) + TL.Sum(a7) + TL.Sum(a8) + TL.Sum(a9) + TL.Sum(a10) + TL.Sum(a11);
        }
    }
}

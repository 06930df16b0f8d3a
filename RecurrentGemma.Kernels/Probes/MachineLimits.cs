using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using RecurrentGemma.Kernels.Memory;
using RecurrentGemma.Kernels.Parallel;

namespace RecurrentGemma.Kernels.Probes;

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
            if (job.Sink == 42.5f) Console.Error.Write("");   // keep the reads observable
            return bytes / best / 1e9;
        }
        finally
        {
            NativeBuffer.Free(buffer);
        }
    }

    /// <summary>f32 FMA peak in GFLOP/s (an FMA counts 2 flops) at the widest vector width, across the pool's threads.</summary>
    public static double MeasureFmaPeak(WorkerPool pool, long iterationsPerThread = 20_000_000, int repetitions = 3)
    {
        var job = new FmaJob { Iterations = iterationsPerThread / 10 };
        pool.Run(job, pool.Threads);
        job.Iterations = iterationsPerThread;
        double best = double.MaxValue;
        for (int r = 0; r < repetitions; r++)
        {
            long t0 = Stopwatch.GetTimestamp();
            pool.Run(job, pool.Threads);
            best = Math.Min(best, Stopwatch.GetElapsedTime(t0).TotalSeconds);
        }
        double flopsPerIteration = FmaJob.Chains * 2.0 * (int)Simd.Best;
        return pool.Threads * iterationsPerThread * flopsPerIteration / best / 1e9;
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
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        static float Sum(float* p, long n)
        {
            long part = n / 4 / 64 * 64;
            float* p0 = p, p1 = p + part, p2 = p + 2 * part, p3 = p + 3 * part;
            if (Vector512.IsHardwareAccelerated)
            {
                Vector512<float> a = default, b = default, c = default, d = default;
                for (long i = 0; i < part; i += 32)
                {
                    a += Vector512.Load(p0 + i) + Vector512.Load(p0 + i + 16);
                    b += Vector512.Load(p1 + i) + Vector512.Load(p1 + i + 16);
                    c += Vector512.Load(p2 + i) + Vector512.Load(p2 + i + 16);
                    d += Vector512.Load(p3 + i) + Vector512.Load(p3 + i + 16);
                }
                return Vector512.Sum(a + b + c + d);
            }
            Vector256<float> a2 = default, b2 = default, c2 = default, d2 = default;
            for (long i = 0; i < part; i += 16)
            {
                a2 += Vector256.Load(p0 + i) + Vector256.Load(p0 + i + 8);
                b2 += Vector256.Load(p1 + i) + Vector256.Load(p1 + i + 8);
                c2 += Vector256.Load(p2 + i) + Vector256.Load(p2 + i + 8);
                d2 += Vector256.Load(p3 + i) + Vector256.Load(p3 + i + 8);
            }
            return Vector256.Sum(a2 + b2 + c2 + d2);
        }
    }

    sealed class FmaJob : IParallelWork
    {
        public const int Chains = 12;   // independent accumulators: enough to cover FMA latency x throughput
        public long Iterations;
        public float Sink;

        public void Execute(int index) => Sink += Simd.Best switch
        {
            SimdWidth.Vector512 => Run512(Iterations),
            SimdWidth.Vector256 => Run256(Iterations),
            _ => Run128(Iterations),
        };

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        static float Run512(long n)
        {
            var m = Vector512.Create(0.999999f);
            var c = Vector512.Create(1e-7f);
            Vector512<float> a0 = m, a1 = m, a2 = m, a3 = m, a4 = m, a5 = m, a6 = m, a7 = m, a8 = m, a9 = m, a10 = m, a11 = m;
            for (long i = 0; i < n; i++)
            {
                a0 = Vector512.FusedMultiplyAdd(a0, m, c); a1 = Vector512.FusedMultiplyAdd(a1, m, c);
                a2 = Vector512.FusedMultiplyAdd(a2, m, c); a3 = Vector512.FusedMultiplyAdd(a3, m, c);
                a4 = Vector512.FusedMultiplyAdd(a4, m, c); a5 = Vector512.FusedMultiplyAdd(a5, m, c);
                a6 = Vector512.FusedMultiplyAdd(a6, m, c); a7 = Vector512.FusedMultiplyAdd(a7, m, c);
                a8 = Vector512.FusedMultiplyAdd(a8, m, c); a9 = Vector512.FusedMultiplyAdd(a9, m, c);
                a10 = Vector512.FusedMultiplyAdd(a10, m, c); a11 = Vector512.FusedMultiplyAdd(a11, m, c);
            }
            return Vector512.Sum(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11);
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        static float Run256(long n)
        {
            var m = Vector256.Create(0.999999f);
            var c = Vector256.Create(1e-7f);
            Vector256<float> a0 = m, a1 = m, a2 = m, a3 = m, a4 = m, a5 = m, a6 = m, a7 = m, a8 = m, a9 = m, a10 = m, a11 = m;
            for (long i = 0; i < n; i++)
            {
                a0 = Vector256.FusedMultiplyAdd(a0, m, c); a1 = Vector256.FusedMultiplyAdd(a1, m, c);
                a2 = Vector256.FusedMultiplyAdd(a2, m, c); a3 = Vector256.FusedMultiplyAdd(a3, m, c);
                a4 = Vector256.FusedMultiplyAdd(a4, m, c); a5 = Vector256.FusedMultiplyAdd(a5, m, c);
                a6 = Vector256.FusedMultiplyAdd(a6, m, c); a7 = Vector256.FusedMultiplyAdd(a7, m, c);
                a8 = Vector256.FusedMultiplyAdd(a8, m, c); a9 = Vector256.FusedMultiplyAdd(a9, m, c);
                a10 = Vector256.FusedMultiplyAdd(a10, m, c); a11 = Vector256.FusedMultiplyAdd(a11, m, c);
            }
            return Vector256.Sum(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11);
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        static float Run128(long n)
        {
            var m = Vector128.Create(0.999999f);
            var c = Vector128.Create(1e-7f);
            Vector128<float> a0 = m, a1 = m, a2 = m, a3 = m, a4 = m, a5 = m, a6 = m, a7 = m, a8 = m, a9 = m, a10 = m, a11 = m;
            for (long i = 0; i < n; i++)
            {
                a0 = Vector128.FusedMultiplyAdd(a0, m, c); a1 = Vector128.FusedMultiplyAdd(a1, m, c);
                a2 = Vector128.FusedMultiplyAdd(a2, m, c); a3 = Vector128.FusedMultiplyAdd(a3, m, c);
                a4 = Vector128.FusedMultiplyAdd(a4, m, c); a5 = Vector128.FusedMultiplyAdd(a5, m, c);
                a6 = Vector128.FusedMultiplyAdd(a6, m, c); a7 = Vector128.FusedMultiplyAdd(a7, m, c);
                a8 = Vector128.FusedMultiplyAdd(a8, m, c); a9 = Vector128.FusedMultiplyAdd(a9, m, c);
                a10 = Vector128.FusedMultiplyAdd(a10, m, c); a11 = Vector128.FusedMultiplyAdd(a11, m, c);
            }
            return Vector128.Sum(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11);
        }
    }
}

using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace RecurrentGemma.Kernels;

/// <summary>
/// Reductions over f32 spans. ArgMax is exact in any order (our Max, then a search). The sums and Max are ours,
/// written once over widths (<see cref="IReduction"/> + one driver): TensorPrimitives aligns its loop to the span's
/// address, so the order it adds in (and the rounded result) depends on where a row happens to live in memory, and a
/// row batched with others would not sum like the same row alone. Ours adds in an order fixed by the length and the
/// width alone: four interleaved vector accumulators, then the full vectors left over, lanes summed, then the tail
/// element by element.
/// </summary>
public static unsafe class Reductions
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Dot(ReadOnlySpan<float> a, ReadOnlySpan<float> b) => Dot(a, b, Simd.Best);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Dot(ReadOnlySpan<float> a, ReadOnlySpan<float> b, SimdWidth width)
    {
        if (a.Length != b.Length) throw new ArgumentException($"lengths differ ({a.Length} and {b.Length})", nameof(b));
        fixed (float* pa = a, pb = b) return Reduce(new DotStep(), pa, pb, a.Length, width);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float SumOfSquares(ReadOnlySpan<float> x, SimdWidth width) => Dot(x, x, width);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Sum(ReadOnlySpan<float> x, SimdWidth width)
    {
        fixed (float* px = x) return Reduce(new SumStep(), px, px, x.Length, width);
    }

    /// <summary>Sum of the elements that are >= threshold (top-p's "mass kept by this cut").</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float SumAtLeast(ReadOnlySpan<float> x, float threshold, SimdWidth width)
    {
        fixed (float* px = x) return Reduce(new SumAtLeastStep(threshold), px, px, x.Length, width);
    }

    /// <summary>
    /// Index of the largest value, the first one on ties (numpy's rule, which the golden greedy ids follow), with
    /// TensorPrimitives.IndexOfMax's rules for NaN (the first NaN) and signed zeros (+0 above -0). Found as our
    /// <see cref="Max(ReadOnlySpan{float})"/>, then the first element with its bits (the BCL's vectorized search): a
    /// nonzero value equals the max exactly when its bits do. 256000 logits: 114 us through IndexOfMax, 22 us this way.
    /// </summary>
    public static int ArgMax(ReadOnlySpan<float> x)
    {
        if (x.IsEmpty) throw new ArgumentException("empty span", nameof(x));
        float max = Max(x);
        if (max == 0 || float.IsNaN(max)) return TensorPrimitives.IndexOfMax(x);
        return MemoryMarshal.Cast<float, int>(x).IndexOf(BitConverter.SingleToInt32Bits(max));
    }

    /// <summary>The largest value (NaN if there is one). Exact in any order, but TensorPrimitives.Max, with its NaN and
    /// signed-zero rules, took 167 ns for 2560 values against 43 ns for a sum, so a softmax row uses this.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Max(ReadOnlySpan<float> x)
    {
        if (x.IsEmpty) throw new ArgumentException("empty span", nameof(x));
        fixed (float* px = x) return Reduce(new MaxStep(), px, px, x.Length, Simd.Best);
    }

    /// <summary>One step of a reduction at any width: fold the vector (or scalar) at a[i], b[i] into the accumulator.</summary>
    interface IReduction
    {
        /// <summary>The accumulators' start (0 for sums, -inf for max).</summary>
        float Identity { get; }
        TV Step<TV, TL>(TV acc, float* a, float* b) where TV : struct where TL : struct, IVectorLanes<TV>;
        /// <summary>Two accumulators into one, then one into a scalar.</summary>
        TV Combine<TV, TL>(TV x, TV y) where TV : struct where TL : struct, IVectorLanes<TV>;
        float Across<TV, TL>(TV v) where TV : struct where TL : struct, IVectorLanes<TV>;
    }

    /// <summary>The sums' common part: accumulators add, lanes sum. (Explicit in each struct: a default interface
    /// method called through a struct constraint boxes.)</summary>
    static class SumParts
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static TV Combine<TV, TL>(TV x, TV y) where TV : struct where TL : struct, IVectorLanes<TV> => TL.Add(x, y);
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static float Across<TV, TL>(TV v) where TV : struct where TL : struct, IVectorLanes<TV> => TL.Sum(v);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static float Reduce<TR>(TR op, float* a, float* b, int n, SimdWidth width) where TR : struct, IReduction => width switch
    {
        SimdWidth.Vector512 => Reduce<TR, Vector512<float>, Lanes512>(op, a, b, n),
        SimdWidth.Vector256 => Reduce<TR, Vector256<float>, Lanes256>(op, a, b, n),
        SimdWidth.Vector128 => Reduce<TR, Vector128<float>, Lanes128>(op, a, b, n),
        _ => Reduce<TR, float, LanesScalar>(op, a, b, n),
    };

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static float Reduce<TR, TV, TL>(TR op, float* a, float* b, int n)
        where TR : struct, IReduction where TV : struct where TL : struct, IVectorLanes<TV>
    {
        // Four independent accumulators (one dependency chain would wait on FMA latency), combined in a fixed order.
        TV acc0 = TL.Broadcast(op.Identity), acc1 = acc0, acc2 = acc0, acc3 = acc0;
        int i = 0, c = TL.Count;
        for (; i + 4 * c <= n; i += 4 * c)
        {
            acc0 = op.Step<TV, TL>(acc0, a + i, b + i);
            acc1 = op.Step<TV, TL>(acc1, a + i + c, b + i + c);
            acc2 = op.Step<TV, TL>(acc2, a + i + 2 * c, b + i + 2 * c);
            acc3 = op.Step<TV, TL>(acc3, a + i + 3 * c, b + i + 3 * c);
        }
        for (; i + c <= n; i += c) acc0 = op.Step<TV, TL>(acc0, a + i, b + i);
        float sum = op.Across<TV, TL>(op.Combine<TV, TL>(op.Combine<TV, TL>(acc0, acc1), op.Combine<TV, TL>(acc2, acc3)));
        for (; i < n; i++) sum = op.Step<float, LanesScalar>(sum, a + i, b + i);
        return sum;
    }

    readonly struct DotStep : IReduction
    {
        public float Identity => 0f;
        public TV Combine<TV, TL>(TV x, TV y) where TV : struct where TL : struct, IVectorLanes<TV> => SumParts.Combine<TV, TL>(x, y);
        public float Across<TV, TL>(TV v) where TV : struct where TL : struct, IVectorLanes<TV> => SumParts.Across<TV, TL>(v);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public TV Step<TV, TL>(TV acc, float* a, float* b) where TV : struct where TL : struct, IVectorLanes<TV> =>
            TL.FusedMultiplyAdd(TL.Load(a), TL.Load(b), acc);
    }

    readonly struct SumStep : IReduction
    {
        public float Identity => 0f;
        public TV Combine<TV, TL>(TV x, TV y) where TV : struct where TL : struct, IVectorLanes<TV> => SumParts.Combine<TV, TL>(x, y);
        public float Across<TV, TL>(TV v) where TV : struct where TL : struct, IVectorLanes<TV> => SumParts.Across<TV, TL>(v);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public TV Step<TV, TL>(TV acc, float* a, float* b) where TV : struct where TL : struct, IVectorLanes<TV> =>
            TL.Add(acc, TL.Load(a));
    }

    readonly struct SumAtLeastStep(float threshold) : IReduction
    {
        readonly float _threshold = threshold;
        public float Identity => 0f;
        public TV Combine<TV, TL>(TV x, TV y) where TV : struct where TL : struct, IVectorLanes<TV> => SumParts.Combine<TV, TL>(x, y);
        public float Across<TV, TL>(TV v) where TV : struct where TL : struct, IVectorLanes<TV> => SumParts.Across<TV, TL>(v);


        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public TV Step<TV, TL>(TV acc, float* a, float* b) where TV : struct where TL : struct, IVectorLanes<TV> =>
            TL.Add(acc, TL.KeepAtLeast(TL.Load(a), TL.Broadcast(_threshold)));
    }

    readonly struct MaxStep : IReduction
    {
        public float Identity => float.NegativeInfinity;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public TV Step<TV, TL>(TV acc, float* a, float* b) where TV : struct where TL : struct, IVectorLanes<TV> => TL.Max(acc, TL.Load(a));

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public TV Combine<TV, TL>(TV x, TV y) where TV : struct where TL : struct, IVectorLanes<TV> => TL.Max(x, y);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public float Across<TV, TL>(TV v) where TV : struct where TL : struct, IVectorLanes<TV> => TL.MaxAcross(v);
    }
}

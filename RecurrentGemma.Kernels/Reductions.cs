using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace RecurrentGemma.Kernels;

/// <summary>Dot products and reductions over f32 spans, accumulated in f32 lanes then summed.</summary>
public static class Reductions
{
    public static float Dot(ReadOnlySpan<float> a, ReadOnlySpan<float> b) => Dot(a, b, Simd.Best);

    public static float Dot(ReadOnlySpan<float> a, ReadOnlySpan<float> b, SimdWidth width)
    {
        if (a.Length != b.Length) throw new ArgumentException("lengths differ", nameof(b));
        ref float ar = ref MemoryMarshal.GetReference(a);
        ref float br = ref MemoryMarshal.GetReference(b);
        nuint n = (nuint)a.Length, i = 0;
        float sum = 0;
        if (width == SimdWidth.Vector512 && n >= 16)
        {
            var acc = Vector512<float>.Zero;
            for (; i + 16 <= n; i += 16) acc = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref ar, i), Vector512.LoadUnsafe(ref br, i), acc);
            sum = Vector512.Sum(acc);
        }
        else if (width == SimdWidth.Vector256 && n >= 8)
        {
            var acc = Vector256<float>.Zero;
            for (; i + 8 <= n; i += 8) acc = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref ar, i), Vector256.LoadUnsafe(ref br, i), acc);
            sum = Vector256.Sum(acc);
        }
        else if (width == SimdWidth.Vector128 && n >= 4)
        {
            var acc = Vector128<float>.Zero;
            for (; i + 4 <= n; i += 4) acc = Vector128.FusedMultiplyAdd(Vector128.LoadUnsafe(ref ar, i), Vector128.LoadUnsafe(ref br, i), acc);
            sum = Vector128.Sum(acc);
        }
        for (; i < n; i++) sum += a[(int)i] * b[(int)i];
        return sum;
    }

    public static float SumOfSquares(ReadOnlySpan<float> x, SimdWidth width) => Dot(x, x, width);

    public static float Sum(ReadOnlySpan<float> x, SimdWidth width)
    {
        ref float xr = ref MemoryMarshal.GetReference(x);
        nuint n = (nuint)x.Length, i = 0;
        float sum = 0;
        if (width == SimdWidth.Vector512 && n >= 16)
        {
            var acc = Vector512<float>.Zero;
            for (; i + 16 <= n; i += 16) acc += Vector512.LoadUnsafe(ref xr, i);
            sum = Vector512.Sum(acc);
        }
        else if (width >= SimdWidth.Vector256 && n >= 8)
        {
            var acc = Vector256<float>.Zero;
            for (; i + 8 <= n; i += 8) acc += Vector256.LoadUnsafe(ref xr, i);
            sum = Vector256.Sum(acc);
        }
        else if (width >= SimdWidth.Vector128 && n >= 4)
        {
            var acc = Vector128<float>.Zero;
            for (; i + 4 <= n; i += 4) acc += Vector128.LoadUnsafe(ref xr, i);
            sum = Vector128.Sum(acc);
        }
        for (; i < n; i++) sum += x[(int)i];
        return sum;
    }

    /// <summary>y += a .* b (element-wise multiply-accumulate).</summary>
    public static void MultiplyAdd(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> y, SimdWidth width)
    {
        if (b.Length != a.Length || y.Length < a.Length) throw new ArgumentException("lengths differ");
        ref float ar = ref MemoryMarshal.GetReference(a);
        ref float br = ref MemoryMarshal.GetReference(b);
        ref float yr = ref MemoryMarshal.GetReference(y);
        nuint n = (nuint)a.Length, i = 0;
        if (width >= SimdWidth.Vector512)
            for (; i + 16 <= n; i += 16)
                Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref ar, i), Vector512.LoadUnsafe(ref br, i), Vector512.LoadUnsafe(ref yr, i)).StoreUnsafe(ref yr, i);
        if (width >= SimdWidth.Vector256)
            for (; i + 8 <= n; i += 8)
                Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref ar, i), Vector256.LoadUnsafe(ref br, i), Vector256.LoadUnsafe(ref yr, i)).StoreUnsafe(ref yr, i);
        if (width >= SimdWidth.Vector128)
            for (; i + 4 <= n; i += 4)
                Vector128.FusedMultiplyAdd(Vector128.LoadUnsafe(ref ar, i), Vector128.LoadUnsafe(ref br, i), Vector128.LoadUnsafe(ref yr, i)).StoreUnsafe(ref yr, i);
        for (; i < n; i++) y[(int)i] += a[(int)i] * b[(int)i];
    }

    /// <summary>Index of the largest value, the first one on ties (numpy's rule, which the golden greedy ids follow).</summary>
    public static int ArgMax(ReadOnlySpan<float> x)
    {
        if (x.IsEmpty) throw new ArgumentException("empty span", nameof(x));
        int best = 0;
        for (int i = 1; i < x.Length; i++) if (x[i] > x[best]) best = i;
        return best;
    }

    public static float Max(ReadOnlySpan<float> x, SimdWidth width)
    {
        if (x.IsEmpty) throw new ArgumentException("empty span", nameof(x));
        ref float xr = ref MemoryMarshal.GetReference(x);
        nuint n = (nuint)x.Length, i = 0;
        float max = float.NegativeInfinity;
        if (width == SimdWidth.Vector512 && n >= 16)
        {
            var acc = Vector512.Create(float.NegativeInfinity);
            for (; i + 16 <= n; i += 16) acc = Vector512.Max(acc, Vector512.LoadUnsafe(ref xr, i));
            for (int l = 0; l < 16; l++) max = MathF.Max(max, acc[l]);
        }
        else if (width >= SimdWidth.Vector256 && n >= 8)
        {
            var acc = Vector256.Create(float.NegativeInfinity);
            for (; i + 8 <= n; i += 8) acc = Vector256.Max(acc, Vector256.LoadUnsafe(ref xr, i));
            for (int l = 0; l < 8; l++) max = MathF.Max(max, acc[l]);
        }
        else if (width >= SimdWidth.Vector128 && n >= 4)
        {
            var acc = Vector128.Create(float.NegativeInfinity);
            for (; i + 4 <= n; i += 4) acc = Vector128.Max(acc, Vector128.LoadUnsafe(ref xr, i));
            for (int l = 0; l < 4; l++) max = MathF.Max(max, acc[l]);
        }
        for (; i < n; i++) max = MathF.Max(max, x[(int)i]);
        return max;
    }

    /// <summary>Sum of the elements that are >= threshold (top-p's "mass kept by this cut").</summary>
    public static float SumAtLeast(ReadOnlySpan<float> x, float threshold, SimdWidth width)
    {
        ref float xr = ref MemoryMarshal.GetReference(x);
        nuint n = (nuint)x.Length, i = 0;
        float sum = 0;
        if (width == SimdWidth.Vector512 && n >= 16)
        {
            var acc = Vector512<float>.Zero;
            var t = Vector512.Create(threshold);
            for (; i + 16 <= n; i += 16)
            {
                var v = Vector512.LoadUnsafe(ref xr, i);
                acc += Vector512.ConditionalSelect(Vector512.GreaterThanOrEqual(v, t), v, Vector512<float>.Zero);
            }
            sum = Vector512.Sum(acc);
        }
        else if (width >= SimdWidth.Vector256 && n >= 8)
        {
            var acc = Vector256<float>.Zero;
            var t = Vector256.Create(threshold);
            for (; i + 8 <= n; i += 8)
            {
                var v = Vector256.LoadUnsafe(ref xr, i);
                acc += Vector256.ConditionalSelect(Vector256.GreaterThanOrEqual(v, t), v, Vector256<float>.Zero);
            }
            sum = Vector256.Sum(acc);
        }
        else if (width >= SimdWidth.Vector128 && n >= 4)
        {
            var acc = Vector128<float>.Zero;
            var t = Vector128.Create(threshold);
            for (; i + 4 <= n; i += 4)
            {
                var v = Vector128.LoadUnsafe(ref xr, i);
                acc += Vector128.ConditionalSelect(Vector128.GreaterThanOrEqual(v, t), v, Vector128<float>.Zero);
            }
            sum = Vector128.Sum(acc);
        }
        for (; i < n; i++) if (x[(int)i] >= threshold) sum += x[(int)i];
        return sum;
    }
}

using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using RecurrentGemma.Kernels.Operators;

namespace RecurrentGemma.Kernels;

/// <summary>
/// The one driver for element-wise operators: the widest vector first, then narrower ones for the tail, then scalar.
/// In-place use (x and y the same span) is allowed; every element is computed exactly once.
/// </summary>
public static class Elementwise
{
    public static void Map<TOp>(TOp op, ReadOnlySpan<float> x, Span<float> y) where TOp : struct, IUnaryOperator =>
        Map(op, x, y, Simd.Best);

    public static void Map<TOp>(TOp op, ReadOnlySpan<float> x, Span<float> y, SimdWidth width) where TOp : struct, IUnaryOperator
    {
        if (y.Length < x.Length) throw new ArgumentException("output shorter than input", nameof(y));
        ref float xs = ref MemoryMarshal.GetReference(x);
        ref float ys = ref MemoryMarshal.GetReference(y);
        nuint n = (nuint)x.Length, i = 0;
        if (width >= SimdWidth.Vector512)
            for (; i + 16 <= n; i += 16) op.Invoke(Vector512.LoadUnsafe(ref xs, i)).StoreUnsafe(ref ys, i);
        if (width >= SimdWidth.Vector256)
            for (; i + 8 <= n; i += 8) op.Invoke(Vector256.LoadUnsafe(ref xs, i)).StoreUnsafe(ref ys, i);
        if (width >= SimdWidth.Vector128)
            for (; i + 4 <= n; i += 4) op.Invoke(Vector128.LoadUnsafe(ref xs, i)).StoreUnsafe(ref ys, i);
        for (; i < n; i++) y[(int)i] = op.Invoke(x[(int)i]);
    }

    public static void Map<TOp>(TOp op, ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> y) where TOp : struct, IBinaryOperator =>
        Map(op, a, b, y, Simd.Best);

    public static void Map<TOp>(TOp op, ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> y, SimdWidth width) where TOp : struct, IBinaryOperator
    {
        if (b.Length != a.Length) throw new ArgumentException("inputs differ in length", nameof(b));
        if (y.Length < a.Length) throw new ArgumentException("output shorter than input", nameof(y));
        ref float as_ = ref MemoryMarshal.GetReference(a);
        ref float bs = ref MemoryMarshal.GetReference(b);
        ref float ys = ref MemoryMarshal.GetReference(y);
        nuint n = (nuint)a.Length, i = 0;
        if (width >= SimdWidth.Vector512)
            for (; i + 16 <= n; i += 16) op.Invoke(Vector512.LoadUnsafe(ref as_, i), Vector512.LoadUnsafe(ref bs, i)).StoreUnsafe(ref ys, i);
        if (width >= SimdWidth.Vector256)
            for (; i + 8 <= n; i += 8) op.Invoke(Vector256.LoadUnsafe(ref as_, i), Vector256.LoadUnsafe(ref bs, i)).StoreUnsafe(ref ys, i);
        if (width >= SimdWidth.Vector128)
            for (; i + 4 <= n; i += 4) op.Invoke(Vector128.LoadUnsafe(ref as_, i), Vector128.LoadUnsafe(ref bs, i)).StoreUnsafe(ref ys, i);
        for (; i < n; i++) y[(int)i] = op.Invoke(a[(int)i], b[(int)i]);
    }
}

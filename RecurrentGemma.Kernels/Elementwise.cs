using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using RecurrentGemma.Kernels.Operators;

namespace RecurrentGemma.Kernels;

/// <summary>
/// The one driver for element-wise operators. At a given width every element goes through the same vector code: the
/// tail is padded into one full vector rather than handled by narrower or scalar code. So an element's result never
/// depends on its index or on the span's length, which is what makes a sequence's logits bit-identical whether it runs
/// alone or batched with others. In-place use (x and y the same span) is allowed.
/// </summary>
public static class Elementwise
{
    public static void Map<TOp>(TOp op, ReadOnlySpan<float> x, Span<float> y) where TOp : struct, IUnaryOperator =>
        Map(op, x, y, Simd.Best);

    public static void Map<TOp>(TOp op, ReadOnlySpan<float> x, Span<float> y, SimdWidth width) where TOp : struct, IUnaryOperator
    {
        if (y.Length < x.Length) throw new ArgumentException("output shorter than input", nameof(y));
        int lanes = (int)width, n = x.Length;
        int full = n - n % lanes;
        ref float xs = ref MemoryMarshal.GetReference(x);
        ref float ys = ref MemoryMarshal.GetReference(y);
        switch (width)
        {
            case SimdWidth.Vector512:
                for (nuint i = 0; i < (nuint)full; i += 16) op.Invoke(Vector512.LoadUnsafe(ref xs, i)).StoreUnsafe(ref ys, i);
                break;
            case SimdWidth.Vector256:
                for (nuint i = 0; i < (nuint)full; i += 8) op.Invoke(Vector256.LoadUnsafe(ref xs, i)).StoreUnsafe(ref ys, i);
                break;
            case SimdWidth.Vector128:
                for (nuint i = 0; i < (nuint)full; i += 4) op.Invoke(Vector128.LoadUnsafe(ref xs, i)).StoreUnsafe(ref ys, i);
                break;
            default:
                for (int i = 0; i < n; i++) y[i] = op.Invoke(x[i]);
                return;
        }
        if (full == n) return;
        Span<float> pad = stackalloc float[16];
        pad.Clear();
        x[full..].CopyTo(pad);
        ref float p = ref MemoryMarshal.GetReference(pad);
        switch (width)
        {
            case SimdWidth.Vector512: op.Invoke(Vector512.LoadUnsafe(ref p)).StoreUnsafe(ref p); break;
            case SimdWidth.Vector256: op.Invoke(Vector256.LoadUnsafe(ref p)).StoreUnsafe(ref p); break;
            default: op.Invoke(Vector128.LoadUnsafe(ref p)).StoreUnsafe(ref p); break;
        }
        pad[..(n - full)].CopyTo(y[full..]);
    }

    public static void Map<TOp>(TOp op, ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> y) where TOp : struct, IBinaryOperator =>
        Map(op, a, b, y, Simd.Best);

    public static void Map<TOp>(TOp op, ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> y, SimdWidth width) where TOp : struct, IBinaryOperator
    {
        if (b.Length != a.Length) throw new ArgumentException("inputs differ in length", nameof(b));
        if (y.Length < a.Length) throw new ArgumentException("output shorter than input", nameof(y));
        int lanes = (int)width, n = a.Length;
        int full = n - n % lanes;
        ref float ar = ref MemoryMarshal.GetReference(a);
        ref float br = ref MemoryMarshal.GetReference(b);
        ref float ys = ref MemoryMarshal.GetReference(y);
        switch (width)
        {
            case SimdWidth.Vector512:
                for (nuint i = 0; i < (nuint)full; i += 16) op.Invoke(Vector512.LoadUnsafe(ref ar, i), Vector512.LoadUnsafe(ref br, i)).StoreUnsafe(ref ys, i);
                break;
            case SimdWidth.Vector256:
                for (nuint i = 0; i < (nuint)full; i += 8) op.Invoke(Vector256.LoadUnsafe(ref ar, i), Vector256.LoadUnsafe(ref br, i)).StoreUnsafe(ref ys, i);
                break;
            case SimdWidth.Vector128:
                for (nuint i = 0; i < (nuint)full; i += 4) op.Invoke(Vector128.LoadUnsafe(ref ar, i), Vector128.LoadUnsafe(ref br, i)).StoreUnsafe(ref ys, i);
                break;
            default:
                for (int i = 0; i < n; i++) y[i] = op.Invoke(a[i], b[i]);
                return;
        }
        if (full == n) return;
        Span<float> padA = stackalloc float[16], padB = stackalloc float[16];
        padA.Clear();
        padB.Clear();
        a[full..].CopyTo(padA);
        b[full..].CopyTo(padB);
        ref float pa = ref MemoryMarshal.GetReference(padA);
        ref float pb = ref MemoryMarshal.GetReference(padB);
        switch (width)
        {
            case SimdWidth.Vector512: op.Invoke(Vector512.LoadUnsafe(ref pa), Vector512.LoadUnsafe(ref pb)).StoreUnsafe(ref pa); break;
            case SimdWidth.Vector256: op.Invoke(Vector256.LoadUnsafe(ref pa), Vector256.LoadUnsafe(ref pb)).StoreUnsafe(ref pa); break;
            default: op.Invoke(Vector128.LoadUnsafe(ref pa), Vector128.LoadUnsafe(ref pb)).StoreUnsafe(ref pa); break;
        }
        padA[..(n - full)].CopyTo(y[full..]);
    }
}

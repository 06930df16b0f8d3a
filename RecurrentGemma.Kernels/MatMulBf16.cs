using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace RecurrentGemma.Kernels;

/// <summary>
/// y[r, o] = sum_i x[r, i] * W[o, i] + bias[o] with W in bf16, [out, in] (the checkpoint's Linear layout, used in place).
/// bf16 widens to f32 exactly by a 16-bit shift; products accumulate in f32.
/// </summary>
public static class MatMulBf16
{
    public static void Multiply(ReadOnlySpan<float> x, int rows, ReadOnlySpan<ushort> w, int outDim, ReadOnlySpan<float> bias, Span<float> y) =>
        Multiply(x, rows, w, outDim, bias, y, Simd.Best);

    public static void Multiply(ReadOnlySpan<float> x, int rows, ReadOnlySpan<ushort> w, int outDim, ReadOnlySpan<float> bias, Span<float> y, SimdWidth width)
    {
        if (rows == 0) return;
        int inDim = x.Length / rows;
        if (x.Length != rows * inDim) throw new ArgumentException($"x length {x.Length} is not a multiple of {rows} rows", nameof(x));
        if (w.Length != (long)outDim * inDim) throw new ArgumentException($"W has {w.Length} elements, expected {outDim}x{inDim}", nameof(w));
        if (y.Length < rows * outDim) throw new ArgumentException($"y needs {rows}x{outDim}", nameof(y));
        if (!bias.IsEmpty && bias.Length != outDim) throw new ArgumentException($"bias has {bias.Length}, expected {outDim}", nameof(bias));
        for (int o = 0; o < outDim; o++)
        {
            var wRow = w.Slice(o * inDim, inDim);
            float b = bias.IsEmpty ? 0f : bias[o];
            for (int r = 0; r < rows; r++)
                y[r * outDim + o] = Dot(wRow, x.Slice(r * inDim, inDim), width) + b;
        }
    }

    /// <summary>sum_i widen(w[i]) * x[i].</summary>
    public static float Dot(ReadOnlySpan<ushort> w, ReadOnlySpan<float> x, SimdWidth width)
    {
        if (w.Length != x.Length) throw new ArgumentException("lengths differ", nameof(x));
        ref ushort wr = ref MemoryMarshal.GetReference(w);
        ref float xr = ref MemoryMarshal.GetReference(x);
        nuint n = (nuint)w.Length, i = 0;
        float sum = 0;
        if (width == SimdWidth.Vector512 && n >= 32)
        {
            Vector512<float> acc0 = default, acc1 = default;
            for (; i + 32 <= n; i += 32)
            {
                var wv = Vector512.LoadUnsafe(ref wr, i);
                acc0 = Vector512.FusedMultiplyAdd((Vector512.WidenLower(wv) << 16).AsSingle(), Vector512.LoadUnsafe(ref xr, i), acc0);
                acc1 = Vector512.FusedMultiplyAdd((Vector512.WidenUpper(wv) << 16).AsSingle(), Vector512.LoadUnsafe(ref xr, i + 16), acc1);
            }
            sum = Vector512.Sum(acc0 + acc1);
        }
        else if (width == SimdWidth.Vector256 && n >= 16)
        {
            Vector256<float> acc0 = default, acc1 = default;
            for (; i + 16 <= n; i += 16)
            {
                var wv = Vector256.LoadUnsafe(ref wr, i);
                acc0 = Vector256.FusedMultiplyAdd((Vector256.WidenLower(wv) << 16).AsSingle(), Vector256.LoadUnsafe(ref xr, i), acc0);
                acc1 = Vector256.FusedMultiplyAdd((Vector256.WidenUpper(wv) << 16).AsSingle(), Vector256.LoadUnsafe(ref xr, i + 8), acc1);
            }
            sum = Vector256.Sum(acc0 + acc1);
        }
        else if (width == SimdWidth.Vector128 && n >= 8)
        {
            Vector128<float> acc0 = default, acc1 = default;
            for (; i + 8 <= n; i += 8)
            {
                var wv = Vector128.LoadUnsafe(ref wr, i);
                acc0 = Vector128.FusedMultiplyAdd((Vector128.WidenLower(wv) << 16).AsSingle(), Vector128.LoadUnsafe(ref xr, i), acc0);
                acc1 = Vector128.FusedMultiplyAdd((Vector128.WidenUpper(wv) << 16).AsSingle(), Vector128.LoadUnsafe(ref xr, i + 4), acc1);
            }
            sum = Vector128.Sum(acc0 + acc1);
        }
        for (; i < n; i++) sum += Bf16.ToFloat(w[(int)i]) * x[(int)i];
        return sum;
    }

    /// <summary>y += a * widen(w): one row of an [in, out]-layout matrix (the RG-LRU gate blocks are stored that way).</summary>
    public static void Axpy(float a, ReadOnlySpan<ushort> w, Span<float> y, SimdWidth width)
    {
        if (y.Length < w.Length) throw new ArgumentException("output shorter than input", nameof(y));
        ref ushort wr = ref MemoryMarshal.GetReference(w);
        ref float yr = ref MemoryMarshal.GetReference(y);
        nuint n = (nuint)w.Length, i = 0;
        if (width >= SimdWidth.Vector512)
        {
            var av = Vector512.Create(a);
            for (; i + 32 <= n; i += 32)
            {
                var wv = Vector512.LoadUnsafe(ref wr, i);
                Vector512.FusedMultiplyAdd(av, (Vector512.WidenLower(wv) << 16).AsSingle(), Vector512.LoadUnsafe(ref yr, i)).StoreUnsafe(ref yr, i);
                Vector512.FusedMultiplyAdd(av, (Vector512.WidenUpper(wv) << 16).AsSingle(), Vector512.LoadUnsafe(ref yr, i + 16)).StoreUnsafe(ref yr, i + 16);
            }
        }
        if (width >= SimdWidth.Vector256)
        {
            var av = Vector256.Create(a);
            for (; i + 16 <= n; i += 16)
            {
                var wv = Vector256.LoadUnsafe(ref wr, i);
                Vector256.FusedMultiplyAdd(av, (Vector256.WidenLower(wv) << 16).AsSingle(), Vector256.LoadUnsafe(ref yr, i)).StoreUnsafe(ref yr, i);
                Vector256.FusedMultiplyAdd(av, (Vector256.WidenUpper(wv) << 16).AsSingle(), Vector256.LoadUnsafe(ref yr, i + 8)).StoreUnsafe(ref yr, i + 8);
            }
        }
        if (width >= SimdWidth.Vector128)
        {
            var av = Vector128.Create(a);
            for (; i + 8 <= n; i += 8)
            {
                var wv = Vector128.LoadUnsafe(ref wr, i);
                Vector128.FusedMultiplyAdd(av, (Vector128.WidenLower(wv) << 16).AsSingle(), Vector128.LoadUnsafe(ref yr, i)).StoreUnsafe(ref yr, i);
                Vector128.FusedMultiplyAdd(av, (Vector128.WidenUpper(wv) << 16).AsSingle(), Vector128.LoadUnsafe(ref yr, i + 4)).StoreUnsafe(ref yr, i + 4);
            }
        }
        for (; i < n; i++) y[(int)i] += a * Bf16.ToFloat(w[(int)i]);
    }
}

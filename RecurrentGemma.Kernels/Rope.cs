using System.Runtime.InteropServices;
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

    public static void Apply(Span<float> x, int heads, int headDim, ReadOnlySpan<float> cos, ReadOnlySpan<float> sin) =>
        Apply(x, heads, headDim, cos, sin, Simd.Best);

    public static void Apply(Span<float> x, int heads, int headDim, ReadOnlySpan<float> cos, ReadOnlySpan<float> sin, SimdWidth width)
    {
        int half = cos.Length;
        if (sin.Length != half || 2 * half > headDim) throw new ArgumentException($"rotary half {half} does not fit head dim {headDim}");
        if (x.Length < heads * headDim) throw new ArgumentException($"x needs {heads}x{headDim}", nameof(x));
        ref float cr = ref MemoryMarshal.GetReference(cos);
        ref float sr = ref MemoryMarshal.GetReference(sin);
        for (int h = 0; h < heads; h++)
        {
            ref float x1 = ref x[h * headDim];
            ref float x2 = ref x[h * headDim + half];
            nuint i = 0, n = (nuint)half;
            if (width >= SimdWidth.Vector512)
                for (; i + 16 <= n; i += 16)
                {
                    var a = Vector512.LoadUnsafe(ref x1, i); var b = Vector512.LoadUnsafe(ref x2, i);
                    var c = Vector512.LoadUnsafe(ref cr, i); var s = Vector512.LoadUnsafe(ref sr, i);
                    (a * c - b * s).StoreUnsafe(ref x1, i);
                    (b * c + a * s).StoreUnsafe(ref x2, i);
                }
            if (width >= SimdWidth.Vector256)
                for (; i + 8 <= n; i += 8)
                {
                    var a = Vector256.LoadUnsafe(ref x1, i); var b = Vector256.LoadUnsafe(ref x2, i);
                    var c = Vector256.LoadUnsafe(ref cr, i); var s = Vector256.LoadUnsafe(ref sr, i);
                    (a * c - b * s).StoreUnsafe(ref x1, i);
                    (b * c + a * s).StoreUnsafe(ref x2, i);
                }
            if (width >= SimdWidth.Vector128)
                for (; i + 4 <= n; i += 4)
                {
                    var a = Vector128.LoadUnsafe(ref x1, i); var b = Vector128.LoadUnsafe(ref x2, i);
                    var c = Vector128.LoadUnsafe(ref cr, i); var s = Vector128.LoadUnsafe(ref sr, i);
                    (a * c - b * s).StoreUnsafe(ref x1, i);
                    (b * c + a * s).StoreUnsafe(ref x2, i);
                }
            for (; i < n; i++)
            {
                int j = h * headDim + (int)i;
                float a = x[j], b = x[j + half];
                x[j] = a * cos[(int)i] - b * sin[(int)i];
                x[j + half] = b * cos[(int)i] + a * sin[(int)i];
            }
        }
    }
}

using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace RecurrentGemma.Kernels.MatMul;

/// <summary>
/// Rounds 32 weights to one block's codes and bf16 scale. The codes are computed against the stored (bf16-rounded)
/// scale, so the scale's rounding adds no error of its own. The vector path (Vector256) returns exactly what the scalar
/// one does (max and round-to-even are exact; tested), and quantizing a 2B model is bound by reading the checkpoint.
/// </summary>
public static unsafe class BlockQuantizer
{
    public const int Size = 32;

    public static bool Vectorized => Vector256.IsHardwareAccelerated;

    /// <summary>q8: code = clamp(round(w / d), -127, 127) + 128 with d = bf16(max|w| / 127).</summary>
    public static ushort Q8(float* w, byte* codes, bool vectorized)
    {
        float max = MaxAbs(w, vectorized);
        ushort scale = Bf16.FromFloat(max / 127f);
        float d = Bf16.ToFloat(scale), inverse = d > 0 ? 1f / d : 0f;
        Encode(w, codes, inverse, -127, 127, 128, vectorized);
        return scale;
    }

    /// <summary>q4: code = clamp(round(w / d) + 8, 0, 15) with d = bf16(-m / 8), m the weight of largest magnitude (the first, on ties).</summary>
    public static ushort Q4(float* w, byte* codes, bool vectorized)
    {
        float max = MaxAbs(w, vectorized), extreme = 0;
        for (int i = 0; i < Size; i++)
            if (MathF.Abs(w[i]) == max) { extreme = w[i]; break; }
        ushort scale = Bf16.FromFloat(extreme / -8f);
        float d = Bf16.ToFloat(scale), inverse = d != 0 ? 1f / d : 0f;
        Encode(w, codes, inverse, -8, 7, 8, vectorized);
        return scale;
    }

    /// <summary>max |w| over a block (exact whatever the order, so both paths agree).</summary>
    internal static float MaxAbs(float* w, bool vectorized)
    {
        float max = 0;
        if (vectorized)
        {
            var m = Vector256.Max(Vector256.Max(Vector256.Abs(Vector256.Load(w)), Vector256.Abs(Vector256.Load(w + 8))),
                                  Vector256.Max(Vector256.Abs(Vector256.Load(w + 16)), Vector256.Abs(Vector256.Load(w + 24))));
            for (int l = 0; l < 8; l++) max = MathF.Max(max, m[l]);
            return max;
        }
        for (int i = 0; i < Size; i++) max = MathF.Max(max, MathF.Abs(w[i]));
        return max;
    }

    /// <summary>
    /// codes[i] = clamp(round(w[i] * inverse), min, max) + offset (as bytes); returns the sum of the clamped values
    /// before the offset (the activations' offset correction).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static int Encode(float* w, byte* codes, float inverse, int min, int max, int offset, bool vectorized)
    {
        if (vectorized)
        {
            var inv = Vector256.Create(inverse);
            var lo = Vector256.Create(min);
            var hi = Vector256.Create(max);
            var off = Vector256.Create(offset);
            var total = Vector256<int>.Zero;
            for (int i = 0; i < Size; i += 16)
            {
                var a = Vector256.Min(Vector256.Max(Vector256.ConvertToInt32(Vector256.Round(Vector256.Load(w + i) * inv)), lo), hi);
                var b = Vector256.Min(Vector256.Max(Vector256.ConvertToInt32(Vector256.Round(Vector256.Load(w + i + 8) * inv)), lo), hi);
                total += a + b;
                var shorts = Vector256.Narrow((a + off).AsUInt32(), (b + off).AsUInt32());   // 16 values in order; low bytes kept
                Vector128.Narrow(shorts.GetLower(), shorts.GetUpper()).Store(codes + i);
            }
            return Vector256.Sum(total);
        }
        int sum = 0;
        for (int i = 0; i < Size; i++)
        {
            int q = Math.Clamp((int)MathF.Round(w[i] * inverse), min, max);
            codes[i] = (byte)(q + offset);
            sum += q;
        }
        return sum;
    }
}

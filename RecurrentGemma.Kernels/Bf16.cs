using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace RecurrentGemma.Kernels;

/// <summary>bfloat16 stored as its raw 16 bits: the top half of an IEEE float32.</summary>
public static class Bf16
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float ToFloat(ushort bits) => BitConverter.Int32BitsToSingle(bits << 16);

    /// <summary>Round to nearest, ties to even (what torch's .to(bfloat16) does); NaN stays NaN.</summary>
    public static ushort FromFloat(float value)
    {
        uint u = BitConverter.SingleToUInt32Bits(value);
        if (float.IsNaN(value)) return (ushort)((u >> 16) | 0x40);
        uint rounding = 0x7FFF + ((u >> 16) & 1);
        return (ushort)((u + rounding) >> 16);
    }

    public static float Round(float value) => ToFloat(FromFloat(value));

    public static void ToFloat(ReadOnlySpan<ushort> src, Span<float> dst)
    {
        if (dst.Length < src.Length) throw new ArgumentException("destination too short", nameof(dst));
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            ref ushort s = ref MemoryMarshal.GetReference(src);
            ref float d = ref MemoryMarshal.GetReference(dst);
            for (; i + 32 <= src.Length; i += 32)
            {
                var w = Vector512.LoadUnsafe(ref s, (nuint)i);
                (Vector512.WidenLower(w) << 16).AsSingle().StoreUnsafe(ref d, (nuint)i);
                (Vector512.WidenUpper(w) << 16).AsSingle().StoreUnsafe(ref d, (nuint)(i + 16));
            }
        }
        for (; i < src.Length; i++) dst[i] = ToFloat(src[i]);
    }

    /// <summary>Round to nearest even, vectorized (the same bits as the scalar <see cref="FromFloat(float)"/>; tested).</summary>
    public static void FromFloat(ReadOnlySpan<float> src, Span<ushort> dst)
    {
        if (dst.Length < src.Length) throw new ArgumentException("destination too short", nameof(dst));
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            ref float s = ref MemoryMarshal.GetReference(src);
            ref ushort d = ref MemoryMarshal.GetReference(dst);
            for (; i + 16 <= src.Length; i += 16)
            {
                var a = Round(Vector256.LoadUnsafe(ref s, (nuint)i));
                var b = Round(Vector256.LoadUnsafe(ref s, (nuint)(i + 8)));
                Vector256.Narrow(a, b).StoreUnsafe(ref d, (nuint)i);
            }
        }
        for (; i < src.Length; i++) dst[i] = FromFloat(src[i]);
    }

    /// <summary>Eight floats to their bf16 bits in the low halves: (u + 0x7FFF + lsb) >> 16, NaN kept quiet.</summary>
    static Vector256<uint> Round(Vector256<float> v)
    {
        var u = v.AsUInt32();
        var rounded = (u + Vector256.Create(0x7FFFu) + ((u >> 16) & Vector256.Create(1u))) >> 16;
        var nan = ~Vector256.Equals(v, v).AsUInt32();
        return Vector256.ConditionalSelect(nan, (u >> 16) | Vector256.Create(0x40u), rounded);
    }

    /// <summary>IEEE half to float32 (for F16 checkpoints, converted once at load).</summary>
    public static float HalfToFloat(ushort bits) => (float)BitConverter.UInt16BitsToHalf(bits);
}

using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;

namespace RecurrentGemma.Kernels.MatMul;

/// <summary>
/// The integer operations of the quantized matmul, one struct per <see cref="Int8Path"/>, so the tile is one generic
/// body. A vector holds <see cref="Count"/> 32-bit lanes, one output column each; lane j's four bytes are four
/// consecutive k of that column. <see cref="Dot"/> adds the four products (u8(w) - <see cref="WeightBias"/>) x s8(x)
/// to each lane exactly (no saturation on any path); the kernel's start values take the bias back (-bias x sum(x) per
/// block, <see cref="QuantizedActivations"/>), so every path returns the same integers.
/// </summary>
internal unsafe interface IInt8Lanes<TI, TF> where TI : struct where TF : struct
{
    static abstract int Count { get; }
    /// <summary>0 for the u8 x s8 instructions; 128 for signed x signed ones, which see a stored byte w as w - 128.</summary>
    static abstract int WeightBias { get; }
    static abstract TI Splat(int value);
    /// <summary>4 * Count bytes.</summary>
    static abstract TI Load(byte* p);
    /// <summary>The high nibbles left in place: each byte is 16 x its code (saves the shift; the dot is 16x, folded back exactly).</summary>
    static abstract TI HighNibbles16(TI v);
    /// <summary>x[0..4) (four signed bytes) in every lane.</summary>
    static abstract TI BroadcastQuad(sbyte* x);
    static abstract TI Dot(TI acc, TI w, TI x);
    static abstract TI Add(TI a, TI b);
    static abstract TI Subtract(TI a, TI b);
    /// <summary>Exact for |v| &lt; 2^24, which a 32-weight block's dot product always is.</summary>
    static abstract TF ToFloat(TI v);
}

internal unsafe struct VnniLanes : IInt8Lanes<Vector256<int>, Vector256<float>>
{
    public static int Count => 8;
    public static int WeightBias => 0;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<int> Splat(int value) => Vector256.Create(value);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<int> Load(byte* p) => Vector256.Load((int*)p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<int> HighNibbles16(Vector256<int> v) => v & Vector256.Create(unchecked((int)0xF0F0F0F0));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<int> BroadcastQuad(sbyte* x) => Vector256.Create(*(int*)x);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<int> Dot(Vector256<int> acc, Vector256<int> w, Vector256<int> x) => AvxVnni.MultiplyWideningAndAdd(acc, w.AsByte(), x.AsSByte());
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<int> Add(Vector256<int> a, Vector256<int> b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<int> Subtract(Vector256<int> a, Vector256<int> b) => a - b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> ToFloat(Vector256<int> v) => Vector256.ConvertToSingle(v);
}

/// <summary>VPMADDWD on 16-bit halves: even bytes (w zero-extended, x sign-extended) and odd bytes, each pair sum exact.</summary>
internal unsafe struct Avx2Lanes : IInt8Lanes<Vector256<int>, Vector256<float>>
{
    public static int Count => 8;
    public static int WeightBias => 0;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<int> Splat(int value) => Vector256.Create(value);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<int> Load(byte* p) => Vector256.Load((int*)p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<int> HighNibbles16(Vector256<int> v) => v & Vector256.Create(unchecked((int)0xF0F0F0F0));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<int> BroadcastQuad(sbyte* x) => Vector256.Create(*(int*)x);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> Dot(Vector256<int> acc, Vector256<int> w, Vector256<int> x)
    {
        var wEven = (w & Vector256.Create(0x00FF00FF)).AsInt16();
        var wOdd = Vector256.ShiftRightLogical(w, 8).AsInt16() & Vector256.Create((short)0xFF);
        var xEven = Vector256.ShiftRightArithmetic(Vector256.ShiftLeft(x.AsInt16(), 8), 8);
        var xOdd = Vector256.ShiftRightArithmetic(x.AsInt16(), 8);
        return acc + Avx2.MultiplyAddAdjacent(wEven, xEven) + Avx2.MultiplyAddAdjacent(wOdd, xOdd);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<int> Add(Vector256<int> a, Vector256<int> b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<int> Subtract(Vector256<int> a, Vector256<int> b) => a - b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> ToFloat(Vector256<int> v) => Vector256.ConvertToSingle(v);
}

internal unsafe struct Avx512Lanes : IInt8Lanes<Vector512<int>, Vector512<float>>
{
    public static int Count => 16;
    public static int WeightBias => 0;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<int> Splat(int value) => Vector512.Create(value);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<int> Load(byte* p) => Vector512.Load((int*)p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<int> HighNibbles16(Vector512<int> v) => v & Vector512.Create(unchecked((int)0xF0F0F0F0));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<int> BroadcastQuad(sbyte* x) => Vector512.Create(*(int*)x);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<int> Dot(Vector512<int> acc, Vector512<int> w, Vector512<int> x)
    {
        var wEven = (w & Vector512.Create(0x00FF00FF)).AsInt16();
        var wOdd = Vector512.ShiftRightLogical(w, 8).AsInt16() & Vector512.Create((short)0xFF);
        var xEven = Vector512.ShiftRightArithmetic(Vector512.ShiftLeft(x.AsInt16(), 8), 8);
        var xOdd = Vector512.ShiftRightArithmetic(x.AsInt16(), 8);
        return acc + Avx512BW.MultiplyAddAdjacent(wEven, xEven) + Avx512BW.MultiplyAddAdjacent(wOdd, xOdd);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<int> Add(Vector512<int> a, Vector512<int> b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<int> Subtract(Vector512<int> a, Vector512<int> b) => a - b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> ToFloat(Vector512<int> v) => Vector512.ConvertToSingle(v);
}

/// <summary>
/// Cross-platform Vector128: 16-bit products (|u8 x s8| &lt;= 32385 fits) of the even and odd bytes, then the two
/// 16-bit halves of each 32-bit lane sign-extended and added.
/// </summary>
internal unsafe struct PortableLanes : IInt8Lanes<Vector128<int>, Vector128<float>>
{
    public static int Count => 4;
    public static int WeightBias => 0;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<int> Splat(int value) => Vector128.Create(value);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<int> Load(byte* p) => Vector128.Load((int*)p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<int> HighNibbles16(Vector128<int> v) => v & Vector128.Create(unchecked((int)0xF0F0F0F0));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<int> BroadcastQuad(sbyte* x) => Vector128.Create(*(int*)x);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<int> Dot(Vector128<int> acc, Vector128<int> w, Vector128<int> x)
    {
        var wEven = (w & Vector128.Create(0x00FF00FF)).AsInt16();
        var wOdd = Vector128.ShiftRightLogical(w, 8).AsInt16() & Vector128.Create((short)0xFF);
        var xEven = Vector128.ShiftRightArithmetic(Vector128.ShiftLeft(x.AsInt16(), 8), 8);
        var xOdd = Vector128.ShiftRightArithmetic(x.AsInt16(), 8);
        var even = (wEven * xEven).AsInt32();
        var odd = (wOdd * xOdd).AsInt32();
        return acc + Vector128.ShiftRightArithmetic(Vector128.ShiftLeft(even, 16), 16) + Vector128.ShiftRightArithmetic(even, 16)
                   + Vector128.ShiftRightArithmetic(Vector128.ShiftLeft(odd, 16), 16) + Vector128.ShiftRightArithmetic(odd, 16);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<int> Add(Vector128<int> a, Vector128<int> b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<int> Subtract(Vector128<int> a, Vector128<int> b) => a - b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> ToFloat(Vector128<int> v) => Vector128.ConvertToSingle(v);
}

/// <summary>
/// ARM64's SDOT (<see cref="Dp"/>, FEAT_DotProd: Graviton 2+, Apple M1+, Neoverse): four s8 x s8 products summed into
/// each 32-bit lane in one instruction, as VPDPBUSD does on x64. It has no u8 x s8 form, so the stored bytes are flipped
/// to signed (w XOR 0x80 = w - 128 as s8) and the 128 x sum(x) this takes off is in the start values
/// (<see cref="WeightBias"/>). Where the CPU lacks SDOT the same integers come from two portable dots (the tests run
/// this path's arithmetic on every machine that way).
/// </summary>
internal unsafe struct DpLanes : IInt8Lanes<Vector128<int>, Vector128<float>>
{
    public static int Count => 4;
    public static int WeightBias => 128;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<int> Splat(int value) => Vector128.Create(value);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<int> Load(byte* p) => Vector128.Load((int*)p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<int> HighNibbles16(Vector128<int> v) => PortableLanes.HighNibbles16(v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<int> BroadcastQuad(sbyte* x) => Vector128.Create(*(int*)x);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<int> Dot(Vector128<int> acc, Vector128<int> w, Vector128<int> x)
    {
        var flip = Vector128.Create(unchecked((int)0x80808080));
        if (Dp.IsSupported) return Dp.DotProduct(acc, (w ^ flip).AsSByte(), x.AsSByte());
        return PortableLanes.Dot(acc, w, x) - PortableLanes.Dot(Vector128<int>.Zero, flip, x);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<int> Add(Vector128<int> a, Vector128<int> b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<int> Subtract(Vector128<int> a, Vector128<int> b) => a - b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> ToFloat(Vector128<int> v) => Vector128.ConvertToSingle(v);
}

/// <summary>One column at a time in plain integer arithmetic: the reference the vector paths must equal.</summary>
internal unsafe struct ScalarInt8Lanes : IInt8Lanes<int, float>
{
    public static int Count => 1;
    public static int WeightBias => 0;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static int Splat(int value) => value;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static int Load(byte* p) => *(int*)p;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static int HighNibbles16(int v) => v & unchecked((int)0xF0F0F0F0);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static int BroadcastQuad(sbyte* x) => *(int*)x;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int Dot(int acc, int w, int x)
    {
        for (int j = 0; j < 4; j++) acc += (byte)(w >> 8 * j) * (sbyte)(x >> 8 * j);
        return acc;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static int Add(int a, int b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static int Subtract(int a, int b) => a - b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float ToFloat(int v) => v;
}

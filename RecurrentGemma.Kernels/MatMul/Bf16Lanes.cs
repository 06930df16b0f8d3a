using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace RecurrentGemma.Kernels.MatMul;

/// <summary>
/// The vector operations the matmul tile (and the FMA-peak probe) need, one struct per width, so one generic body
/// serves Vector512, Vector256 and Vector128 (the JIT specialises it per struct and inlines these).
/// </summary>
internal unsafe interface IBf16Lanes<TV> where TV : struct
{
    /// <summary>f32 lanes per vector; one widening load covers 2*Count bf16 values of a panel row.</summary>
    static abstract int Count { get; }
    /// <summary>Loads 2*Count packed bf16 and widens: lo = the low halves (shift), hi = the high halves (mask).</summary>
    static abstract void Widen(ushort* p, out TV lo, out TV hi);
    static abstract TV Broadcast(float value);
    static abstract TV FusedMultiplyAdd(TV a, TV b, TV addend);
    static abstract void StorePlusBias(TV acc, float* bias, float* destination);
    static abstract float Sum(TV v);
    static abstract TV Load(float* source);
    static abstract void Store(TV v, float* destination);
}

internal unsafe struct Lanes512 : IBf16Lanes<Vector512<float>>
{
    public static int Count => 16;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Widen(ushort* p, out Vector512<float> lo, out Vector512<float> hi)
    {
        var w = Vector512.Load((uint*)p);
        lo = (w << 16).AsSingle();
        hi = (w & Vector512.Create(0xFFFF0000u)).AsSingle();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Broadcast(float value) => Vector512.Create(value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> FusedMultiplyAdd(Vector512<float> a, Vector512<float> b, Vector512<float> addend) => Vector512.FusedMultiplyAdd(a, b, addend);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void StorePlusBias(Vector512<float> acc, float* bias, float* destination) => (acc + Vector512.Load(bias)).Store(destination);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Sum(Vector512<float> v) => Vector512.Sum(v);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Load(float* source) => Vector512.Load(source);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(Vector512<float> v, float* destination) => v.Store(destination);
}

internal unsafe struct Lanes256 : IBf16Lanes<Vector256<float>>
{
    public static int Count => 8;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Widen(ushort* p, out Vector256<float> lo, out Vector256<float> hi)
    {
        var w = Vector256.Load((uint*)p);
        lo = (w << 16).AsSingle();
        hi = (w & Vector256.Create(0xFFFF0000u)).AsSingle();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Broadcast(float value) => Vector256.Create(value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> FusedMultiplyAdd(Vector256<float> a, Vector256<float> b, Vector256<float> addend) => Vector256.FusedMultiplyAdd(a, b, addend);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void StorePlusBias(Vector256<float> acc, float* bias, float* destination) => (acc + Vector256.Load(bias)).Store(destination);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Sum(Vector256<float> v) => Vector256.Sum(v);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Load(float* source) => Vector256.Load(source);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(Vector256<float> v, float* destination) => v.Store(destination);
}

internal unsafe struct Lanes128 : IBf16Lanes<Vector128<float>>
{
    public static int Count => 4;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Widen(ushort* p, out Vector128<float> lo, out Vector128<float> hi)
    {
        var w = Vector128.Load((uint*)p);
        lo = (w << 16).AsSingle();
        hi = (w & Vector128.Create(0xFFFF0000u)).AsSingle();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Broadcast(float value) => Vector128.Create(value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> FusedMultiplyAdd(Vector128<float> a, Vector128<float> b, Vector128<float> addend) => Vector128.FusedMultiplyAdd(a, b, addend);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void StorePlusBias(Vector128<float> acc, float* bias, float* destination) => (acc + Vector128.Load(bias)).Store(destination);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Sum(Vector128<float> v) => Vector128.Sum(v);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Load(float* source) => Vector128.Load(source);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(Vector128<float> v, float* destination) => v.Store(destination);
}

/// <summary>One lane: the portable path, and the arithmetic every vector path reproduces exactly.</summary>
internal unsafe struct LanesScalar : IBf16Lanes<float>
{
    public static int Count => 1;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Widen(ushort* p, out float lo, out float hi)
    {
        lo = Bf16.ToFloat(p[0]);
        hi = Bf16.ToFloat(p[1]);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Broadcast(float value) => value;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float FusedMultiplyAdd(float a, float b, float addend) => MathF.FusedMultiplyAdd(a, b, addend);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void StorePlusBias(float acc, float* bias, float* destination) => *destination = acc + *bias;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Sum(float v) => v;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Load(float* source) => *source;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(float v, float* destination) => *destination = v;
}

/// <summary>A compile-time row count for the tile (1..8), so the JIT drops the unused accumulators.</summary>
internal interface ITileRows { static abstract int N { get; } }
internal struct Rows1 : ITileRows { public static int N => 1; }
internal struct Rows2 : ITileRows { public static int N => 2; }
internal struct Rows3 : ITileRows { public static int N => 3; }
internal struct Rows4 : ITileRows { public static int N => 4; }
internal struct Rows5 : ITileRows { public static int N => 5; }
internal struct Rows6 : ITileRows { public static int N => 6; }
internal struct Rows7 : ITileRows { public static int N => 7; }
internal struct Rows8 : ITileRows { public static int N => 8; }

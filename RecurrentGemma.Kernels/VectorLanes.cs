using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using RecurrentGemma.Kernels.Operators;

namespace RecurrentGemma.Kernels;

/// <summary>
/// The vector operations kernels are written in, one struct per width (<see cref="Lanes512"/>, <see cref="Lanes256"/>,
/// <see cref="Lanes128"/>, <see cref="LanesScalar"/>), so each kernel is one generic body that the JIT specialises per
/// struct and inlines (the TensorPrimitives pattern). A kernel dispatches on <see cref="SimdWidth"/> once per call.
/// </summary>
public unsafe interface IVectorLanes<TV> where TV : struct
{
    /// <summary>f32 lanes per vector.</summary>
    static abstract int Count { get; }
    static abstract TV Broadcast(float value);
    static abstract TV Load(float* source);
    static abstract void Store(TV v, float* destination);
    static abstract TV Add(TV a, TV b);
    static abstract TV Subtract(TV a, TV b);
    static abstract TV Multiply(TV a, TV b);
    static abstract TV FusedMultiplyAdd(TV a, TV b, TV addend);
    static abstract TV Max(TV a, TV b);
    static abstract TV Exp(TV x);
    static abstract TV Sqrt(TV x);
    /// <summary>x where x >= threshold, else 0.</summary>
    static abstract TV KeepAtLeast(TV x, TV threshold);
    /// <summary>The sum of the lanes, in the width's fixed order.</summary>
    static abstract float Sum(TV v);
    /// <summary>
    /// sums[i] = Sum(vector i) for the <paramref name="count"/> vectors stored one after another at
    /// <paramref name="vectors"/>, bit for bit: the same pairwise tree over the lanes, but for Count vectors at once
    /// through shuffles of whole vectors (one vector of sums out), where one Sum is some twenty instructions.
    /// </summary>
    static abstract void SumEach(float* vectors, int count, float* sums);
    static abstract float MaxAcross(TV v);
    static abstract TV Apply<TOp>(TOp op, TV x) where TOp : struct, IUnaryOperator;
    static abstract TV Apply<TOp>(TOp op, TV a, TV b) where TOp : struct, IBinaryOperator;
}

/// <summary>The matmul tile's extra operations on packed bf16 panels.</summary>
public unsafe interface IBf16Lanes<TV> : IVectorLanes<TV> where TV : struct
{
    /// <summary>Loads 2*Count packed bf16 and widens: lo = the low halves (shift), hi = the high halves (mask).</summary>
    static abstract void Widen(ushort* p, out TV lo, out TV hi);
    static abstract void StorePlusBias(TV acc, float* bias, float* destination);
}

public unsafe struct Lanes512 : IBf16Lanes<Vector512<float>>
{
    public static int Count => 16;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Widen(ushort* p, out Vector512<float> lo, out Vector512<float> hi)
    {
        var w = Vector512.Load((uint*)p);
        lo = (w << 16).AsSingle();
        hi = (w & Vector512.Create(0xFFFF0000u)).AsSingle();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Broadcast(float value) => Vector512.Create(value);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Load(float* source) => Vector512.Load(source);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(Vector512<float> v, float* destination) => v.Store(destination);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Add(Vector512<float> a, Vector512<float> b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Subtract(Vector512<float> a, Vector512<float> b) => a - b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Multiply(Vector512<float> a, Vector512<float> b) => a * b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> FusedMultiplyAdd(Vector512<float> a, Vector512<float> b, Vector512<float> addend) => Vector512.FusedMultiplyAdd(a, b, addend);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Max(Vector512<float> a, Vector512<float> b) => Vector512.Max(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Exp(Vector512<float> x) => Vector512.Exp(x);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Sqrt(Vector512<float> x) => Vector512.Sqrt(x);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> KeepAtLeast(Vector512<float> x, Vector512<float> threshold) => Vector512.ConditionalSelect(Vector512.GreaterThanOrEqual(x, threshold), x, Vector512<float>.Zero);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Sum(Vector512<float> v) => Vector512.Sum(v);

    /// <summary>
    /// Vector512.Sum adds lanes (0+1) + (2+3) in each 128-bit block, then (block 0 + 1) + (block 2 + 3); the tree does
    /// the same additions for sixteen vectors: lane pairs, pairs of pairs, then blocks (a + b == b + a exactly).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void SumEach(float* v, int count, float* sums)
    {
        for (int i = 0; i < count; i += 16, v += 16 * 16)
        {
            int n = Math.Min(16, count - i);
            if (!Avx512F.IsSupported) { for (int j = 0; j < n; j++) sums[i + j] = Vector512.Sum(Vector512.Load(v + 16 * j)); continue; }
            var quarters0 = Pairs(Pairs(At(v, n, 0), At(v, n, 1)), Pairs(At(v, n, 2), At(v, n, 3)));
            var quarters1 = Pairs(Pairs(At(v, n, 4), At(v, n, 5)), Pairs(At(v, n, 6), At(v, n, 7)));
            var quarters2 = Pairs(Pairs(At(v, n, 8), At(v, n, 9)), Pairs(At(v, n, 10), At(v, n, 11)));
            var quarters3 = Pairs(Pairs(At(v, n, 12), At(v, n, 13)), Pairs(At(v, n, 14), At(v, n, 15)));
            var total = Blocks(Blocks(quarters0, quarters1), Blocks(quarters2, quarters3));
            if (n == 16) total.Store(sums + i);
            else for (int j = 0; j < n; j++) sums[i + j] = total.GetElement(j);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static Vector512<float> At(float* v, int n, int j) => j < n ? Vector512.Load(v + 16 * j) : default;
        // In each 128-bit block: [a0 + a1, a2 + a3, b0 + b1, b2 + b3].
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static Vector512<float> Pairs(Vector512<float> a, Vector512<float> b) => Avx512F.Shuffle(a, b, 0x88) + Avx512F.Shuffle(a, b, 0xDD);
        // [a.0 + a.1, a.2 + a.3, b.0 + b.1, b.2 + b.3] over 128-bit blocks.
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static Vector512<float> Blocks(Vector512<float> a, Vector512<float> b) => Avx512F.Shuffle4x128(a, b, 0x88) + Avx512F.Shuffle4x128(a, b, 0xDD);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float MaxAcross(Vector512<float> v)
    {
        float max = v[0];
        for (int l = 1; l < Count; l++) max = MathF.Max(max, v[l]);
        return max;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Apply<TOp>(TOp op, Vector512<float> x) where TOp : struct, IUnaryOperator => op.Invoke(x);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Apply<TOp>(TOp op, Vector512<float> a, Vector512<float> b) where TOp : struct, IBinaryOperator => op.Invoke(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void StorePlusBias(Vector512<float> acc, float* bias, float* destination) => (acc + Vector512.Load(bias)).Store(destination);
}

public unsafe struct Lanes256 : IBf16Lanes<Vector256<float>>
{
    public static int Count => 8;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Widen(ushort* p, out Vector256<float> lo, out Vector256<float> hi)
    {
        var w = Vector256.Load((uint*)p);
        lo = (w << 16).AsSingle();
        hi = (w & Vector256.Create(0xFFFF0000u)).AsSingle();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Broadcast(float value) => Vector256.Create(value);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Load(float* source) => Vector256.Load(source);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(Vector256<float> v, float* destination) => v.Store(destination);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Add(Vector256<float> a, Vector256<float> b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Subtract(Vector256<float> a, Vector256<float> b) => a - b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Multiply(Vector256<float> a, Vector256<float> b) => a * b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> FusedMultiplyAdd(Vector256<float> a, Vector256<float> b, Vector256<float> addend) => Vector256.FusedMultiplyAdd(a, b, addend);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Max(Vector256<float> a, Vector256<float> b) => Vector256.Max(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Exp(Vector256<float> x) => Vector256.Exp(x);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Sqrt(Vector256<float> x) => Vector256.Sqrt(x);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> KeepAtLeast(Vector256<float> x, Vector256<float> threshold) => Vector256.ConditionalSelect(Vector256.GreaterThanOrEqual(x, threshold), x, Vector256<float>.Zero);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Sum(Vector256<float> v) => Vector256.Sum(v);

    /// <summary>Vector256.Sum's tree ((0+1) + (2+3) per 128-bit half, then low + high) for eight vectors at once.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void SumEach(float* v, int count, float* sums)
    {
        for (int i = 0; i < count; i += 8, v += 8 * 8)
        {
            int n = Math.Min(8, count - i);
            if (!Avx.IsSupported) { for (int j = 0; j < n; j++) sums[i + j] = Vector256.Sum(Vector256.Load(v + 8 * j)); continue; }
            var halves0 = Pairs(Pairs(At(v, n, 0), At(v, n, 1)), Pairs(At(v, n, 2), At(v, n, 3)));
            var halves1 = Pairs(Pairs(At(v, n, 4), At(v, n, 5)), Pairs(At(v, n, 6), At(v, n, 7)));
            var total = Avx.Permute2x128(halves0, halves1, 0x20) + Avx.Permute2x128(halves0, halves1, 0x31);
            if (n == 8) total.Store(sums + i);
            else for (int j = 0; j < n; j++) sums[i + j] = total.GetElement(j);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static Vector256<float> At(float* v, int n, int j) => j < n ? Vector256.Load(v + 8 * j) : default;
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static Vector256<float> Pairs(Vector256<float> a, Vector256<float> b) => Avx.Shuffle(a, b, 0x88) + Avx.Shuffle(a, b, 0xDD);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float MaxAcross(Vector256<float> v)
    {
        float max = v[0];
        for (int l = 1; l < Count; l++) max = MathF.Max(max, v[l]);
        return max;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Apply<TOp>(TOp op, Vector256<float> x) where TOp : struct, IUnaryOperator => op.Invoke(x);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Apply<TOp>(TOp op, Vector256<float> a, Vector256<float> b) where TOp : struct, IBinaryOperator => op.Invoke(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void StorePlusBias(Vector256<float> acc, float* bias, float* destination) => (acc + Vector256.Load(bias)).Store(destination);
}

public unsafe struct Lanes128 : IBf16Lanes<Vector128<float>>
{
    public static int Count => 4;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Widen(ushort* p, out Vector128<float> lo, out Vector128<float> hi)
    {
        var w = Vector128.Load((uint*)p);
        lo = (w << 16).AsSingle();
        hi = (w & Vector128.Create(0xFFFF0000u)).AsSingle();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Broadcast(float value) => Vector128.Create(value);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Load(float* source) => Vector128.Load(source);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(Vector128<float> v, float* destination) => v.Store(destination);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Add(Vector128<float> a, Vector128<float> b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Subtract(Vector128<float> a, Vector128<float> b) => a - b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Multiply(Vector128<float> a, Vector128<float> b) => a * b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> FusedMultiplyAdd(Vector128<float> a, Vector128<float> b, Vector128<float> addend) => Vector128.FusedMultiplyAdd(a, b, addend);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Max(Vector128<float> a, Vector128<float> b) => Vector128.Max(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Exp(Vector128<float> x) => Vector128.Exp(x);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Sqrt(Vector128<float> x) => Vector128.Sqrt(x);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> KeepAtLeast(Vector128<float> x, Vector128<float> threshold) => Vector128.ConditionalSelect(Vector128.GreaterThanOrEqual(x, threshold), x, Vector128<float>.Zero);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Sum(Vector128<float> v) => Vector128.Sum(v);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void SumEach(float* v, int count, float* sums)
    {
        for (int i = 0; i < count; i++) sums[i] = Vector128.Sum(Vector128.Load(v + 4 * i));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float MaxAcross(Vector128<float> v)
    {
        float max = v[0];
        for (int l = 1; l < Count; l++) max = MathF.Max(max, v[l]);
        return max;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Apply<TOp>(TOp op, Vector128<float> x) where TOp : struct, IUnaryOperator => op.Invoke(x);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Apply<TOp>(TOp op, Vector128<float> a, Vector128<float> b) where TOp : struct, IBinaryOperator => op.Invoke(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void StorePlusBias(Vector128<float> acc, float* bias, float* destination) => (acc + Vector128.Load(bias)).Store(destination);
}

/// <summary>One lane: the portable path, and the arithmetic every vector path reproduces (to the rounding of Exp).</summary>
public unsafe struct LanesScalar : IBf16Lanes<float>
{
    public static int Count => 1;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Widen(ushort* p, out float lo, out float hi)
    {
        lo = Bf16.ToFloat(p[0]);
        hi = Bf16.ToFloat(p[1]);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Broadcast(float value) => value;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Load(float* source) => *source;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(float v, float* destination) => *destination = v;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Add(float a, float b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Subtract(float a, float b) => a - b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Multiply(float a, float b) => a * b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float FusedMultiplyAdd(float a, float b, float addend) => MathF.FusedMultiplyAdd(a, b, addend);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Max(float a, float b) => MathF.Max(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Exp(float x) => MathF.Exp(x);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Sqrt(float x) => MathF.Sqrt(x);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float KeepAtLeast(float x, float threshold) => x >= threshold ? x : 0f;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Sum(float v) => v;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void SumEach(float* v, int count, float* sums)
    {
        for (int i = 0; i < count; i++) sums[i] = v[i];
    }
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float MaxAcross(float v) => v;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Apply<TOp>(TOp op, float x) where TOp : struct, IUnaryOperator => op.Invoke(x);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Apply<TOp>(TOp op, float a, float b) where TOp : struct, IBinaryOperator => op.Invoke(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void StorePlusBias(float acc, float* bias, float* destination) => *destination = acc + *bias;
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


using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace RecurrentGemma.Kernels.MatMul;

/// <summary>
/// The instruction sequence a quantized matmul computes its integer dot products with. Every path computes the same
/// exact integer sums, so the results are bit-identical; tests run each one this machine supports.
/// </summary>
public enum Int8Path
{
    /// <summary>Plain C#: the reference.</summary>
    Scalar,
    /// <summary>Portable Vector128 (widen to 16 bits, multiply, add pairs): ARM64 and anything without the x86 paths.</summary>
    Vector128,
    /// <summary>AVX2 VPMADDWD on the even and odd bytes widened to 16 bits, 256-bit.</summary>
    Avx2,
    /// <summary>AVX-512BW VPMADDWD, the same at 512 bits.</summary>
    Avx512,
    /// <summary>AVX-VNNI VPDPBUSD: four u8 x s8 products summed into each 32-bit lane in one instruction, 256-bit.</summary>
    AvxVnni,
}

public static class Int8Paths
{
    /// <summary>The fastest path this CPU has, chosen once. RGEMMA_INT8=scalar|128|avx2|avx512|vnni picks one it supports (A/B runs).</summary>
    public static readonly Int8Path Best = Detect();

    /// <summary>The paths this machine can run (always includes Scalar).</summary>
    public static IReadOnlyList<Int8Path> Supported { get; } = BuildSupported();

    static Int8Path[] BuildSupported()
    {
        var list = new List<Int8Path> { Int8Path.Scalar };
        if (System.Runtime.Intrinsics.Vector128.IsHardwareAccelerated) list.Add(Int8Path.Vector128);
        if (System.Runtime.Intrinsics.X86.Avx2.IsSupported) list.Add(Int8Path.Avx2);
        if (Avx512BW.IsSupported) list.Add(Int8Path.Avx512);
        if (System.Runtime.Intrinsics.X86.AvxVnni.IsSupported) list.Add(Int8Path.AvxVnni);
        return list.ToArray();
    }

    static Int8Path Detect()
    {
        var supported = BuildSupported();
        Int8Path? asked = Environment.GetEnvironmentVariable("RGEMMA_INT8") switch
        {
            "scalar" => Int8Path.Scalar,
            "128" => Int8Path.Vector128,
            "avx2" => Int8Path.Avx2,
            "avx512" => Int8Path.Avx512,
            "vnni" => Int8Path.AvxVnni,
            _ => null,
        };
        if (asked is { } a && Array.IndexOf(supported, a) >= 0) return a;
        // VPDPBUSD at 256 bits does 32 multiply-adds an instruction; VPMADDWD at 512 bits does 16 (two of them, plus
        // the adds, per 64 products), so VNNI wins wherever it exists.
        return supported[^1];
    }
}

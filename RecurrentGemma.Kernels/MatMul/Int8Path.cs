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
    /// <summary>ARM64 SDOT (FEAT_DotProd): four s8 x s8 products a lane in one instruction, 128-bit.</summary>
    ArmDp,
}

public static class Int8Paths
{
    /// <summary>The fastest path this CPU has, chosen once. RGEMMA_INT8=scalar|128|avx2|avx512|vnni|dp picks one it supports (A/B runs).</summary>
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
        if (System.Runtime.Intrinsics.Arm.Dp.IsSupported) list.Add(Int8Path.ArmDp);
        return list.ToArray();
    }

    /// <summary>
    /// The paths whose arithmetic the tests check on this machine: the supported ones, and <see cref="Int8Path.ArmDp"/>
    /// everywhere (its exact emulation where the CPU lacks SDOT), so its start-value bias is checked on x64 too.
    /// </summary>
    internal static IReadOnlyList<Int8Path> Checkable { get; } = Supported.Contains(Int8Path.ArmDp) ? Supported : [.. Supported, Int8Path.ArmDp];

    /// <summary>The path's <see cref="IInt8Lanes{TI, TF}.WeightBias"/>.</summary>
    internal static int WeightBias(Int8Path path) => path == Int8Path.ArmDp ? DpLanes.WeightBias : 0;

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
            "dp" => Int8Path.ArmDp,
            _ => null,
        };
        if (asked is { } a && Array.IndexOf(supported, a) >= 0) return a;
        // VPDPBUSD at 256 bits does 32 multiply-adds an instruction; VPMADDWD at 512 bits does 16 (two of them, plus
        // the adds, per 64 products), so VNNI wins wherever it exists; on ARM64 SDOT's one instruction per 16 products
        // beats the portable path's widen, multiply and add pairs.
        return supported[^1];
    }
}

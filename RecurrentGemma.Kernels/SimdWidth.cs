using System.Runtime.Intrinsics;

namespace RecurrentGemma.Kernels;

/// <summary>The vector width a kernel runs at. Every kernel takes one explicitly so tests can check each path on one machine.</summary>
public enum SimdWidth
{
    Scalar = 1,
    Vector128 = 4,
    Vector256 = 8,
    Vector512 = 16,
}

public static class Simd
{
    /// <summary>The widest path this CPU accelerates, chosen once at start-up. RGEMMA_SIMD=scalar|128|256|512 caps it (for A/B runs).</summary>
    public static readonly SimdWidth Best = Detect();

    static SimdWidth Detect()
    {
        SimdWidth hw = Vector512.IsHardwareAccelerated ? SimdWidth.Vector512
            : Vector256.IsHardwareAccelerated ? SimdWidth.Vector256
            : Vector128.IsHardwareAccelerated ? SimdWidth.Vector128
            : SimdWidth.Scalar;
        SimdWidth? cap = Environment.GetEnvironmentVariable("RGEMMA_SIMD") switch
        {
            "scalar" => SimdWidth.Scalar,
            "128" => SimdWidth.Vector128,
            "256" => SimdWidth.Vector256,
            "512" => SimdWidth.Vector512,
            _ => null,
        };
        return cap is { } c && c < hw ? c : hw;
    }

    /// <summary>The widths this machine can actually run (always includes Scalar).</summary>
    public static IReadOnlyList<SimdWidth> Supported { get; } = BuildSupported();

    static SimdWidth[] BuildSupported()
    {
        var list = new List<SimdWidth> { SimdWidth.Scalar };
        if (Vector128.IsHardwareAccelerated) list.Add(SimdWidth.Vector128);
        if (Vector256.IsHardwareAccelerated) list.Add(SimdWidth.Vector256);
        if (Vector512.IsHardwareAccelerated) list.Add(SimdWidth.Vector512);
        return list.ToArray();
    }
}

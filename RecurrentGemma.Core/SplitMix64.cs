namespace RecurrentGemma.Core;

/// <summary>SplitMix64's output function: a fixed, portable hash of a 64-bit counter (System.Random's algorithm is not guaranteed across runtimes).</summary>
internal static class SplitMix64
{
    public static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    public const ulong Golden = 0x9E3779B97F4A7C15UL;
}

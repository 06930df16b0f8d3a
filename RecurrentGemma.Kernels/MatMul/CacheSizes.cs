namespace RecurrentGemma.Kernels.MatMul;

/// <summary>
/// This machine's per-core data caches, read once at start-up from Linux's
/// <c>/sys/devices/system/cpu/cpu0/cache/index*/</c> (level, type, size). Elsewhere, or where they cannot be read, the
/// defaults are conservative (48 KB L1d, 1 MB L2). <c>RGEMMA_L2_KB</c> overrides the L2 size, to try the blocking policy
/// of another machine.
/// </summary>
public static class CacheSizes
{
    public const long DefaultL1Data = 48 << 10, DefaultL2 = 1 << 20;

    public static long L1Data { get; }
    public static long L2 { get; }
    /// <summary>Where the sizes came from: "sysfs", "default", or "RGEMMA_L2_KB".</summary>
    public static string Source { get; }

    static CacheSizes()
    {
        long l1 = 0, l2 = 0;
        try
        {
            foreach (var dir in Directory.EnumerateDirectories("/sys/devices/system/cpu/cpu0/cache", "index*"))
            {
                string level = Read(dir, "level"), type = Read(dir, "type");
                long size = ParseSize(Read(dir, "size"));
                if (level == "1" && type == "Data") l1 = size;
                if (level == "2" && type is "Unified" or "Data") l2 = size;
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException) { }
        Source = l2 > 0 ? "sysfs" : "default";
        L1Data = l1 > 0 ? l1 : DefaultL1Data;
        L2 = l2 > 0 ? l2 : DefaultL2;
        if (long.TryParse(Environment.GetEnvironmentVariable("RGEMMA_L2_KB"), out long kb) && kb is >= 64 and <= 1 << 20)
        {
            L2 = kb << 10;
            Source = "RGEMMA_L2_KB";
        }
    }

    static string Read(string dir, string name) => File.ReadAllText(Path.Combine(dir, name)).Trim();

    /// <summary>"1024K", "2M", "48K" or plain bytes.</summary>
    internal static long ParseSize(string text)
    {
        if (text.Length == 0) return 0;
        long scale = char.ToUpperInvariant(text[^1]) switch { 'K' => 1 << 10, 'M' => 1 << 20, 'G' => 1 << 30, _ => 1 };
        string digits = scale == 1 ? text : text[..^1];
        return long.TryParse(digits, out long n) && n > 0 ? n * scale : throw new FormatException($"cache size '{text}'");
    }
}

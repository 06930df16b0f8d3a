using System.Diagnostics;

namespace RecurrentGemma.Benchmarking;

/// <summary>Resident set size of this process: current and peak (Linux /proc/self/status; elsewhere the Process API).</summary>
public static class ProcessMemory
{
    public static long CurrentRssBytes => ReadStatus("VmRSS:") ?? Process.GetCurrentProcess().WorkingSet64;

    public static long PeakRssBytes => ReadStatus("VmHWM:") ?? Process.GetCurrentProcess().PeakWorkingSet64;

    /// <summary>Restarts the peak (Linux: "5" into /proc/self/clear_refs) so a probe's scratch buffer is not counted; elsewhere a no-op.</summary>
    public static void ResetPeak()
    {
        const string path = "/proc/self/clear_refs";
        if (!OperatingSystem.IsLinux() || !File.Exists(path)) return;
        try { File.WriteAllText(path, "5"); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }   // best effort: the peak then includes the probe
    }

    static long? ReadStatus(string key)
    {
        const string path = "/proc/self/status";
        if (!OperatingSystem.IsLinux() || !File.Exists(path)) return null;
        foreach (var line in File.ReadLines(path))
        {
            if (!line.StartsWith(key, StringComparison.Ordinal)) continue;
            var parts = line[key.Length..].Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries);
            return parts.Length == 2 && parts[1] == "kB" && long.TryParse(parts[0], out long kb) ? kb * 1024 : null;
        }
        return null;
    }
}

using System.Diagnostics;

namespace RecurrentGemma.Core.Benchmarking;

/// <summary>Resident set size of this process: current and peak (Linux /proc/self/status; elsewhere the Process API).</summary>
public static class ProcessMemory
{
    public static long CurrentRssBytes => ReadStatus("VmRSS:") ?? Process.GetCurrentProcess().WorkingSet64;

    public static long PeakRssBytes => ReadStatus("VmHWM:") ?? Process.GetCurrentProcess().PeakWorkingSet64;

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

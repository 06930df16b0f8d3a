using System.Diagnostics;

namespace RecurrentGemma.Tests.Support;

/// <summary>The process's resident memory, as the tests that bound it read it.</summary>
public static class ProcessMemory
{
    /// <summary>Resident bytes now.</summary>
    public static long Resident()
    {
        using var process = Process.GetCurrentProcess();
        return process.WorkingSet64;
    }

    /// <summary>Resident bytes after a full collection (what "RSS stays flat" means for a .NET process).</summary>
    public static long Settled()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        return Resident();
    }
}

using System.Collections.Concurrent;

namespace RecurrentGemma.Native;

/// <summary>
/// Opaque handles for C: a handle is a number the library issued, never a raw pointer into managed memory, so a
/// NULL, stale, freed or foreign handle is reported as an error instead of crashing the process.
/// </summary>
public sealed class HandleTable<T>(string cType) where T : class
{
    readonly ConcurrentDictionary<nint, T> _live = new();
    public nint Add(T value)
    {
        nint handle = HandleNumbers.Next();
        _live[handle] = value;
        return handle;
    }

    public T Get(nint handle, string function, string parameter) =>
        handle == 0 ? throw new AbiArgumentException($"{function}: {parameter} is NULL")
        : _live.TryGetValue(handle, out var value) ? value
        : throw new AbiArgumentException($"{function}: {parameter} 0x{handle:x} is not a live {cType} handle (never issued, or already freed)");

    public bool Remove(nint handle, out T? value) => _live.TryRemove(handle, out value);
}

/// <summary>One counter for every table (a generic class's static would be per type): a model handle is never a valid session handle.</summary>
static class HandleNumbers
{
    static long _next = 0x1000;

    public static nint Next() => (nint)Interlocked.Add(ref _next, 16);
}

using System.Runtime.InteropServices;
using System.Text;

namespace RecurrentGemma.Native;

/// <summary>
/// The per-thread message behind the last failed call: a NUL-terminated UTF-8 copy owned by the library, valid until
/// that thread's next failing call (rg_last_error).
/// </summary>
public static unsafe class LastError
{
    [ThreadStatic] static byte* _message;

    public static void Set(string message)
    {
        byte* old = _message;
        int n = Encoding.UTF8.GetByteCount(message);
        byte* copy = (byte*)NativeMemory.Alloc((nuint)n + 1);
        Encoding.UTF8.GetBytes(message, new Span<byte>(copy, n));
        copy[n] = 0;
        _message = copy;
        if (old is not null) NativeMemory.Free(old);
    }

    /// <summary>The message, or an empty string when this thread has had no error.</summary>
    public static byte* Get() => _message is not null ? _message : Empty;

    static readonly byte* Empty = (byte*)NativeMemory.AllocZeroed(1);
}

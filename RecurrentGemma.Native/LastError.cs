using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;

namespace RecurrentGemma.Native;

/// <summary>
/// The per-thread message behind the last failed call: a NUL-terminated UTF-8 copy owned by the library, valid until
/// that thread's next failing call (rg_last_error). The copy is a pinned managed array held by the thread, so it goes
/// away with the thread instead of outliving it as native memory would.
/// </summary>
public static unsafe class LastError
{
    [ThreadStatic] static byte[]? t_message;

    public static void Set(string message)
    {
        int n = Encoding.UTF8.GetByteCount(message);
        var copy = GC.AllocateUninitializedArray<byte>(n + 1, pinned: true);
        Encoding.UTF8.GetBytes(message, copy);
        copy[n] = 0;
        t_message = copy;
    }

    /// <summary>The message, or an empty string when this thread has had no error.</summary>
    public static byte* Get() => AddressOf(t_message ?? Empty);

    static byte* AddressOf(byte[] pinned) => (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(pinned));

    static readonly byte[] Empty = GC.AllocateArray<byte>(1, pinned: true);
}

using System.Runtime.InteropServices;
using System.Buffers;

namespace RecurrentGemma.Native;

/// <summary>Checks on the raw pointers and sizes C passes in; each failure names the function and the parameter.</summary>
public static unsafe class Arguments
{
    public static void NotNull(void* pointer, string function, string parameter)
    {
        if (pointer is null) throw new AbiArgumentException($"{function}: {parameter} is NULL");
    }

    /// <summary>A NUL-terminated string that must be valid UTF-8.</summary>
    public static string Utf8(byte* text, string function, string parameter)
    {
        NotNull(text, function, parameter);
        var bytes = MemoryMarshal.CreateReadOnlySpanFromNullTerminated(text);
        var chars = new char[bytes.Length];
        if (System.Text.Unicode.Utf8.ToUtf16(bytes, chars, out int read, out int written, replaceInvalidSequences: false) != OperationStatus.Done)
            throw new AbiArgumentException($"{function}: {parameter} is not valid UTF-8 (bad byte sequence at byte {read})");
        return new string(chars, 0, written);
    }

    /// <summary>A caller's array of <paramref name="count"/> items; NULL is allowed only when the count is 0.</summary>
    public static ReadOnlySpan<T> Array<T>(T* items, nuint count, string function, string parameter) where T : unmanaged
    {
        if (count > int.MaxValue) throw new AbiArgumentException($"{function}: {parameter} count {count} is too large");
        if (items is null && count > 0) throw new AbiArgumentException($"{function}: {parameter} is NULL but its count is {count}");
        return new ReadOnlySpan<T>(items, (int)count);
    }

    /// <summary>
    /// The size-query convention: writes <paramref name="needed"/> to *<paramref name="outSize"/>; copies when the buffer
    /// holds it (Ok), says BufferTooSmall when it does not, and with a NULL buffer only reports the size (Ok).
    /// </summary>
    public static Status CopyOut<T>(ReadOnlySpan<T> data, T* buffer, nuint capacity, nuint* outSize, string function, string parameter, string outParameter)
        where T : unmanaged
    {
        NotNull(outSize, function, outParameter);
        *outSize = (nuint)data.Length;
        if (buffer is null) return Status.Ok;
        if (capacity < (nuint)data.Length)
            return StatusMapping.Fail(Status.BufferTooSmall, $"{function}: {parameter} holds {capacity} but {data.Length} are needed");
        data.CopyTo(new Span<T>(buffer, data.Length));
        return Status.Ok;
    }
}

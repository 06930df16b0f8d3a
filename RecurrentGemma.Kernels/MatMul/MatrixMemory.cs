using RecurrentGemma.Kernels.Memory;

namespace RecurrentGemma.Kernels.MatMul;

/// <summary>
/// A packed matrix's bytes: aligned native memory it owns (freed with it, or by the finalizer if it is never
/// disposed), or a view of memory someone else owns (a mapped packed file) whose owner it disposes instead. Disposing
/// is idempotent under races: the address is taken with one atomic exchange, so exactly one caller frees it.
/// </summary>
internal sealed unsafe class MatrixMemory : IDisposable
{
    nint _address;
    readonly long _bytes;
    readonly IDisposable? _owner;

    MatrixMemory(byte* pointer, long bytes, IDisposable? owner)
    {
        _address = (nint)pointer;
        _bytes = bytes;
        _owner = owner;
    }

    public static MatrixMemory Allocate(long bytes) => new((byte*)NativeBuffer.Allocate(bytes), bytes, null);

    public static MatrixMemory View(byte* data, IDisposable owner)
    {
        ArgumentNullException.ThrowIfNull(owner);
        if (data == null) throw new ArgumentNullException(nameof(data));
        return new MatrixMemory(data, 0, owner);
    }

    public byte* Pointer
    {
        get
        {
            nint address = Volatile.Read(ref _address);
            return address != 0 ? (byte*)address : throw new ObjectDisposedException("packed matrix");
        }
    }

    public void Dispose()
    {
        nint address = Interlocked.Exchange(ref _address, 0);
        if (address == 0) return;
        if (_owner is null) NativeBuffer.Free((void*)address, _bytes);
        else _owner.Dispose();
        GC.SuppressFinalize(this);
    }

    ~MatrixMemory()
    {
        nint address = Interlocked.Exchange(ref _address, 0);
        if (_owner is null && address != 0) NativeBuffer.Free((void*)address, _bytes);
    }
}

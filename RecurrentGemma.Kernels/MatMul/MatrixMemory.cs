using RecurrentGemma.Kernels.Memory;

namespace RecurrentGemma.Kernels.MatMul;

/// <summary>
/// A packed matrix's bytes: aligned native memory it owns (freed with it, or by the finalizer if it is never
/// disposed), or a view of memory someone else owns (a mapped packed file) whose owner it disposes instead.
/// </summary>
internal sealed unsafe class MatrixMemory : IDisposable
{
    byte* _pointer;
    readonly IDisposable? _owner;

    MatrixMemory(byte* pointer, IDisposable? owner)
    {
        _pointer = pointer;
        _owner = owner;
    }

    public static MatrixMemory Allocate(long bytes) => new((byte*)NativeBuffer.Allocate(bytes), null);

    public static MatrixMemory View(byte* data, IDisposable owner)
    {
        ArgumentNullException.ThrowIfNull(owner);
        if (data == null) throw new ArgumentNullException(nameof(data));
        return new MatrixMemory(data, owner);
    }

    public byte* Pointer => _pointer != null ? _pointer : throw new ObjectDisposedException("packed matrix");

    public void Dispose()
    {
        if (_pointer == null) return;
        if (_owner is null) NativeBuffer.Free(_pointer);
        else _owner.Dispose();
        _pointer = null;
        GC.SuppressFinalize(this);
    }

    ~MatrixMemory()
    {
        if (_owner is null && _pointer != null) NativeBuffer.Free(_pointer);
    }
}

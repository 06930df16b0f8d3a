using System.Buffers.Binary;
using System.IO.MemoryMappedFiles;

namespace RecurrentGemma.Core.Checkpoint;

/// <summary>
/// A memory-mapped, validated safetensors file. Tensor bytes are used in place (zero copy); the format only
/// guarantees 2-byte alignment for them, so nothing here assumes more.
/// </summary>
public sealed unsafe class SafetensorsFile : IDisposable
{
    readonly MemoryMappedFile _map;
    readonly MemoryMappedViewAccessor _view;
    readonly byte* _base;
    bool _disposed;

    public string Path { get; }
    public long Length { get; }
    public IReadOnlyDictionary<string, SafetensorsTensor> Tensors { get; }
    /// <summary>The header's <c>__metadata__</c> (string to string; empty when there is none).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; private init; } = new Dictionary<string, string>();

    SafetensorsFile(string path, long length, Dictionary<string, SafetensorsTensor> tensors, MemoryMappedFile map, MemoryMappedViewAccessor view)
    {
        Path = path;
        Length = length;
        Tensors = tensors;
        _map = map;
        _view = view;
        byte* p = null;
        view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
        _base = p + view.PointerOffset;
    }

    /// <summary>Opens and validates; throws <see cref="CheckpointException"/> (only) for anything wrong with the file.</summary>
    public static SafetensorsFile Open(string path)
    {
        Dictionary<string, SafetensorsTensor> tensors;
        Dictionary<string, string> metadata;
        long length;
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
            length = stream.Length;
            if (length < 8) throw new CheckpointException($"{path}: file is {length} bytes; a safetensors file starts with an 8-byte header length");
            Span<byte> prefix = stackalloc byte[8];
            stream.ReadExactly(prefix);
            ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
            if (headerLength > (ulong)(length - 8))
                throw new CheckpointException($"{path}: header length {headerLength} runs past the end of the file ({length} bytes; truncated or not a safetensors file)");
            if (headerLength > SafetensorsHeader.MaxHeaderBytes)
                throw new CheckpointException($"{path}: header length {headerLength} exceeds the {SafetensorsHeader.MaxHeaderBytes}-byte limit");
            var header = new byte[headerLength];
            stream.ReadExactly(header);
            tensors = SafetensorsHeader.Parse(header, 8 + (long)headerLength, length, path, out metadata);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CheckpointException($"{path}: cannot read: {e.Message}", e);
        }

        try
        {
            var map = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
            var view = map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
            if (view.Capacity < length)
            {
                view.Dispose();
                map.Dispose();
                throw new CheckpointException($"{path}: file shrank while being opened");
            }
            return new SafetensorsFile(path, length, tensors, map, view) { Metadata = metadata };
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CheckpointException($"{path}: cannot map into memory: {e.Message}", e);
        }
    }

    /// <summary>Pointer to the tensor's first byte, valid until this file is disposed.</summary>
    public byte* DataPointer(SafetensorsTensor tensor)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return _base + tensor.Offset;
    }

    public ReadOnlySpan<byte> Bytes(SafetensorsTensor tensor) =>
        new(DataPointer(tensor), checked((int)tensor.ByteLength));

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _map.Dispose();
    }
}

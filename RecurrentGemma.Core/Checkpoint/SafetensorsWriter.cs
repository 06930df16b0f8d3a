using RecurrentGemma.Core.IO;
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text.Json;

namespace RecurrentGemma.Core.Checkpoint;

/// <summary>Writes a safetensors file atomically (temp file in the same directory, then rename), so an existing file is never left half-written.</summary>
public sealed class SafetensorsWriter
{
    readonly List<(string Name, SafetensorsDType DType, long[] Shape, byte[] Data)> _tensors = [];

    public SafetensorsWriter Add(string name, ReadOnlySpan<float> values, params long[] shape) =>
        Add(name, SafetensorsDType.F32, shape, MemoryMarshal.AsBytes(values).ToArray());

    public SafetensorsWriter Add(string name, ReadOnlySpan<long> values, params long[] shape) =>
        Add(name, SafetensorsDType.I64, shape, MemoryMarshal.AsBytes(values).ToArray());

    public SafetensorsWriter Add(string name, ReadOnlySpan<ushort> bf16Values, params long[] shape) =>
        Add(name, SafetensorsDType.BF16, shape, MemoryMarshal.AsBytes(bf16Values).ToArray());

    public SafetensorsWriter Add(string name, SafetensorsDType dtype, long[] shape, byte[] data)
    {
        long expected = dtype.ElementSize();
        foreach (long d in shape) expected *= d;
        if (expected != data.Length) throw new ArgumentException($"tensor '{name}': shape {SafetensorsTensor.FormatShape(shape)} of {dtype.Name()} needs {expected} bytes, got {data.Length}");
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("safetensors is little-endian");
        _tensors.Add((name, dtype, shape, data));
        return this;
    }

    public void Write(string path)
    {
        var header = new MemoryStream();
        using (var json = new Utf8JsonWriter(header))
        {
            json.WriteStartObject();
            long offset = 0;
            foreach (var (name, dtype, shape, data) in _tensors)
            {
                json.WriteStartObject(name);
                json.WriteString("dtype", dtype.Name());
                json.WriteStartArray("shape");
                foreach (long d in shape) json.WriteNumberValue(d);
                json.WriteEndArray();
                json.WriteStartArray("data_offsets");
                json.WriteNumberValue(offset);
                json.WriteNumberValue(offset + data.Length);
                json.WriteEndArray();
                json.WriteEndObject();
                offset += data.Length;
            }
            json.WriteEndObject();
        }
        while (header.Length % 8 != 0) header.WriteByte((byte)' ');  // keeps the data section 8-byte aligned

        AtomicFile.Write(path, stream =>
        {
            Span<byte> prefix = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(prefix, (ulong)header.Length);
            stream.Write(prefix);
            header.Position = 0;
            header.CopyTo(stream);
            foreach (var t in _tensors) stream.Write(t.Data);
        });
    }
}

using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using RecurrentGemma.Core.Checkpoint;
using RecurrentGemma.Kernels;
using RecurrentGemma.Kernels.MatMul;
using RecurrentGemma.Kernels.Parallel;

namespace RecurrentGemma.Core.Model;

/// <summary>
/// Tensors from a memory-mapped checkpoint, checked by name and shape. BF16 matrices are packed straight from the
/// mapping (in parallel on the pool); F32/F16 ones are rounded to bf16 (round-to-nearest-even) on the way.
/// </summary>
internal sealed unsafe class CheckpointWeightSource(Checkpoint.Checkpoint checkpoint) : IWeightSource
{
    public string Description => checkpoint.Directory;

    public bool Contains(string name) => checkpoint.Contains(name);

    public PackedBf16Matrix Dense(string[] names, int[] outDims, int inDim, WorkerPool? pool)
    {
        var parts = new (SafetensorsTensor Tensor, nint Data, int FirstRow)[names.Length];
        int total = 0;
        for (int i = 0; i < names.Length; i++)
        {
            var (file, tensor) = Find(names[i], [outDims[i], inDim]);
            if (tensor.DType is not (SafetensorsDType.BF16 or SafetensorsDType.F32 or SafetensorsDType.F16)) throw UnsupportedDType(tensor);
            parts[i] = (tensor, (nint)file.DataPointer(tensor), total);
            total += outDims[i];
        }
        return PackedBf16Matrix.Create(total, inDim, (o, row) =>
        {
            int part = parts.Length - 1;
            while (parts[part].FirstRow > o) part--;
            var (tensor, data, firstRow) = parts[part];
            long start = (long)(o - firstRow) * inDim;
            if (tensor.DType == SafetensorsDType.BF16)
                new ReadOnlySpan<ushort>((ushort*)data + start, inDim).CopyTo(row);
            else
                for (int k = 0; k < inDim; k++) row[k] = Bf16.FromFloat(ReadElement(tensor, (byte*)data, start + k));
        }, pool);
    }

    public PackedBf16Matrix BlockDiagonal(string name, int blocks, int width) =>
        Pack(name, [blocks, width, width], bits => PackedBf16Matrix.Pack(bits, blocks, width, width,
            groupStride: (long)width * width, outStride: 1, inStride: width));

    PackedBf16Matrix Pack(string name, long[] shape, Func<ReadOnlySpan<ushort>, PackedBf16Matrix> pack)
    {
        var (file, tensor) = Find(name, shape);
        byte* data = file.DataPointer(tensor);
        long count = tensor.ElementCount;
        if (count > int.MaxValue) throw new CheckpointException($"{file.Path}: tensor '{name}' has {count} elements; at most {int.MaxValue} are supported per matrix");
        if (tensor.DType == SafetensorsDType.BF16) return pack(new ReadOnlySpan<ushort>(data, (int)count));
        if (tensor.DType is not (SafetensorsDType.F32 or SafetensorsDType.F16)) throw UnsupportedDType(tensor);
        var rounded = (ushort*)NativeMemory.Alloc((nuint)count, sizeof(ushort));
        try
        {
            for (long i = 0; i < count; i++) rounded[i] = Bf16.FromFloat(ReadElement(tensor, data, i));
            return pack(new ReadOnlySpan<ushort>(rounded, (int)count));
        }
        finally
        {
            NativeMemory.Free(rounded);
        }
    }

    public float[] Floats(string name, long[] shape)
    {
        var (file, tensor) = Find(name, shape);
        byte* data = file.DataPointer(tensor);
        var result = new float[tensor.ElementCount];
        for (int i = 0; i < result.Length; i++) result[i] = ReadElement(tensor, data, i);
        return result;
    }

    (SafetensorsFile, SafetensorsTensor) Find(string name, long[] shape)
    {
        if (!checkpoint.TryGet(name, out var file, out var tensor))
            throw new CheckpointException($"{checkpoint.Directory}: tensor '{name}' is missing (expected shape {SafetensorsTensor.FormatShape(shape)})");
        if (!tensor.Shape.AsSpan().SequenceEqual(shape))
            throw new CheckpointException($"{file.Path}: tensor '{name}' has shape {tensor.ShapeText}, expected {SafetensorsTensor.FormatShape(shape)} for this config");
        return (file, tensor);
    }

    /// <summary>Element i of a BF16, F16 or F32 tensor as f32 (exact for all three); unaligned reads, as the format only aligns to 2 bytes.</summary>
    static float ReadElement(SafetensorsTensor tensor, byte* data, long i) => tensor.DType switch
    {
        SafetensorsDType.BF16 => Bf16.ToFloat(Unsafe.ReadUnaligned<ushort>(data + i * 2)),
        SafetensorsDType.F16 => Bf16.HalfToFloat(Unsafe.ReadUnaligned<ushort>(data + i * 2)),
        SafetensorsDType.F32 => Unsafe.ReadUnaligned<float>(data + i * 4),
        _ => throw UnsupportedDType(tensor),
    };

    static CheckpointException UnsupportedDType(SafetensorsTensor t) =>
        new($"tensor '{t.Name}' has dtype {t.DType.Name()}; weights must be BF16, F16 or F32");
}

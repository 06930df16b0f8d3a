using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using RecurrentGemma.Core.Checkpoint;
using RecurrentGemma.Kernels;
using RecurrentGemma.Kernels.MatMul;
using RecurrentGemma.Kernels.Parallel;

namespace RecurrentGemma.Core.Model;

/// <summary>
/// Tensors from a memory-mapped checkpoint, checked by name and shape. BF16 matrices are packed straight from the
/// mapping (in parallel on the pool); F32/F16 ones are rounded to bf16 (round-to-nearest-even, vectorized) on the way,
/// and a quantized format quantizes from the file's own precision.
/// </summary>
internal sealed unsafe class CheckpointWeightSource(Checkpoint.Checkpoint checkpoint) : IWeightSource
{
    public string Description => checkpoint.Directory;

    public bool Contains(string name) => checkpoint.Contains(name);

    public PackedMatrix Dense(string[] names, int[] outDims, int inDim, MatrixFormat format, WorkerPool? pool)
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
        (SafetensorsDType DType, nint Row) Locate(int o)
        {
            int part = parts.Length - 1;
            while (parts[part].FirstRow > o) part--;
            var (tensor, data, firstRow) = parts[part];
            return (tensor.DType, data + (nint)((long)(o - firstRow) * inDim * tensor.DType.ElementSize()));
        }
        if (format == MatrixFormat.Bf16)
            return PackedBf16Matrix.Create(total, inDim, (o, row) =>
            {
                var (dtype, src) = Locate(o);
                if (dtype == SafetensorsDType.BF16) new ReadOnlySpan<ushort>((void*)src, inDim).CopyTo(row);
                else
                {
                    var floats = RowScratch(inDim);
                    ReadRow(dtype, (byte*)src, floats);
                    Bf16.FromFloat(floats, row);
                }
            }, pool);
        return PackedQuantMatrix.Quantize(format, total, inDim, (o, row) =>
        {
            var (dtype, src) = Locate(o);
            ReadRow(dtype, (byte*)src, row);
        }, pool);
    }

    [ThreadStatic] static float[]? t_row;

    static Span<float> RowScratch(int n) => (t_row is { } r && r.Length >= n ? r : t_row = new float[n]).AsSpan(0, n);

    /// <summary>One row of a BF16, F16 or F32 tensor as f32, vectorized (unaligned: the format aligns data to 8 bytes at most).</summary>
    static void ReadRow(SafetensorsDType dtype, byte* src, Span<float> row)
    {
        switch (dtype)
        {
            case SafetensorsDType.BF16: Bf16.ToFloat(new ReadOnlySpan<ushort>(src, row.Length), row); break;
            case SafetensorsDType.F16: System.Numerics.Tensors.TensorPrimitives.ConvertToSingle(new ReadOnlySpan<Half>(src, row.Length), row); break;
            default: new ReadOnlySpan<float>(src, row.Length).CopyTo(row); break;
        }
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

using RecurrentGemma.Core.Checkpoint;
using RecurrentGemma.Core.Model;
using RecurrentGemma.Kernels.MatMul;
using RecurrentGemma.Kernels.Parallel;

namespace RecurrentGemma.Core.Packed;

/// <summary>
/// The matrices of a packed file as views of its mapping, in place: no repack and no copy, so start-up is the header
/// validation and the pages are shared between processes. Each matrix is checked by name, dtype and exact byte size
/// for the shape the config implies.
/// </summary>
internal sealed unsafe class PackedWeightSource(Checkpoint.Checkpoint checkpoint, SharedMapping mapping) : IWeightSource
{
    readonly CheckpointWeightSource _vectors = new(checkpoint);

    public string Description => checkpoint.Directory;

    public bool Contains(string name) =>
        checkpoint.Contains(name) || Enum.GetValues<MatrixFormat>().Any(f => checkpoint.Contains(PackedLayout.MatrixName([name], f)));

    public PackedMatrix Dense(string[] names, int[] outDims, int inDim, MatrixFormat format, WorkerPool? pool)
    {
        int total = outDims.Sum();
        string name = PackedLayout.MatrixName(names, format);
        byte* data = Find(name, PackedMatrix.BytesOf(format, total, inDim), $"[{total}, {inDim}] {format.ToString().ToLowerInvariant()}");
        return format == MatrixFormat.Bf16
            ? PackedBf16Matrix.View(1, total, inDim, data, mapping.Acquire())
            : PackedQuantMatrix.View(format, total, inDim, data, mapping.Acquire());
    }

    public PackedBf16Matrix BlockDiagonal(string name, int blocks, int width)
    {
        string packed = PackedLayout.MatrixName([name], MatrixFormat.Bf16);
        byte* data = Find(packed, PackedBf16Matrix.SizeOf(blocks, width, width), $"{blocks} blocks of [{width}, {width}] bf16");
        return PackedBf16Matrix.View(blocks, width, width, data, mapping.Acquire());
    }

    public float[] Floats(string name, long[] shape) => _vectors.Floats(name, shape);

    byte* Find(string name, long bytes, string what)
    {
        if (!checkpoint.TryGet(name, out var file, out var tensor))
            throw new CheckpointException($"{checkpoint.Directory}: packed tensor '{name}' is missing (a {what} matrix for this config)");
        if (tensor.DType != SafetensorsDType.U8 || tensor.Shape.Length != 1 || tensor.ByteLength != bytes)
            throw new CheckpointException($"{file.Path}: packed tensor '{name}' is {tensor.DType.Name()} {tensor.ShapeText}; "
                + $"a {what} matrix of layout version {PackedLayout.Version} is U8 [{bytes}]");
        return file.DataPointer(tensor);
    }
}

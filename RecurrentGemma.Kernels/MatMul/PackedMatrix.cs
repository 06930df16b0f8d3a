using RecurrentGemma.Kernels.Parallel;

namespace RecurrentGemma.Kernels.MatMul;

/// <summary>
/// A weight matrix W[out, in] in one of the kernels' packed layouts, chosen at load: the model multiplies through this
/// type and never knows the format. y[r, o] = sum_k x[r, k] * W[o, k] + bias[o]; rows never influence each other.
/// </summary>
public abstract class PackedMatrix : IDisposable
{
    public abstract MatrixFormat Format { get; }
    public abstract int OutDim { get; }
    public abstract int InDim { get; }
    /// <summary>Bytes held, padding included (the resident weight memory).</summary>
    public abstract long SizeInBytes { get; }
    /// <summary>Bytes one pass over the matrix streams (weights and scales): what a GEMV's bandwidth roofline counts.</summary>
    public abstract long StreamBytes { get; }

    /// <summary>y = x W^T + bias for <paramref name="rows"/> rows of x ([rows, InDim]) into y ([rows, OutDim]).</summary>
    public abstract void Multiply(ReadOnlySpan<float> x, int rows, ReadOnlySpan<float> bias, Span<float> y, WorkerPool? pool);

    /// <summary>W[o, 0..in) as f32 (dequantized): an embedding row when this matrix is the tied head.</summary>
    public abstract void ReadRow(int o, Span<float> destination);

    /// <summary>Writes the packed bytes, as they are in memory, to <paramref name="destination"/> (a packed model file).</summary>
    public abstract void CopyTo(Stream destination);

    public abstract void Dispose();

    /// <summary>Bytes a dense [outDim, inDim] matrix occupies packed in a format.</summary>
    public static long BytesOf(MatrixFormat format, int outDim, int inDim) => format == MatrixFormat.Bf16
        ? PackedBf16Matrix.SizeOf(1, outDim, inDim)
        : PackedQuantMatrix.SizeOf(format, outDim, inDim);

    /// <summary>Throws ArgumentException naming the argument whose length does not fit [rows, InDim] x W^T -> [rows, OutDim].</summary>
    internal void CheckMultiply(ReadOnlySpan<float> x, int rows, ReadOnlySpan<float> bias, Span<float> y)
    {
        if (x.Length < (long)rows * InDim) throw new ArgumentException($"x holds {x.Length} floats, expected {rows}x{InDim}", nameof(x));
        if (y.Length < (long)rows * OutDim) throw new ArgumentException($"y holds {y.Length} floats, expected {rows}x{OutDim}", nameof(y));
        if (!bias.IsEmpty && bias.Length != OutDim) throw new ArgumentException($"bias has {bias.Length} floats, expected {OutDim}", nameof(bias));
    }

    /// <summary>Writes <paramref name="bytes"/> bytes from <paramref name="data"/> in chunks (a matrix may exceed 2 GB).</summary>
    protected static unsafe void CopyBytes(byte* data, long bytes, Stream destination)
    {
        const int Chunk = 1 << 24;
        for (long at = 0; at < bytes; at += Chunk)
            destination.Write(new ReadOnlySpan<byte>(data + at, (int)Math.Min(Chunk, bytes - at)));
    }

    protected void CheckRow(int o, Span<float> destination)
    {
        if ((uint)o >= (uint)OutDim) throw new ArgumentOutOfRangeException(nameof(o), o, $"row must be in [0, {OutDim})");
        if (destination.Length < InDim) throw new ArgumentException($"destination needs {InDim} floats", nameof(destination));
    }
}

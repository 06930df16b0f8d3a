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

    protected void CheckRow(int o, Span<float> destination)
    {
        if ((uint)o >= (uint)OutDim) throw new ArgumentOutOfRangeException(nameof(o), o, $"row must be in [0, {OutDim})");
        if (destination.Length < InDim) throw new ArgumentException($"destination needs {InDim} floats", nameof(destination));
    }
}

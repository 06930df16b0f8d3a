using RecurrentGemma.Kernels.MatMul;
using RecurrentGemma.Kernels.Parallel;

namespace RecurrentGemma.Core.Model;

/// <summary>Where <see cref="ModelWeights"/> gets each named HF tensor: a checkpoint, or a synthetic generator.</summary>
internal interface IWeightSource
{
    /// <summary>Names the source in error messages (a directory, or "synthetic").</summary>
    string Description { get; }
    bool Contains(string name);
    /// <summary>
    /// Linear weights stored [out_i, in] that read the same input, stacked row-wise into one packed [sum out_i, in]
    /// matrix (one matmul instead of several: fewer, longer weight streams) in the given format, quantized from the
    /// source's own precision. One name is a plain Linear weight.
    /// </summary>
    PackedMatrix Dense(string[] names, int[] outDims, int inDim, MatrixFormat format, WorkerPool? pool);
    /// <summary>An RG-LRU gate stored [blocks, in, out] (x @ W per block), packed as a block-diagonal matrix.</summary>
    PackedBf16Matrix BlockDiagonal(string name, int blocks, int width);
    /// <summary>A small tensor of the given shape as f32.</summary>
    float[] Floats(string name, long[] shape);
}

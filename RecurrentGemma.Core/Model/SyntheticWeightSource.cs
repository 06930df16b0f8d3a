using RecurrentGemma.Kernels;
using RecurrentGemma.Kernels.MatMul;
using RecurrentGemma.Kernels.Parallel;

namespace RecurrentGemma.Core.Model;

/// <summary>
/// Deterministic random weights for any config, generated straight into the packed layout (no checkpoint on disk, no
/// second copy): element i of tensor "name" is a pure function of (seed, name, i), so a model is the same whatever the
/// thread count. Scales keep activations in a realistic range: matrices uniform with std 1/sqrt(fan-in), norms at
/// their identity, small biases, RG-LRU decay rates like the reference's initialisation (a in about [0.9, 0.999]).
/// </summary>
internal sealed class SyntheticWeightSource(ulong seed) : IWeightSource
{
    public string Description => $"synthetic weights (seed {seed})";

    public bool Contains(string name) => name != "lm_head.weight";

    /// <summary>The bf16 model's weights; a quantized format quantizes those same bf16 values.</summary>
    public PackedMatrix Dense(string[] names, int[] outDims, int inDim, MatrixFormat format, WorkerPool? pool)
    {
        var streams = Array.ConvertAll(names, Stream);
        float halfWidth = MathF.Sqrt(3f / inDim);
        int total = 0;
        foreach (int d in outDims) total += d;
        (ulong Stream, long First) Locate(int o)
        {
            int part = 0;
            while (o >= outDims[part]) o -= outDims[part++];
            return (streams[part], (long)o * inDim);
        }
        if (format == MatrixFormat.Bf16)
            return PackedBf16Matrix.Create(total, inDim, (o, row) =>
            {
                var (stream, first) = Locate(o);
                for (int k = 0; k < row.Length; k++) row[k] = Bf16.FromFloat(halfWidth * Uniform(stream, first + k));
            }, pool);
        return PackedQuantMatrix.Quantize(format, total, inDim, (o, row) =>
        {
            var (stream, first) = Locate(o);
            for (int k = 0; k < row.Length; k++) row[k] = Bf16.Round(halfWidth * Uniform(stream, first + k));
        }, pool);
    }

    public PackedBf16Matrix BlockDiagonal(string name, int blocks, int width)
    {
        ulong stream = Stream(name);
        float halfWidth = MathF.Sqrt(3f / width);
        var bits = new ushort[blocks * width * width];
        for (int i = 0; i < bits.Length; i++) bits[i] = Bf16.FromFloat(halfWidth * Uniform(stream, i));
        return PackedBf16Matrix.Pack(bits, blocks, width, width, groupStride: (long)width * width, outStride: 1, inStride: width);
    }

    public float[] Floats(string name, long[] shape)
    {
        long n = 1;
        foreach (var d in shape) n *= d;
        var values = new float[n];
        ulong stream = Stream(name);
        // (center, half-width) of a uniform distribution per kind of tensor.
        var (center, halfWidth) =
            name.EndsWith("norm.weight", StringComparison.Ordinal) ? (0f, 0f)
            : name.EndsWith("recurrent_param", StringComparison.Ordinal) ? (-5.3f, 2.3f)   // softplus in ~[5e-4, 5e-2]
            : name.EndsWith("conv_1d.weight", StringComparison.Ordinal) ? (0f, MathF.Sqrt(3f / shape[^1]))
            : (0f, 0.02f);                                                                   // biases
        for (long i = 0; i < n; i++) values[i] = Bf16.Round(center + halfWidth * Uniform(stream, i));
        return values;
    }

    ulong Stream(string name)
    {
        ulong h = 14695981039346656037UL;   // FNV-1a: stable across processes, unlike string.GetHashCode
        foreach (char ch in name) h = (h ^ ch) * 1099511628211UL;
        return h ^ seed * SplitMix64.Golden;
    }

    /// <summary>SplitMix64 of (stream, index) mapped to [-1, 1).</summary>
    static float Uniform(ulong stream, long index) =>
        (SplitMix64.Mix(stream + (ulong)index * SplitMix64.Golden) >> 40) * (2f / (1 << 24)) - 1f;
}

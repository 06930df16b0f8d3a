using RecurrentGemma.Core.Model;
using RecurrentGemma.Kernels.MatMul;
using RecurrentGemma.Kernels.Parallel;

namespace RecurrentGemma.Core.Packed;

/// <summary>One tensor of a packed file: a packed matrix (its bytes) or a small f32 vector as the source stored it.</summary>
internal sealed record PackedEntry(string Name, PackedMatrix? Matrix, float[]? Values, long[] Shape);

/// <summary>
/// Passes every request of the model loader through to a source and remembers what it returned, in order, under the
/// names <see cref="PackedWeightSource"/> will ask for: so a packed file holds exactly what loading needs, and loading
/// it runs the same validated loader.
/// </summary>
internal sealed class RecordingWeightSource(IWeightSource inner) : IWeightSource
{
    public List<PackedEntry> Entries { get; } = [];

    public string Description => inner.Description;

    public bool Contains(string name) => inner.Contains(name);

    public PackedMatrix Dense(string[] names, int[] outDims, int inDim, MatrixFormat format, WorkerPool? pool)
    {
        var m = inner.Dense(names, outDims, inDim, format, pool);
        Entries.Add(new PackedEntry(PackedLayout.MatrixName(names, format), m, null, [m.SizeInBytes]));
        return m;
    }

    public PackedBf16Matrix BlockDiagonal(string name, int blocks, int width)
    {
        var m = inner.BlockDiagonal(name, blocks, width);
        Entries.Add(new PackedEntry(PackedLayout.MatrixName([name], MatrixFormat.Bf16), m, null, [m.SizeInBytes]));
        return m;
    }

    public float[] Floats(string name, long[] shape)
    {
        var values = inner.Floats(name, shape);
        Entries.Add(new PackedEntry(name, null, values.ToArray(), shape));   // a copy: the loader folds some in place (norm scales + 1)
        return values;
    }
}

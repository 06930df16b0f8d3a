using RecurrentGemma.Core.Config;
using RecurrentGemma.Kernels;

namespace RecurrentGemma.Core.Model;

/// <summary>Scratch activations for one pass of up to <see cref="MaxRows"/> rows, allocated once per <see cref="ForwardPass"/>.</summary>
internal sealed class ForwardBuffers
{
    public readonly int MaxRows;
    /// <summary>Residual stream [rows, H].</summary>
    public readonly float[] Residual;
    /// <summary>Normalized input of the current block [rows, H].</summary>
    public readonly float[] Normed;
    /// <summary>A block's output before the residual add [rows, H].</summary>
    public readonly float[] BlockOut;
    /// <summary>Wide intermediates [rows, max(E, M, nh*hd)].</summary>
    public readonly float[] A, B, C, D, E;
    /// <summary>Output of a stacked matmul [rows, max(2M, 2E, nh*hd + 2*hd)] before it is split.</summary>
    public readonly float[] Fused;
    public readonly float[] Cos, Sin;
    public readonly float[] InverseFrequencies;

    public ForwardBuffers(ModelConfig c, int maxRows)
    {
        MaxRows = maxRows;
        int h = c.HiddenSize;
        int wide = Math.Max(Math.Max(c.LruWidth, c.MlpWidth), c.NumHeads * c.HeadDim);
        Residual = new float[maxRows * h];
        Normed = new float[maxRows * h];
        BlockOut = new float[maxRows * h];
        A = new float[maxRows * wide];
        B = new float[maxRows * wide];
        C = new float[maxRows * wide];
        D = new float[maxRows * wide];
        E = new float[maxRows * wide];
        Fused = new float[maxRows * Math.Max(2 * Math.Max(c.LruWidth, c.MlpWidth), c.NumHeads * c.HeadDim + 2 * c.NumKvHeads * c.HeadDim)];
        InverseFrequencies = Rope.InverseFrequencies(c.RotaryDim, c.RopeTheta);
        Cos = new float[InverseFrequencies.Length];
        Sin = new float[InverseFrequencies.Length];
    }
}

/// <summary>A contiguous piece of one batch entry's tokens processed in the current pass.</summary>
internal struct PassPiece
{
    public int Entry;
    public int TokenOffset;
    public int Rows;
    /// <summary>First row of this piece inside the pass's activation buffers.</summary>
    public int RowStart;
    public int LogitRows;
}

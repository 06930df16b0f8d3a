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
    public readonly float[] InverseFrequencies;
    /// <summary>Each row's position in its sequence (RoPE's angles).</summary>
    public readonly int[] Positions;
    /// <summary>Where the pass's time goes, while a caller watches (<see cref="ForwardPass.Profile"/>); null otherwise.</summary>
    public StepProfile? Profile;
    /// <summary>The attention layer's view of the pass's pieces (one per sequence), grown when a pass has more.</summary>
    public AttentionChunk[] Chunks = new AttentionChunk[16];
    /// <summary>The recurrent layer's views of the pass's pieces, likewise.</summary>
    public ConvChunk[] ConvChunks = new ConvChunk[16];
    public LruChunk[] LruChunks = new LruChunk[16];

    public ForwardBuffers(ModelConfig c, int maxRows)
    {
        MaxRows = maxRows;
        int h = c.HiddenSize;
        int wide = Math.Max(Math.Max(c.LruWidth, c.MlpWidth), c.NumHeads * c.HeadDim);
        int fused = Math.Max(2 * Math.Max(c.LruWidth, c.MlpWidth), c.NumHeads * c.HeadDim + 2 * c.NumKvHeads * c.HeadDim);
        Residual = Rows(maxRows, h);
        Normed = Rows(maxRows, h);
        BlockOut = Rows(maxRows, h);
        A = Rows(maxRows, wide);
        B = Rows(maxRows, wide);
        C = Rows(maxRows, wide);
        D = Rows(maxRows, wide);
        E = Rows(maxRows, wide);
        Fused = Rows(maxRows, fused);
        InverseFrequencies = Rope.InverseFrequencies(c.RotaryDim, c.RopeTheta);
        Positions = new int[maxRows];
        Bytes = 4L * (Residual.Length + Normed.Length + BlockOut.Length + A.Length + B.Length + C.Length + D.Length + E.Length + Fused.Length
            + InverseFrequencies.Length + Positions.Length);
    }

    /// <summary>Bytes of the arrays above (what the pass holds whatever it runs).</summary>
    public readonly long Bytes;

    /// <summary>A [rows, width] buffer, sized in 64-bit so a large pass is refused with a message, never wrapped.</summary>
    static float[] Rows(int rows, int width)
    {
        long n = (long)rows * width;
        if (n > Array.MaxLength)
            throw new RecurrentGemmaException($"a pass of {rows} rows x {width} floats does not fit one buffer; use fewer rows per pass");
        return new float[n];
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

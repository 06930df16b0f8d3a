using RecurrentGemma.Core.Config;
using RecurrentGemma.Core.Model;
using RecurrentGemma.Core.State;

namespace RecurrentGemma.Benchmarking;

/// <summary>
/// The work a forward pass must do, for rooflines, from the config alone: bytes a decode step has to move (every bf16
/// weight matrix once, the tied embedding/head once, plus the sequence state) and FLOPs a prefill has to compute
/// (2 per weight per token, attention over each token's window, and the head for the last token only).
/// </summary>
public static class ModelCost
{
    /// <summary>Weights of the layers' matrices (everything but the embedding and head).</summary>
    static double LayerMatrixWeights(ModelConfig c)
    {
        double n = 0;
        int h = c.HiddenSize, e = c.LruWidth, m = c.MlpWidth, q = c.NumHeads * c.HeadDim, kv = c.NumKvHeads * c.HeadDim;
        for (int l = 0; l < c.NumLayers; l++)
        {
            n += 3.0 * m * h;
            n += c.LayerType(l) == BlockType.Recurrent
                ? 3.0 * e * h + 2.0 * e * c.LruBlockWidth     // linear_x/y/out + the two block-diagonal gates
                : 2.0 * q * h + 2.0 * kv * h;                 // q, o + k, v
        }
        return n;
    }

    public static long DecodeBytesPerToken(ModelConfig c)
    {
        double head = (double)c.VocabSize * c.HiddenSize;   // tied: the head streams the embedding; a lookup reads one row
        double untiedEmbeddingRow = c.TieWordEmbeddings ? 0 : c.HiddenSize;
        return (long)(2 * (LayerMatrixWeights(c) + head + untiedEmbeddingRow)) + SequenceState.BytesFor(c);
    }

    /// <summary>
    /// Bytes a decode step of one sequence moves for this loaded model: its matrices as packed (a quantized format's codes
    /// and scales; the tied head once) plus the state.
    /// </summary>
    public static long DecodeBytesPerToken(RecurrentGemmaModel model) => model.Weights.StreamBytesPerToken + SequenceState.BytesFor(model.Config);

    /// <summary>Bytes one decode step of <paramref name="batch"/> sequences must move with this model's packed weights.</summary>
    public static double DecodeStepBytes(RecurrentGemmaModel model, int batch) =>
        DecodeBytesPerToken(model) + (batch - 1.0) * SequenceState.BytesFor(model.Config);

    /// <summary>FLOPs of feeding <paramref name="tokens"/> tokens from position 0 and producing logits for the last.</summary>
    public static double PrefillFlops(ModelConfig c, int tokens)
    {
        double keysSeen = 0;   // sum over tokens of the keys each one attends to
        for (int t = 0; t < tokens; t++) keysSeen += Math.Min(t, c.AttentionWindow) + 1;
        double attention = c.CountLayers(BlockType.Attention) * 4.0 * c.NumHeads * c.HeadDim * keysSeen;
        return 2.0 * LayerMatrixWeights(c) * tokens + attention + 2.0 * c.VocabSize * c.HiddenSize;
    }

    /// <summary>FLOPs of one decode step of <paramref name="batch"/> sequences at <paramref name="position"/> (logits for every row).</summary>
    public static double DecodeStepFlops(ModelConfig c, int batch, int position)
    {
        double keys = Math.Min(position, c.AttentionWindow) + 1;
        double perRow = 2.0 * LayerMatrixWeights(c) + 2.0 * c.VocabSize * c.HiddenSize
            + c.CountLayers(BlockType.Attention) * 4.0 * c.NumHeads * c.HeadDim * keys;
        return batch * perRow;
    }

    /// <summary>Bytes one decode step of <paramref name="batch"/> sequences must move: the weights once, every state once.</summary>
    public static double DecodeStepBytes(ModelConfig c, int batch) =>
        DecodeBytesPerToken(c) + (batch - 1.0) * SequenceState.BytesFor(c);
}

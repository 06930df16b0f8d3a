using RecurrentGemma.Core.Config;
using RecurrentGemma.Core.Model;
using RecurrentGemma.Core.State;

namespace RecurrentGemma.Core.Benchmarking;

/// <summary>
/// The work a forward pass must do, for rooflines: bytes a decode step has to move (every weight matrix once, the tied
/// embedding/head once, plus the sequence state) and FLOPs a prefill has to compute (2 per weight per token, attention
/// over each token's window, and the head for the last token only).
/// </summary>
public static class ModelCost
{
    public static long DecodeBytesPerToken(RecurrentGemmaModel model)
    {
        long bytes = 0;
        var w = model.Weights;
        bytes += w.Head.WeightBytes;   // the tied head streams the embedding; a lookup reads one row
        if (!ReferenceEquals(w.Head, w.Embedding)) bytes += (long)w.Embedding.InDim * 2;
        foreach (var layer in w.Layers)
        {
            if (layer.Recurrent is { } r)
                bytes += r.LinearX.WeightBytes + r.LinearY.WeightBytes + r.LinearOut.WeightBytes + r.InputGate.WeightBytes + r.RecurrentGate.WeightBytes;
            if (layer.Attention is { } a)
                bytes += a.Query.WeightBytes + a.Key.WeightBytes + a.Value.WeightBytes + a.Output.WeightBytes;
            bytes += layer.Mlp.Gate.WeightBytes + layer.Mlp.Up.WeightBytes + layer.Mlp.Down.WeightBytes;
        }
        return bytes + SequenceState.BytesFor(model.Config);
    }

    /// <summary>FLOPs of feeding <paramref name="tokens"/> tokens from position 0 and producing logits for the last.</summary>
    public static double PrefillFlops(ModelConfig c, int tokens)
    {
        double perTokenWeights = 0;
        int h = c.HiddenSize, e = c.LruWidth, m = c.MlpWidth, q = c.NumHeads * c.HeadDim, kv = c.NumKvHeads * c.HeadDim;
        for (int l = 0; l < c.NumLayers; l++)
        {
            perTokenWeights += 3.0 * m * h;
            perTokenWeights += c.LayerType(l) == BlockType.Recurrent
                ? 3.0 * e * h + 2.0 * e * c.LruBlockWidth
                : 2.0 * q * h + 2.0 * kv * h;
        }
        double keysSeen = 0;   // sum over tokens of the keys each one attends to
        for (int t = 0; t < tokens; t++) keysSeen += Math.Min(t, c.AttentionWindow) + 1;
        double attention = c.CountLayers(BlockType.Attention) * 4.0 * c.NumHeads * c.HeadDim * keysSeen;
        return 2.0 * perTokenWeights * tokens + attention + 2.0 * c.VocabSize * h;
    }
}

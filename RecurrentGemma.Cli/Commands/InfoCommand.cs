using System.CommandLine;
using System.Globalization;
using RecurrentGemma.Core.Config;
using RecurrentGemma.Core.State;

namespace RecurrentGemma.Cli.Commands;

/// <summary>rgemma info: what a model is (config, parameters, memory, state per sequence, tokenizer).</summary>
public static class InfoCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr, ProgressBar progress)
    {
        var model = new ModelOptions(demoDefault: true);
        var command = new Command("info", "Describe a model: config, parameter count, memory, state bytes per sequence, tokenizer");
        model.AddTo(command, withTokenizer: true);
        command.SetAction(parse =>
        {
            using var generator = model.OpenGenerator(parse, stderr, progress);
            var c = generator.Model.Config;
            var o = stdout;
            var inv = CultureInfo.InvariantCulture;
            o.WriteLine($"model        {generator.Model.Source}");
            o.WriteLine($"layers       {c.NumLayers}: {c.CountLayers(BlockType.Recurrent)} recurrent, {c.CountLayers(BlockType.Attention)} attention (pattern {string.Join(", ", c.BlockPattern).ToLowerInvariant()})");
            o.WriteLine($"widths       hidden {c.HiddenSize}, RG-LRU {c.LruWidth}, MLP {c.MlpWidth}, {c.NumHeads} heads x {c.HeadDim} with {c.NumKvHeads} key/value head");
            o.WriteLine($"attention    local window {c.AttentionWindow} (+1 for the token itself), RoPE on {c.RotaryDim} of {c.HeadDim} dims, theta {c.RopeTheta.ToString(inv)}");
            o.WriteLine($"other        conv width {c.ConvWidth}, vocabulary {c.VocabSize}, logits soft-cap {c.LogitsSoftCap.ToString(inv)}, tied embeddings {(c.TieWordEmbeddings ? "yes" : "no")}");
            o.WriteLine($"parameters   {c.ParameterCount.ToString("N0", inv)}");
            o.WriteLine($"weights      {generator.Model.Weights.MatrixBytes / 1e6:F1} MB resident (bf16, packed once at load)");
            o.WriteLine($"state        {SequenceState.BytesFor(c) / 1e6:F3} MB per sequence, whatever its length");
            o.WriteLine($"threads      {generator.Model.Threads}, {generator.Model.VectorWidth}");
            if (generator.Tokenizer is { } t)
                o.WriteLine($"tokenizer    {t.Path}: SentencePiece BPE, {t.VocabularySize} pieces, <bos> {t.BosId}, <eos> {t.EosId}"
                    + (t.StartOfTurnId >= 0 ? $", <start_of_turn> {t.StartOfTurnId}, <end_of_turn> {t.EndOfTurnId}" : ""));
            else
                o.WriteLine("tokenizer    none (token ids only)");
            return 0;
        });
        return command;
    }
}

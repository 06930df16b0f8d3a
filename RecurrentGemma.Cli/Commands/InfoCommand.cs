using System.CommandLine;
using System.Globalization;
using RecurrentGemma.Core.Checkpoint;
using RecurrentGemma.Core.Config;
using RecurrentGemma.Core.Model;
using RecurrentGemma.Core.Packed;
using RecurrentGemma.Core.State;
using RecurrentGemma.Core.Tokenizer;

namespace RecurrentGemma.Cli.Commands;

/// <summary>
/// rgemma info: what a model is (config, parameters, files, memory per weight format, state per sequence, tokenizer),
/// from the config and the safetensors headers alone: no weight is read or packed, so it answers at once for any size.
/// </summary>
public static class InfoCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr, ProgressBar progress)
    {
        var model = new ModelOptions(demoDefault: true);
        var command = new Command("info", "Describe a model from its config and file headers (nothing is loaded): config, parameters, files, memory per weight format, state bytes per sequence, tokenizer");
        model.AddTo(command, withTokenizer: true);
        command.SetAction(parse =>
        {
            string spec = model.Spec(parse, stderr);
            bool synthetic = spec.StartsWith(RecurrentGemmaModel.SyntheticPrefix, StringComparison.Ordinal);
            var c = synthetic ? RecurrentGemmaModel.SyntheticConfig(spec) : ModelConfigJson.Load(Path.Combine(spec, "config.json"));
            var o = stdout;
            var inv = CultureInfo.InvariantCulture;
            o.WriteLine($"model        {spec}");
            o.WriteLine($"layers       {c.NumLayers}: {c.CountLayers(BlockType.Recurrent)} recurrent, {c.CountLayers(BlockType.Attention)} attention (pattern {string.Join(", ", c.BlockPattern).ToLowerInvariant()})");
            o.WriteLine($"widths       hidden {c.HiddenSize}, RG-LRU {c.LruWidth}, MLP {c.MlpWidth}, {c.NumHeads} heads x {c.HeadDim} with {c.NumKvHeads} key/value head");
            o.WriteLine($"attention    local window {c.AttentionWindow} (+1 for the token itself), RoPE on {c.RotaryDim} of {c.HeadDim} dims, theta {c.RopeTheta.ToString(inv)}");
            o.WriteLine($"other        conv width {c.ConvWidth}, vocabulary {c.VocabSize}, logits soft-cap {c.LogitsSoftCap.ToString(inv)}, tied embeddings {(c.TieWordEmbeddings ? "yes" : "no")}");
            o.WriteLine($"parameters   {c.ParameterCount.ToString("N0", inv)}");
            WeightFormat? packed = null;
            if (!synthetic)
            {
                using var checkpoint = Checkpoint.Open(spec);   // validates every header; maps, reads no tensor
                packed = PackedModel.FormatOf(checkpoint);
                long bytes = checkpoint.Files.Sum(f => f.Length);
                var dtypes = checkpoint.Files.SelectMany(f => f.Tensors.Values).GroupBy(t => t.DType.Name()).OrderBy(g => g.Key, StringComparer.Ordinal)
                    .Select(g => $"{g.Count()} {g.Key}");
                o.WriteLine($"files        {checkpoint.Files.Count} safetensors, {bytes / 1e6:F1} MB: {string.Join(", ", dtypes)}"
                    + (packed is { } p ? $" (packed {p.Name()}, layout version {PackedLayout.Version}: loads in place)" : ""));
            }
            var formats = packed is { } only ? [only] : Enum.GetValues<WeightFormat>();
            o.WriteLine($"weights      " + string.Join(", ", formats.Select(f => $"{f.Name()} {ModelWeights.PackedBytes(c, f) / 1e6:F1} MB")) + " resident"
                + (packed is null && !synthetic ? " (--weights; converted at load, or once with 'rgemma convert')" : ""));
            o.WriteLine($"state        {SequenceState.BytesFor(c) / 1e6:F3} MB per sequence, whatever its length");
            o.WriteLine($"machine      {Environment.ProcessorCount} processors, {RecurrentGemmaModel.MachineVectorWidth}, int8 dot products on {RecurrentGemmaModel.MachineInt8Path}");
            string? tokenizerPath = parse.GetValue(model.Tokenizer) ?? (!synthetic && File.Exists(Path.Combine(spec, GemmaTokenizer.FileName)) ? spec : null);
            if (tokenizerPath is not null && GemmaTokenizer.Load(tokenizerPath) is { } t)
                o.WriteLine($"tokenizer    {t.Path}: SentencePiece BPE, {t.VocabularySize} pieces, <bos> {t.BosId}, <eos> {t.EosId}"
                    + (t.StartOfTurnId >= 0 ? $", <start_of_turn> {t.StartOfTurnId}, <end_of_turn> {t.EndOfTurnId}" : ""));
            else
                o.WriteLine("tokenizer    none (token ids only)");
            return 0;
        });
        return command;
    }
}

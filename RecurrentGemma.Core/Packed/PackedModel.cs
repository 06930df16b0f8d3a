using System.Globalization;
using RecurrentGemma.Core.Config;
using RecurrentGemma.Core.Model;
using RecurrentGemma.Core.Tokenizer;
using RecurrentGemma.Kernels.Parallel;

namespace RecurrentGemma.Core.Packed;

/// <summary>What <see cref="PackedModel.Convert"/> wrote.</summary>
public sealed record PackedModelInfo(string Directory, WeightFormat Weights, long FileBytes, int Tensors);

/// <summary>
/// Packed model folders: a checkpoint converted once into the kernels' layout for one weight format, so loading maps
/// the matrices in place (start-up is bounded by validating the header) instead of converting gigabytes each time.
/// </summary>
public static class PackedModel
{
    /// <summary>
    /// Converts the Hugging Face checkpoint in <paramref name="sourceDirectory"/> to a new packed folder
    /// <paramref name="outDirectory"/> in <see cref="ModelLoadOptions.Weights"/> (bf16 when null). The folder must not
    /// exist; it appears complete or not at all.
    /// </summary>
    public static PackedModelInfo Convert(string sourceDirectory, string outDirectory, ModelLoadOptions options)
    {
        if (!Directory.Exists(sourceDirectory)) throw new CheckpointException($"model directory {sourceDirectory} does not exist");
        string configPath = Path.Combine(sourceDirectory, "config.json");
        var config = ModelConfigJson.Load(configPath);
        var format = options.Weights ?? WeightFormat.Bf16;
        PackedModelWriter.CheckTarget(outDirectory);
        using var checkpoint = Checkpoint.Checkpoint.Open(sourceDirectory);
        if (FormatOf(checkpoint) is { } packed)
            throw new CheckpointException($"{sourceDirectory} is already a packed {packed.Name()} model; convert the original Hugging Face checkpoint");
        var recorder = new RecordingWeightSource(new CheckpointWeightSource(checkpoint));
        var pool = new WorkerPool(options.Threads);
        using var weights = ModelWeights.Build(recorder, config, format, pool, options.Progress);
        string tokenizer = Path.Combine(sourceDirectory, GemmaTokenizer.FileName);
        long bytes = PackedModelWriter.Write(outDirectory, configPath, File.Exists(tokenizer) ? tokenizer : null, format, Path.GetFullPath(sourceDirectory), recorder.Entries);
        return new PackedModelInfo(outDirectory, format, bytes, recorder.Entries.Count);
    }

    /// <summary>The weight format of a packed checkpoint, null for an ordinary one; refuses another layout version.</summary>
    public static WeightFormat? FormatOf(Checkpoint.Checkpoint checkpoint)
    {
        var file = checkpoint.Files[0];
        if (!PackedLayout.IsPacked(file.Metadata)) return null;
        file.Metadata.TryGetValue(PackedLayout.VersionKey, out var version);
        if (version != PackedLayout.Version.ToString(CultureInfo.InvariantCulture))
            throw new CheckpointException($"{file.Path}: packed with layout version {version ?? "(none)"}; this build reads version {PackedLayout.Version}. "
                + "convert the original checkpoint again with this build");
        file.Metadata.TryGetValue(PackedLayout.WeightsKey, out var weights);
        if (!WeightFormats.TryParse(weights, out var format))
            throw new CheckpointException($"{file.Path}: packed weights '{weights}' are not a weight format this build knows ({WeightFormats.Accepted})");
        return format;
    }
}

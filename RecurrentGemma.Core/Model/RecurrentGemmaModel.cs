using RecurrentGemma.Core.Config;
using RecurrentGemma.Core.State;

namespace RecurrentGemma.Core.Model;

/// <summary>
/// A loaded model: config plus weights (memory-mapped). Immutable after load and safe to share across threads;
/// each thread runs its own <see cref="ForwardPass"/> on its own <see cref="SequenceState"/>s.
/// </summary>
public sealed class RecurrentGemmaModel : IDisposable
{
    public ModelConfig Config { get; }
    public ModelWeights Weights { get; }

    public RecurrentGemmaModel(ModelConfig config, ModelWeights weights)
    {
        Config = config;
        Weights = weights;
    }

    /// <summary>Loads a Hugging Face checkpoint directory (config.json + model.safetensors or sharded index).</summary>
    public static RecurrentGemmaModel Load(string directory)
    {
        if (!Directory.Exists(directory)) throw new CheckpointException($"model directory {directory} does not exist");
        var config = ModelConfigJson.Load(Path.Combine(directory, "config.json"));
        var checkpoint = Checkpoint.Checkpoint.Open(directory);
        try
        {
            return new RecurrentGemmaModel(config, ModelWeights.Load(checkpoint, config));
        }
        catch
        {
            checkpoint.Dispose();
            throw;
        }
    }

    public SequenceState CreateState() => new(Config);

    public ForwardPass CreateForwardPass(int maxRowsPerPass = 256) => new(Config, Weights, maxRowsPerPass);

    public void Dispose() => Weights.Dispose();
}

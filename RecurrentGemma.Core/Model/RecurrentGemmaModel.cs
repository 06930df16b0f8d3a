using RecurrentGemma.Core.Config;
using RecurrentGemma.Core.State;
using RecurrentGemma.Core.Packed;
using RecurrentGemma.Kernels.Parallel;

namespace RecurrentGemma.Core.Model;

/// <summary>
/// A loaded model: config, packed weights and the worker pool its matmuls run on. Immutable after load and safe to share
/// across threads; each thread runs its own <see cref="ForwardPass"/> on its own <see cref="SequenceState"/>s.
/// </summary>
public sealed class RecurrentGemmaModel : IDisposable
{
    public const string SyntheticPrefix = "random:";

    public ModelConfig Config { get; }
    public ModelWeights Weights { get; }
    /// <summary>Threads a forward pass uses (the caller's included).</summary>
    public int Threads => Pool.Threads;
    /// <summary>The SIMD path the kernels run on this machine (Vector512, Vector256, Vector128 or Scalar; RGEMMA_SIMD caps it).</summary>
    public string VectorWidth => MachineVectorWidth;
    /// <summary>The SIMD path this machine's kernels run (before any model is loaded).</summary>
    public static string MachineVectorWidth => Kernels.Simd.Best.ToString();
    /// <summary>The integer dot-product path the quantized kernels run here (AvxVnni, Avx512, Avx2, ArmDp, Vector128 or Scalar; RGEMMA_INT8 picks one).</summary>
    public static string MachineInt8Path => Kernels.MatMul.Int8Paths.Best.ToString();
    /// <summary>What the model was loaded from: a directory or a "random:..." spec.</summary>
    public string Source { get; }
    internal WorkerPool Pool { get; }

    RecurrentGemmaModel(ModelConfig config, ModelWeights weights, WorkerPool pool, string source)
    {
        Config = config;
        Weights = weights;
        Pool = pool;
        Source = source;
    }

    /// <summary>
    /// Opens a model by spec: a Hugging Face checkpoint directory, or <c>random:2b</c>, <c>random:9b</c>,
    /// <c>random:&lt;config.json&gt;</c> for deterministic synthetic weights of that shape (no download needed).
    /// </summary>
    /// <param name="threads">Threads per forward pass; 0 = one per processor.</param>
    /// <param name="progress">Called with the fraction of weights loaded (0..1).</param>
    public static RecurrentGemmaModel Open(string spec, int threads = 0, Action<double>? progress = null) =>
        Open(spec, new ModelLoadOptions { Threads = threads, Progress = progress });

    public static RecurrentGemmaModel Open(string spec, ModelLoadOptions options) =>
        spec.StartsWith(SyntheticPrefix, StringComparison.Ordinal) ? CreateSynthetic(spec, options) : Load(spec, options);

    /// <summary>Loads a checkpoint directory (config.json + model.safetensors or a sharded index). The files are unmapped afterwards.</summary>
    public static RecurrentGemmaModel Load(string directory, int threads = 0, Action<double>? progress = null) =>
        Load(directory, new ModelLoadOptions { Threads = threads, Progress = progress });

    /// <summary>
    /// Loads a checkpoint directory, or a packed folder written by <see cref="PackedModel.Convert"/> (whose matrices are
    /// used in place, mapped: the files stay open while the model lives).
    /// </summary>
    public static RecurrentGemmaModel Load(string directory, ModelLoadOptions options)
    {
        if (!Directory.Exists(directory)) throw new CheckpointException($"model directory {directory} does not exist");
        var config = ModelConfigJson.Load(Path.Combine(directory, "config.json"));
        var pool = new WorkerPool(options.Threads);
        try
        {
            var checkpoint = Checkpoint.Checkpoint.Open(directory);
            ModelWeights weights;
            if (PackedModel.FormatOf(checkpoint) is { } packed)
            {
                if (options.Weights is { } asked && asked != packed)
                    throw new CheckpointException($"{directory} is a packed {packed.Name()} model; open it with weights {packed.Name()} (or none), "
                        + $"or convert the original checkpoint to {asked.Name()}");
                var mapping = new SharedMapping(checkpoint);
                try { weights = ModelWeights.Build(new PackedWeightSource(checkpoint, mapping), config, packed, pool, options.Progress); }
                finally { mapping.Dispose(); }   // the views hold the mapping from here on
            }
            else
            {
                using (checkpoint)
                    weights = ModelWeights.Load(checkpoint, config, pool, options.Progress, options.Weights ?? WeightFormat.Bf16);
            }
            return new RecurrentGemmaModel(config, weights, pool, directory);
        }
        catch
        {
            pool.Dispose();
            throw;
        }
    }

    /// <summary>The config a random:... spec names.</summary>
    public static ModelConfig SyntheticConfig(string spec)
    {
        string shape = spec.StartsWith(SyntheticPrefix, StringComparison.Ordinal) ? spec[SyntheticPrefix.Length..] : spec;
        return shape switch
        {
            "2b" => ModelConfig.RecurrentGemma2B,
            "9b" => ModelConfig.RecurrentGemma9B,
            _ when File.Exists(shape) => ModelConfigJson.Load(shape),
            _ => throw new ModelConfigException($"model spec '{spec}': expected random:2b, random:9b or random:<path to an existing config.json>"),
        };
    }

    static RecurrentGemmaModel CreateSynthetic(string spec, ModelLoadOptions options)
    {
        var config = SyntheticConfig(spec);
        var pool = new WorkerPool(options.Threads);
        try
        {
            var weights = ModelWeights.CreateSynthetic(config, seed: 1, pool, options.Progress, options.Weights ?? WeightFormat.Bf16);
            return new RecurrentGemmaModel(config, weights, pool, spec);
        }
        catch
        {
            pool.Dispose();
            throw;
        }
    }

    public SequenceState CreateState() => new(Config);

    public ForwardPass CreateForwardPass(int maxRowsPerPass = 256) => new(Config, Weights, Pool, maxRowsPerPass);

    public void Dispose()
    {
        Weights.Dispose();
        Pool.Dispose();
    }
}

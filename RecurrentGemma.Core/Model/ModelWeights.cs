using RecurrentGemma.Core.Config;
using RecurrentGemma.Kernels;
using RecurrentGemma.Kernels.MatMul;
using RecurrentGemma.Kernels.Parallel;

namespace RecurrentGemma.Core.Model;

/// <summary>
/// All parameters of a model, checked against the config. Every matrix is repacked once into a packed layout of the
/// requested <see cref="WeightFormat"/> (<see cref="DenseFormat"/>); a checkpoint is released after loading, so one copy
/// of the weights is resident (a packed folder's matrices are views of its mapping instead). Vectors (biases, norms,
/// conv, decay) are small and kept as f32 arrays.
/// </summary>
public sealed class ModelWeights : IDisposable
{
    readonly List<PackedMatrix> _matrices = [];
    int _users, _disposed;

    /// <summary>
    /// Marks a pass as using the weights until <see cref="Leave"/>; throws <see cref="ObjectDisposedException"/> once
    /// <see cref="Dispose"/> has begun. Two atomic operations a pass, so no running pass ever reads freed matrices.
    /// </summary>
    internal void Enter()
    {
        Interlocked.Increment(ref _users);
        if (Volatile.Read(ref _disposed) != 0)
        {
            Leave();
            throw new ObjectDisposedException(nameof(ModelWeights), "the model was disposed; no pass can run on it");
        }
    }

    internal void Leave() => Interlocked.Decrement(ref _users);

    /// <summary>Passes running on the weights now.</summary>
    internal int Users => Volatile.Read(ref _users);

    /// <summary>The format asked for at load (the gates stay bf16 in every format: <see cref="DenseFormat"/>).</summary>
    public WeightFormat Format { get; private set; }
    /// <summary>The token embedding, [V, H]; rows are read with <see cref="PackedMatrix.ReadRow"/>.</summary>
    public PackedMatrix Embedding { get; private set; } = null!;
    /// <summary>The output head: lm_head.weight when present and untied, else the embedding itself (no copy).</summary>
    public PackedMatrix Head { get; private set; } = null!;

    /// <summary>
    /// The format policy, part of each format's definition: every dense matrix, the tied embedding/head included, takes
    /// the requested format; the RG-LRU's block-diagonal gates (2% of the weights, and they set the recurrence's decay)
    /// stay bf16 in every format (<see cref="IWeightSource.BlockDiagonal"/>). RESULTS.md has the measurements behind it.
    /// </summary>
    public static MatrixFormat DenseFormat(WeightFormat requested) => requested switch
    {
        WeightFormat.Q8 => MatrixFormat.Q8,
        WeightFormat.Q4 => MatrixFormat.Q4,
        _ => MatrixFormat.Bf16,
    };

    /// <summary>
    /// Bytes one decode step streams from the matrices: each once (the tied head is the embedding); an untied embedding
    /// is only looked up, one row.
    /// </summary>
    public long StreamBytesPerToken
    {
        get
        {
            long n = 0;
            foreach (var m in _matrices) n += m.StreamBytes;
            if (Head != Embedding) n -= Embedding.StreamBytes - Embedding.StreamBytes / Embedding.OutDim;
            return n;
        }
    }
    public float[] FinalNormScale { get; private set; } = [];
    public LayerWeights[] Layers { get; private set; } = [];

    /// <summary>Bytes of packed matrices held (the resident weight memory).</summary>
    public long MatrixBytes
    {
        get
        {
            long n = 0;
            foreach (var m in _matrices) n += m.SizeInBytes;
            return n;
        }
    }

    ModelWeights() { }

    /// <summary>
    /// The resident bytes of this config's matrices in a format, from shapes alone (what a front end reports
    /// without loading anything): the same matrices the loader builds, each as its format packs it (tested against
    /// loaded models).
    /// </summary>
    public static long PackedBytes(ModelConfig c, WeightFormat format)
    {
        long Dense(int rows, int cols) => PackedMatrix.BytesOf(DenseFormat(format), rows, cols);
        int h = c.HiddenSize, v = c.VocabSize, m = c.MlpWidth, e = c.LruWidth;
        long n = Dense(v, h) * (c.TieWordEmbeddings ? 1 : 2);
        for (int l = 0; l < c.NumLayers; l++)
        {
            n += Dense(2 * m, h) + Dense(h, m);
            n += c.LayerType(l) == BlockType.Recurrent
                ? Dense(2 * e, h) + Dense(h, e) + 2 * PackedBf16Matrix.SizeOf(c.NumHeads, c.LruBlockWidth, c.LruBlockWidth)
                : Dense(c.NumHeads * c.HeadDim + 2 * c.NumKvHeads * c.HeadDim, h) + Dense(h, c.NumHeads * c.HeadDim);
        }
        return n;
    }

    /// <summary>Loads from a checkpoint; the caller may dispose the checkpoint afterwards (nothing points into it).</summary>
    /// <param name="progress">Called with the fraction loaded (0..1) after the embedding and after each layer.</param>
    public static ModelWeights Load(Checkpoint.Checkpoint checkpoint, ModelConfig config, WorkerPool? pool = null, Action<double>? progress = null,
        WeightFormat format = WeightFormat.Bf16) =>
        Build(new CheckpointWeightSource(checkpoint), config, format, pool, progress);

    /// <summary>Deterministic random weights of the config's real shapes (synthetic models for benchmarks and tests).</summary>
    public static ModelWeights CreateSynthetic(ModelConfig config, ulong seed, WorkerPool? pool = null, Action<double>? progress = null,
        WeightFormat format = WeightFormat.Bf16) =>
        Build(new SyntheticWeightSource(seed), config, format, pool, progress);

    internal static ModelWeights Build(IWeightSource source, ModelConfig config, WeightFormat format, WorkerPool? pool, Action<double>? progress)
    {
        var weights = new ModelWeights { Format = format };
        try
        {
            new Loader(source, config, weights, pool, progress).LoadAll();
            return weights;
        }
        catch
        {
            weights.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Frees the matrices once every running pass has left (passes that start from now on are refused); idempotent, and
    /// safe to call from several threads at once: exactly one caller frees.
    /// </summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        var wait = new SpinWait();
        while (Volatile.Read(ref _users) != 0) wait.SpinOnce(sleep1Threshold: 20);
        foreach (var m in _matrices) m.Dispose();
        _matrices.Clear();
    }

    sealed class Loader(IWeightSource source, ModelConfig c, ModelWeights target, WorkerPool? pool, Action<double>? progress)
    {
        public void LoadAll()
        {
            int h = c.HiddenSize, v = c.VocabSize;
            target.Embedding = Dense("model.embed_tokens.weight", v, h);
            // Tied (every released model): the head is the embedding, and a stored lm_head.weight is ignored, as in HF
            // (which overwrites it) and the reference (which has none).
            target.Head = c.TieWordEmbeddings ? target.Embedding
                : source.Contains("lm_head.weight") ? Dense("lm_head.weight", v, h)
                : throw new CheckpointException($"{source.Description}: tensor 'lm_head.weight' is missing and tie_word_embeddings is false (expected shape [{v}, {h}])");
            target.FinalNormScale = NormScale("model.final_norm.weight", h);
            var layers = new LayerWeights[c.NumLayers];
            // The embedding is about as big as a few layers; count it as one step more than the layers.
            progress?.Invoke(1.0 / (layers.Length + 1));
            for (int i = 0; i < layers.Length; i++)
            {
                layers[i] = Layer(i);
                progress?.Invoke((i + 2.0) / (layers.Length + 1));
            }
            target.Layers = layers;
        }

        LayerWeights Layer(int i)
        {
            string p = $"model.layers.{i}.";
            int h = c.HiddenSize, m = c.MlpWidth;
            var type = c.LayerType(i);
            return new LayerWeights
            {
                Type = type,
                TemporalNormScale = NormScale(p + "temporal_pre_norm.weight", h),
                ChannelNormScale = NormScale(p + "channel_pre_norm.weight", h),
                Recurrent = type == BlockType.Recurrent ? Recurrent(p + "temporal_block.") : null,
                Attention = type == BlockType.Attention ? Attention(p + "temporal_block.") : null,
                Mlp = new MlpWeights
                {
                    GateUp = Dense([p + "mlp_block.gate_proj.weight", p + "mlp_block.up_proj.weight"], [m, m], h),
                    GateUpBias = [.. source.Floats(p + "mlp_block.gate_proj.bias", [m]), .. source.Floats(p + "mlp_block.up_proj.bias", [m])],
                    Down = Dense(p + "mlp_block.down_proj.weight", h, m),
                    DownBias = source.Floats(p + "mlp_block.down_proj.bias", [h]),
                },
            };
        }

        RecurrentWeights Recurrent(string p)
        {
            int h = c.HiddenSize, e = c.LruWidth, nh = c.NumHeads, bw = c.LruBlockWidth, k = c.ConvWidth;
            float[] conv = source.Floats(p + "conv_1d.weight", [e, 1, k]);
            var convTapMajor = new float[k * e];
            for (int ch = 0; ch < e; ch++)
                for (int t = 0; t < k; t++) convTapMajor[t * e + ch] = conv[ch * k + t];
            var decay = new float[e];
            RgLru.Decay(source.Floats(p + "rg_lru.recurrent_param", [e]), decay);
            return new RecurrentWeights
            {
                LinearYX = Dense([p + "linear_y.weight", p + "linear_x.weight"], [e, e], h),
                LinearYXBias = [.. source.Floats(p + "linear_y.bias", [e]), .. source.Floats(p + "linear_x.bias", [e])],
                LinearOut = Dense(p + "linear_out.weight", h, e),
                LinearOutBias = source.Floats(p + "linear_out.bias", [h]),
                ConvWeight = convTapMajor,
                ConvBias = source.Floats(p + "conv_1d.bias", [e]),
                InputGate = Keep(source.BlockDiagonal(p + "rg_lru.input_gate_weight", nh, bw)),   // bf16 in every format
                InputGateBias = source.Floats(p + "rg_lru.input_gate_bias", [nh, bw]),
                RecurrentGate = Keep(source.BlockDiagonal(p + "rg_lru.recurrent_gate_weight", nh, bw)),
                RecurrentGateBias = source.Floats(p + "rg_lru.recurrent_gate_bias", [nh, bw]),
                Decay = decay,
            };
        }

        AttentionWeights Attention(string p)
        {
            int h = c.HiddenSize, q = c.NumHeads * c.HeadDim, kv = c.NumKvHeads * c.HeadDim;
            return new AttentionWeights
            {
                QueryKeyValue = Dense([p + "q_proj.weight", p + "k_proj.weight", p + "v_proj.weight"], [q, kv, kv], h),
                Output = Dense(p + "o_proj.weight", h, q),
                OutputBias = source.Floats(p + "o_proj.bias", [h]),
            };
        }

        float[] NormScale(string name, int n)
        {
            var w = source.Floats(name, [n]);
            for (int i = 0; i < n; i++) w[i] += 1f;   // Gemma's RMSNorm multiplies by (1 + w)
            return w;
        }

        PackedMatrix Dense(string name, int rows, int cols) => Dense([name], [rows], cols);

        PackedMatrix Dense(string[] names, int[] rows, int cols) => Keep(source.Dense(names, rows, cols, DenseFormat(target.Format), pool));

        PackedMatrix Keep(PackedMatrix m)
        {
            target._matrices.Add(m);
            return m;
        }
    }
}

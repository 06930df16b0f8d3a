using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using RecurrentGemma.Core.Checkpoint;
using RecurrentGemma.Core.Config;
using RecurrentGemma.Kernels;

namespace RecurrentGemma.Core.Model;

/// <summary>
/// All parameters of a model, checked against the config. BF16 matrices point into the mapped checkpoint (one resident
/// copy); F32/F16 matrices are converted to bf16 once into native memory. Vectors (biases, norms, conv, gates' biases)
/// are small and read into f32 arrays.
/// </summary>
public sealed unsafe class ModelWeights : IDisposable
{
    readonly List<IntPtr> _owned = [];
    readonly IDisposable? _source;

    public Bf16Matrix Embedding { get; private set; }
    /// <summary>The output head: lm_head.weight when present, else the tied embedding.</summary>
    public Bf16Matrix Head { get; private set; }
    public float[] FinalNormScale { get; private set; } = [];
    public LayerWeights[] Layers { get; private set; } = [];

    ModelWeights(IDisposable? source) => _source = source;

    public static ModelWeights Load(Checkpoint.Checkpoint checkpoint, ModelConfig config)
    {
        var weights = new ModelWeights(checkpoint);
        try
        {
            new Loader(checkpoint, config, weights).LoadAll();
            return weights;
        }
        catch
        {
            weights.FreeOwned();
            throw;
        }
    }

    void FreeOwned()
    {
        foreach (var p in _owned) NativeMemory.AlignedFree((void*)p);
        _owned.Clear();
    }

    public void Dispose()
    {
        FreeOwned();
        _source?.Dispose();
    }

    sealed class Loader(Checkpoint.Checkpoint checkpoint, ModelConfig c, ModelWeights target)
    {
        public void LoadAll()
        {
            int h = c.HiddenSize, v = c.VocabSize;
            target.Embedding = Matrix("model.embed_tokens.weight", v, h);
            // Tied (every released model): the head is the embedding, and a stored lm_head.weight is ignored, as in HF
            // (which overwrites it) and the reference (which has none). Its pages are then never touched.
            target.Head = c.TieWordEmbeddings ? target.Embedding
                : checkpoint.Contains("lm_head.weight") ? Matrix("lm_head.weight", v, h)
                : throw new CheckpointException($"{checkpoint.Directory}: tensor 'lm_head.weight' is missing and tie_word_embeddings is false (expected shape [{v}, {h}])");
            target.FinalNormScale = NormScale("model.final_norm.weight", h);
            var layers = new LayerWeights[c.NumLayers];
            for (int i = 0; i < layers.Length; i++) layers[i] = Layer(i);
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
                    Gate = Matrix(p + "mlp_block.gate_proj.weight", m, h),
                    GateBias = Floats(p + "mlp_block.gate_proj.bias", m),
                    Up = Matrix(p + "mlp_block.up_proj.weight", m, h),
                    UpBias = Floats(p + "mlp_block.up_proj.bias", m),
                    Down = Matrix(p + "mlp_block.down_proj.weight", h, m),
                    DownBias = Floats(p + "mlp_block.down_proj.bias", h),
                },
            };
        }

        RecurrentWeights Recurrent(string p)
        {
            int h = c.HiddenSize, e = c.LruWidth, nh = c.NumHeads, bw = c.LruBlockWidth, k = c.ConvWidth;
            float[] conv = Floats(p + "conv_1d.weight", e, 1, k);
            var convTapMajor = new float[k * e];
            for (int ch = 0; ch < e; ch++)
                for (int t = 0; t < k; t++) convTapMajor[t * e + ch] = conv[ch * k + t];
            var decay = new float[e];
            RgLru.Decay(Floats(p + "rg_lru.recurrent_param", e), decay);
            return new RecurrentWeights
            {
                LinearX = Matrix(p + "linear_x.weight", e, h),
                LinearXBias = Floats(p + "linear_x.bias", e),
                LinearY = Matrix(p + "linear_y.weight", e, h),
                LinearYBias = Floats(p + "linear_y.bias", e),
                LinearOut = Matrix(p + "linear_out.weight", h, e),
                LinearOutBias = Floats(p + "linear_out.bias", h),
                ConvWeight = convTapMajor,
                ConvBias = Floats(p + "conv_1d.bias", e),
                InputGate = Matrix(p + "rg_lru.input_gate_weight", [nh, bw, bw], nh * bw, bw),
                InputGateBias = Floats(p + "rg_lru.input_gate_bias", nh, bw),
                RecurrentGate = Matrix(p + "rg_lru.recurrent_gate_weight", [nh, bw, bw], nh * bw, bw),
                RecurrentGateBias = Floats(p + "rg_lru.recurrent_gate_bias", nh, bw),
                Decay = decay,
            };
        }

        AttentionWeights Attention(string p)
        {
            int h = c.HiddenSize, q = c.NumHeads * c.HeadDim, kv = c.NumKvHeads * c.HeadDim;
            return new AttentionWeights
            {
                Query = Matrix(p + "q_proj.weight", q, h),
                Key = Matrix(p + "k_proj.weight", kv, h),
                Value = Matrix(p + "v_proj.weight", kv, h),
                Output = Matrix(p + "o_proj.weight", h, q),
                OutputBias = Floats(p + "o_proj.bias", h),
            };
        }

        float[] NormScale(string name, int n)
        {
            var w = Floats(name, n);
            for (int i = 0; i < n; i++) w[i] += 1f;   // Gemma's RMSNorm multiplies by (1 + w)
            return w;
        }

        Bf16Matrix Matrix(string name, int rows, int cols) => Matrix(name, [rows, cols], rows, cols);

        Bf16Matrix Matrix(string name, long[] shape, int rows, int cols)
        {
            var (file, tensor) = Find(name, shape);
            byte* data = file.DataPointer(tensor);
            long count = tensor.ElementCount;
            switch (tensor.DType)
            {
                case Checkpoint.SafetensorsDType.BF16:
                    return new Bf16Matrix((ushort*)data, rows, cols);
                case Checkpoint.SafetensorsDType.F32:
                case Checkpoint.SafetensorsDType.F16:
                    var owned = (ushort*)NativeMemory.AlignedAlloc((nuint)(count * 2), 64);
                    target._owned.Add((IntPtr)owned);
                    for (long i = 0; i < count; i++) owned[i] = Bf16.FromFloat(ReadElement(tensor, data, i));
                    return new Bf16Matrix(owned, rows, cols);
                default:
                    throw UnsupportedDType(tensor);
            }
        }

        float[] Floats(string name, params long[] shape)
        {
            var (file, tensor) = Find(name, shape);
            byte* data = file.DataPointer(tensor);
            var result = new float[tensor.ElementCount];
            for (int i = 0; i < result.Length; i++) result[i] = ReadElement(tensor, data, i);
            return result;
        }

        (SafetensorsFile, SafetensorsTensor) Find(string name, long[] shape)
        {
            if (!checkpoint.TryGet(name, out var file, out var tensor))
                throw new CheckpointException($"{checkpoint.Directory}: tensor '{name}' is missing (expected shape {SafetensorsTensor.FormatShape(shape)})");
            if (!tensor.Shape.AsSpan().SequenceEqual(shape))
                throw new CheckpointException($"{file.Path}: tensor '{name}' has shape {tensor.ShapeText}, expected {SafetensorsTensor.FormatShape(shape)} for this config");
            return (file, tensor);
        }

        /// <summary>Element i of a BF16, F16 or F32 tensor as f32 (exact for all three); unaligned reads, as the format only aligns to 2 bytes.</summary>
        static float ReadElement(SafetensorsTensor tensor, byte* data, long i) => tensor.DType switch
        {
            Checkpoint.SafetensorsDType.BF16 => Bf16.ToFloat(Unsafe.ReadUnaligned<ushort>(data + i * 2)),
            Checkpoint.SafetensorsDType.F16 => Bf16.HalfToFloat(Unsafe.ReadUnaligned<ushort>(data + i * 2)),
            Checkpoint.SafetensorsDType.F32 => Unsafe.ReadUnaligned<float>(data + i * 4),
            _ => throw UnsupportedDType(tensor),
        };

        static CheckpointException UnsupportedDType(SafetensorsTensor t) =>
            new($"tensor '{t.Name}' has dtype {t.DType.Name()}; weights must be BF16, F16 or F32");
    }
}

using System.Collections.Immutable;

namespace RecurrentGemma.Core.Config;

/// <summary>
/// The shape and numerics of one RecurrentGemma model, as read from HF config.json (see <see cref="ModelConfigJson"/>).
/// Immutable; <see cref="Validate"/> has run on every instance handed out by the parser and the presets.
/// </summary>
public sealed record ModelConfig
{
    public required int HiddenSize { get; init; }
    /// <summary>RG-LRU width E (HF lru_width; null there means hidden size).</summary>
    public required int LruWidth { get; init; }
    /// <summary>Attention heads; also the number of diagonal blocks of the RG-LRU gates.</summary>
    public required int NumHeads { get; init; }
    public int NumKvHeads { get; init; } = 1;
    /// <summary>The real MLP width M (HF intermediate_size is 2M).</summary>
    public required int MlpWidth { get; init; }
    public required int NumLayers { get; init; }
    /// <summary>Cyclic pattern: layer i has type BlockPattern[i % length].</summary>
    public required ImmutableArray<BlockType> BlockPattern { get; init; }
    public required int AttentionWindow { get; init; }
    public int ConvWidth { get; init; } = 4;
    public required int VocabSize { get; init; }
    /// <summary>0 means no soft-cap.</summary>
    public float LogitsSoftCap { get; init; } = 30f;
    public float RmsNormEps { get; init; } = 1e-6f;
    public float PartialRotaryFactor { get; init; } = 0.5f;
    public double RopeTheta { get; init; } = 10000.0;
    public bool EmbeddingsScaleBySqrtDim { get; init; } = true;
    public bool TieWordEmbeddings { get; init; } = true;
    public int BosTokenId { get; init; } = 2;
    public int EosTokenId { get; init; } = 1;
    public int PadTokenId { get; init; }

    public int HeadDim => HiddenSize / NumHeads;
    /// <summary>Width of each RG-LRU gate block.</summary>
    public int LruBlockWidth => LruWidth / NumHeads;
    /// <summary>Dims per head that RoPE rotates (the rest pass through).</summary>
    public int RotaryDim => (int)(HeadDim * PartialRotaryFactor);

    public BlockType LayerType(int layer) => BlockPattern[layer % BlockPattern.Length];

    public int CountLayers(BlockType type)
    {
        int n = 0;
        for (int i = 0; i < NumLayers; i++) if (LayerType(i) == type) n++;
        return n;
    }

    /// <summary>Parameters in the checkpoint (embedding counted once when tied).</summary>
    public long ParameterCount
    {
        get
        {
            long h = HiddenSize, e = LruWidth, m = MlpWidth, q = NumHeads * HeadDim, kv = NumKvHeads * HeadDim, bw = LruBlockWidth;
            long n = (long)VocabSize * h * (TieWordEmbeddings ? 1 : 2) + h;
            for (int l = 0; l < NumLayers; l++)
            {
                n += 2 * h + 3 * m * h + 2 * m + h;
                n += LayerType(l) == BlockType.Recurrent
                    ? 2 * (e * h + e) + (h * e + h) + (e * ConvWidth + e) + e + 2 * (NumHeads * bw * bw + e)
                    : q * h + 2 * kv * h + h * q + h;
            }
            return n;
        }
    }

    /// <summary>
    /// Upper bounds on every size, far above any real Griffin (2B: hidden 2560, MLP 7680, 26 layers, window 2048, vocabulary
    /// 256000; 9B: 4096, 12288, 38): a config past them is refused before anything is allocated, so no size product
    /// can wrap. Every buffer the engine sizes from a config is also computed in checked 64-bit arithmetic.
    /// </summary>
    public static class Limits
    {
        public const int HiddenSize = 32768, LruWidth = 32768, NumHeads = 256, MlpWidth = 131072, NumLayers = 512;
        public const int AttentionWindow = 65536, ConvWidth = 16, VocabSize = 1 << 20;
        /// <summary>Floats in the largest single array a config may imply (a K/V ring, an embedding row block).</summary>
        public const long ArrayElements = 1L << 30;
    }

    /// <summary>Throws <see cref="ModelConfigException"/> naming the first inconsistent key and its accepted range.</summary>
    public ModelConfig Validate()
    {
        InRange("hidden_size", HiddenSize, Limits.HiddenSize);
        InRange("lru_width", LruWidth, Limits.LruWidth);
        InRange("num_attention_heads", NumHeads, Limits.NumHeads);
        InRange("intermediate_size", MlpWidth, Limits.MlpWidth);
        InRange("num_hidden_layers", NumLayers, Limits.NumLayers);
        InRange("attention_window_size", AttentionWindow, Limits.AttentionWindow);
        InRange("conv1d_width", ConvWidth, Limits.ConvWidth);
        InRange("vocab_size", VocabSize, Limits.VocabSize);
        if (NumKvHeads != 1)
            throw new ModelConfigException($"config: num_key_value_heads = {NumKvHeads} is not supported; RecurrentGemma uses multi-query attention with exactly 1 key/value head");
        if (HiddenSize % NumHeads != 0)
            throw new ModelConfigException($"config: hidden_size = {HiddenSize} is not divisible by num_attention_heads = {NumHeads}");
        if (LruWidth % NumHeads != 0)
            throw new ModelConfigException($"config: lru_width = {LruWidth} is not divisible by num_attention_heads = {NumHeads} (the RG-LRU gates have one block per head)");
        if (BlockPattern.IsDefaultOrEmpty)
            throw new ModelConfigException("config: block_types is empty; expected a pattern such as [\"recurrent\", \"recurrent\", \"attention\"]");
        if (!(PartialRotaryFactor > 0 && PartialRotaryFactor <= 1))
            throw new ModelConfigException($"config: partial_rotary_factor = {PartialRotaryFactor} must be in (0, 1]");
        if (RotaryDim % 2 != 0 || RotaryDim == 0)
            throw new ModelConfigException($"config: partial_rotary_factor = {PartialRotaryFactor} with head_dim {HeadDim} gives an odd or zero rotary dimension {RotaryDim}");
        if (!(RopeTheta > 0) || double.IsInfinity(RopeTheta))
            throw new ModelConfigException($"config: rope_theta = {RopeTheta} must be a positive number");
        if (!(RmsNormEps > 0) || float.IsInfinity(RmsNormEps))
            throw new ModelConfigException($"config: rms_norm_eps = {RmsNormEps} must be a positive number");
        if (!(LogitsSoftCap >= 0) || float.IsInfinity(LogitsSoftCap))
            throw new ModelConfigException($"config: logits_soft_cap = {LogitsSoftCap} must be 0 (off) or positive");
        foreach (var (key, id) in new[] { ("bos_token_id", BosTokenId), ("eos_token_id", EosTokenId), ("pad_token_id", PadTokenId) })
            if (id < 0 || id >= VocabSize)
                throw new ModelConfigException($"config: {key} = {id} is outside the vocabulary [0, {VocabSize})");
        long ring = checked((long)AttentionWindow * NumKvHeads * HeadDim);
        if (ring > Limits.ArrayElements)
            throw new ModelConfigException($"config: attention_window_size = {AttentionWindow} x head_dim {HeadDim} = {ring} floats per K/V ring; the limit is {Limits.ArrayElements}");
        return this;
    }

    static void InRange(string key, int value, int max)
    {
        if (value <= 0 || value > max) throw new ModelConfigException($"config: {key} = {value} must be in [1, {max}]");
    }

    static readonly ImmutableArray<BlockType> GriffinPattern = [BlockType.Recurrent, BlockType.Recurrent, BlockType.Attention];

    /// <summary>google/recurrentgemma-2b (and -2b-it).</summary>
    public static ModelConfig RecurrentGemma2B { get; } = new ModelConfig
    {
        HiddenSize = 2560, LruWidth = 2560, NumHeads = 10, MlpWidth = 7680, NumLayers = 26,
        BlockPattern = GriffinPattern, AttentionWindow = 2048, VocabSize = 256000,
    }.Validate();

    /// <summary>google/recurrentgemma-9b (and -9b-it).</summary>
    public static ModelConfig RecurrentGemma9B { get; } = new ModelConfig
    {
        HiddenSize = 4096, LruWidth = 4096, NumHeads = 16, MlpWidth = 12288, NumLayers = 38,
        BlockPattern = GriffinPattern, AttentionWindow = 2048, VocabSize = 256000,
    }.Validate();
}

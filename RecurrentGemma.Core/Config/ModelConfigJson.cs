using System.Collections.Immutable;
using System.Text.Json;

namespace RecurrentGemma.Core.Config;

/// <summary>
/// Reads Hugging Face's RecurrentGemma config.json. Absent keys take HF's RecurrentGemmaConfig defaults
/// (except num_key_value_heads, which defaults to 1: the only value the architecture supports).
/// JsonDocument rather than reflection-based binding: NativeAOT-safe, and every error can name its key.
/// </summary>
public static class ModelConfigJson
{
    public static ModelConfig Load(string path)
    {
        if (!File.Exists(path)) throw new ModelConfigException($"config: {path} not found (a model directory needs the config.json from the checkpoint)");
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ModelConfigException($"config: cannot read {path}: {e.Message}", e);
        }
        return Parse(bytes, path);
    }

    public static ModelConfig Parse(ReadOnlySpan<byte> utf8Json, string source = "config.json")
    {
        JsonDocument doc;
        try { doc = JsonDocument.Parse(utf8Json.ToArray(), new JsonDocumentOptions { AllowTrailingCommas = false, CommentHandling = JsonCommentHandling.Skip }); }
        catch (JsonException e)
        {
            throw new ModelConfigException($"config: {source} is not valid JSON ({e.Message})", e);
        }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw new ModelConfigException($"config: {source} must hold a JSON object, found {root.ValueKind}");
            var reader = new Reader(root, source);
            return reader.Read().Validate();
        }
    }

    readonly struct Reader(JsonElement root, string source)
    {
        public ModelConfig Read()
        {
            string? modelType = String("model_type");
            if (modelType is not null && modelType != "recurrent_gemma")
                throw Error("model_type", $"\"{modelType}\"", "\"recurrent_gemma\"");
            string? activation = String("hidden_activation");
            if (activation is not null && activation is not ("gelu_pytorch_tanh" or "gelu_tanh"))
                throw Error("hidden_activation", $"\"{activation}\"", "\"gelu_pytorch_tanh\"");

            int hidden = Int("hidden_size", 2560);
            int heads = Int("num_attention_heads", 10);
            int intermediate = Int("intermediate_size", 3 * 2560);
            if (intermediate % 2 != 0) throw Error("intermediate_size", intermediate.ToString(), "an even number (HF stores twice the MLP width)");
            int? headDim = NullableInt("head_dim");
            if (headDim is { } hd && heads > 0 && hd != hidden / heads)
                throw Error("head_dim", hd.ToString(), $"hidden_size / num_attention_heads = {hidden / heads} (HF derives it that way)");

            double theta = Double("rope_theta", 10000.0);
            double partial = Double("partial_rotary_factor", 0.5);
            if (root.TryGetProperty("rope_parameters", out var rope) && rope.ValueKind == JsonValueKind.Object)
            {
                var ropeReader = new Reader(rope, source + ": rope_parameters");
                string? ropeType = ropeReader.String("rope_type");
                if (ropeType is not null && ropeType != "default")
                    throw Error("rope_parameters.rope_type", $"\"{ropeType}\"", "\"default\"");
                theta = ropeReader.Double("rope_theta", theta);
                partial = ropeReader.Double("partial_rotary_factor", partial);
            }

            return new ModelConfig
            {
                HiddenSize = hidden,
                LruWidth = NullableInt("lru_width") ?? hidden,
                NumHeads = heads,
                NumKvHeads = NullableInt("num_key_value_heads") ?? 1,
                MlpWidth = intermediate / 2,
                NumLayers = Int("num_hidden_layers", 26),
                BlockPattern = Pattern(),
                AttentionWindow = Int("attention_window_size", 2048),
                ConvWidth = Int("conv1d_width", 4),
                VocabSize = Int("vocab_size", 256000),
                LogitsSoftCap = (float)(NullableDouble("logits_soft_cap", 30.0) ?? 0.0),
                RmsNormEps = (float)Double("rms_norm_eps", 1e-6),
                PartialRotaryFactor = (float)partial,
                RopeTheta = theta,
                EmbeddingsScaleBySqrtDim = Bool("embeddings_scale_by_sqrt_dim", true),
                TieWordEmbeddings = Bool("tie_word_embeddings", true),
                BosTokenId = Int("bos_token_id", 2),
                EosTokenId = FirstInt("eos_token_id", 1),
                PadTokenId = Int("pad_token_id", 0),
            };
        }

        ImmutableArray<BlockType> Pattern()
        {
            ImmutableArray<BlockType>? primary = PatternFrom("block_types");
            ImmutableArray<BlockType>? legacy = PatternFrom("_block_types");
            if (primary is { } p && legacy is { } l && !p.SequenceEqual(l))
                throw new ModelConfigException($"config: {source}: block_types and _block_types disagree; they must name the same pattern");
            return primary ?? legacy ?? [BlockType.Recurrent, BlockType.Recurrent, BlockType.Attention];
        }

        ImmutableArray<BlockType>? PatternFrom(string key)
        {
            if (!root.TryGetProperty(key, out var value) || value.ValueKind == JsonValueKind.Null) return null;
            if (value.ValueKind != JsonValueKind.Array) throw Error(key, value.ValueKind.ToString(), "an array of \"recurrent\" / \"attention\"");
            var builder = ImmutableArray.CreateBuilder<BlockType>();
            int i = 0;
            foreach (var item in value.EnumerateArray())
            {
                string? name = item.ValueKind == JsonValueKind.String ? item.GetString() : null;
                builder.Add(name switch
                {
                    "recurrent" => BlockType.Recurrent,
                    "attention" => BlockType.Attention,
                    _ => throw Error($"{key}[{i}]", item.GetRawText(), "\"recurrent\" or \"attention\""),
                });
                i++;
            }
            return builder.ToImmutable();
        }

        int Int(string key, int fallback) => NullableInt(key) ?? fallback;

        /// <summary>eos_token_id may be a list in newer configs; the first entry is the model's end of sequence.</summary>
        int FirstInt(string key, int fallback)
        {
            if (root.TryGetProperty(key, out var value) && value.ValueKind == JsonValueKind.Array)
            {
                foreach (var item in value.EnumerateArray()) return AsInt(key, item);
                throw Error(key, "[]", "an integer or a non-empty list");
            }
            return Int(key, fallback);
        }

        int? NullableInt(string key)
        {
            if (!root.TryGetProperty(key, out var value) || value.ValueKind == JsonValueKind.Null) return null;
            return AsInt(key, value);
        }

        int AsInt(string key, JsonElement value)
        {
            if (value.ValueKind == JsonValueKind.Number)
            {
                if (value.TryGetInt32(out int i)) return i;
                if (value.TryGetDouble(out double d) && d == Math.Floor(d) && d >= int.MinValue && d <= int.MaxValue) return (int)d;
            }
            throw Error(key, value.GetRawText(), "an integer");
        }

        double Double(string key, double fallback) => NullableDouble(key, fallback) ?? fallback;

        /// <summary>Absent -> fallback; explicit null -> null.</summary>
        double? NullableDouble(string key, double fallback)
        {
            if (!root.TryGetProperty(key, out var value)) return fallback;
            if (value.ValueKind == JsonValueKind.Null) return null;
            if (value.ValueKind == JsonValueKind.Number && value.TryGetDouble(out double d) && double.IsFinite(d)) return d;
            throw Error(key, value.GetRawText(), "a number");
        }

        bool Bool(string key, bool fallback)
        {
            if (!root.TryGetProperty(key, out var value) || value.ValueKind == JsonValueKind.Null) return fallback;
            return value.ValueKind switch
            {
                JsonValueKind.True => true,
                JsonValueKind.False => false,
                _ => throw Error(key, value.GetRawText(), "true or false"),
            };
        }

        string? String(string key)
        {
            if (!root.TryGetProperty(key, out var value) || value.ValueKind == JsonValueKind.Null) return null;
            if (value.ValueKind != JsonValueKind.String) throw Error(key, value.GetRawText(), "a string");
            return value.GetString();
        }

        ModelConfigException Error(string key, string found, string expected) =>
            new($"config: {source}: {key} = {found}; expected {expected}");
    }
}

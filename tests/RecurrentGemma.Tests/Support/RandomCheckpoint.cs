using System.Text.Json;
using RecurrentGemma.Core.Checkpoint;
using RecurrentGemma.Kernels;

namespace RecurrentGemma.Tests.Support;

/// <summary>
/// Writes a small HF-layout checkpoint with deterministic random bf16 weights for any shape, to exercise configs the
/// golden cases don't cover (lru_width != hidden, other conv widths and patterns). Tensor names and shapes follow SPEC.md.
/// </summary>
public sealed record RandomModelSpec(
    int Hidden = 32, int LruWidth = 48, int Heads = 2, int MlpWidth = 40, int Layers = 3, string[]? Pattern = null,
    int Window = 5, int ConvWidth = 3, int Vocab = 67, float SoftCap = 30f, bool WriteLmHead = false, int Seed = 7)
{
    public string[] BlockPattern => Pattern ?? ["recurrent", "attention"];

    public void WriteConfig(string dir, Action<Utf8JsonWriter>? extra = null)
    {
        using var stream = File.Create(Path.Combine(dir, "config.json"));
        using var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true });
        json.WriteStartObject();
        json.WriteString("model_type", "recurrent_gemma");
        json.WriteNumber("hidden_size", Hidden);
        json.WriteNumber("lru_width", LruWidth);
        json.WriteNumber("num_attention_heads", Heads);
        json.WriteNumber("num_key_value_heads", 1);
        json.WriteNumber("intermediate_size", 2 * MlpWidth);
        json.WriteNumber("num_hidden_layers", Layers);
        json.WriteStartArray("block_types");
        foreach (var b in BlockPattern) json.WriteStringValue(b);
        json.WriteEndArray();
        json.WriteNumber("attention_window_size", Window);
        json.WriteNumber("conv1d_width", ConvWidth);
        json.WriteNumber("vocab_size", Vocab);
        json.WriteNumber("logits_soft_cap", SoftCap);
        json.WriteNumber("rms_norm_eps", 1e-6);
        json.WriteNumber("partial_rotary_factor", 0.5);
        json.WriteNumber("rope_theta", 10000.0);
        json.WriteBoolean("tie_word_embeddings", true);
        extra?.Invoke(json);
        json.WriteEndObject();
    }

    public IEnumerable<(string Name, long[] Shape, float Std)> Tensors()
    {
        int h = Hidden, e = LruWidth, m = MlpWidth, hd = Hidden / Heads, bw = LruWidth / Heads;
        yield return ("model.embed_tokens.weight", [Vocab, h], 1f);
        yield return ("model.final_norm.weight", [h], 0.3f);
        for (int i = 0; i < Layers; i++)
        {
            string p = $"model.layers.{i}.";
            yield return (p + "temporal_pre_norm.weight", [h], 0.3f);
            yield return (p + "channel_pre_norm.weight", [h], 0.3f);
            yield return (p + "mlp_block.gate_proj.weight", [m, h], Std(h));
            yield return (p + "mlp_block.gate_proj.bias", [m], 0.1f);
            yield return (p + "mlp_block.up_proj.weight", [m, h], Std(h));
            yield return (p + "mlp_block.up_proj.bias", [m], 0.1f);
            yield return (p + "mlp_block.down_proj.weight", [h, m], Std(m));
            yield return (p + "mlp_block.down_proj.bias", [h], 0.1f);
            string t = p + "temporal_block.";
            if (BlockPattern[i % BlockPattern.Length] == "recurrent")
            {
                yield return (t + "linear_x.weight", [e, h], Std(h));
                yield return (t + "linear_x.bias", [e], 0.1f);
                yield return (t + "linear_y.weight", [e, h], Std(h));
                yield return (t + "linear_y.bias", [e], 0.1f);
                yield return (t + "linear_out.weight", [h, e], Std(e));
                yield return (t + "linear_out.bias", [h], 0.1f);
                yield return (t + "conv_1d.weight", [e, 1, ConvWidth], Std(ConvWidth));
                yield return (t + "conv_1d.bias", [e], 0.1f);
                yield return (t + "rg_lru.recurrent_param", [e], 1f);
                yield return (t + "rg_lru.input_gate_weight", [Heads, bw, bw], Std(bw));
                yield return (t + "rg_lru.input_gate_bias", [Heads, bw], 0.1f);
                yield return (t + "rg_lru.recurrent_gate_weight", [Heads, bw, bw], Std(bw));
                yield return (t + "rg_lru.recurrent_gate_bias", [Heads, bw], 0.1f);
            }
            else
            {
                yield return (t + "q_proj.weight", [Heads * hd, h], Std(h));
                yield return (t + "k_proj.weight", [hd, h], Std(h));
                yield return (t + "v_proj.weight", [hd, h], Std(h));
                yield return (t + "o_proj.weight", [h, Heads * hd], Std(Heads * hd));
                yield return (t + "o_proj.bias", [h], 0.1f);
            }
        }
        if (WriteLmHead) yield return ("lm_head.weight", [Vocab, h], 1f);   // last, so the other weights don't depend on it
    }

    static float Std(int fanIn) => 1f / MathF.Sqrt(fanIn);

    /// <summary>Writes config.json + model.safetensors into a new temp directory and returns it.</summary>
    public string Write(SafetensorsDType dtype = SafetensorsDType.BF16)
    {
        string dir = TestData.NewTempDirectory();
        WriteConfig(dir);
        var rng = new Random(Seed);
        var writer = new SafetensorsWriter();
        foreach (var (name, shape, std) in Tensors())
        {
            long n = 1;
            foreach (var d in shape) n *= d;
            var values = new float[n];
            for (int i = 0; i < n; i++) values[i] = Bf16.Round(std * Gaussian(rng));
            switch (dtype)
            {
                case SafetensorsDType.BF16:
                    var bits = new ushort[n];
                    Bf16.FromFloat(values, bits);
                    writer.Add(name, bits, shape);
                    break;
                case SafetensorsDType.F32:
                    writer.Add(name, values, shape);
                    break;
                case SafetensorsDType.F16:
                    var half = new byte[n * 2];
                    for (int i = 0; i < n; i++) BitConverter.TryWriteBytes(half.AsSpan(i * 2), (Half)values[i]);
                    writer.Add(name, SafetensorsDType.F16, shape, half);
                    break;
                default:
                    throw new ArgumentOutOfRangeException(nameof(dtype));
            }
        }
        writer.Write(Path.Combine(dir, "model.safetensors"));
        return dir;
    }

    static float Gaussian(Random rng)
    {
        double u1 = 1.0 - rng.NextDouble(), u2 = rng.NextDouble();
        return (float)(Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2));
    }
}

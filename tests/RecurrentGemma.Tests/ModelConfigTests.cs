using System.Text;
using RecurrentGemma.Core;
using RecurrentGemma.Core.Config;
using RecurrentGemma.Core.State;
using RecurrentGemma.Tests.Support;
using Xunit;

namespace RecurrentGemma.Tests;

public class ModelConfigTests
{
    static ModelConfig Parse(string json) => ModelConfigJson.Parse(Encoding.UTF8.GetBytes(json));

    const string Minimal = """
        "hidden_size": 64, "num_attention_heads": 4, "intermediate_size": 192, "num_hidden_layers": 3,
        "vocab_size": 100, "attention_window_size": 8
        """;

    [Fact]
    public void Golden_configs_parse_per_spec()
    {
        var a = ModelConfigJson.Load(Path.Combine(TestData.Golden("tiny-a"), "config.json"));
        Assert.Equal((128, 128, 4, 32, 384, 6, 16, 4, 512), (a.HiddenSize, a.LruWidth, a.NumHeads, a.HeadDim, a.MlpWidth, a.NumLayers, a.AttentionWindow, a.ConvWidth, a.VocabSize));
        Assert.Equal([BlockType.Recurrent, BlockType.Recurrent, BlockType.Attention], a.BlockPattern.ToArray());
        Assert.Equal(BlockType.Attention, a.LayerType(5));
        Assert.Equal(16, a.RotaryDim);
        Assert.Equal(30f, a.LogitsSoftCap);
        var b = ModelConfigJson.Load(Path.Combine(TestData.Golden("tiny-b"), "config.json"));   // block_types only
        Assert.Equal((256, 2, 128, 768, 5, 8), (b.HiddenSize, b.NumHeads, b.HeadDim, b.MlpWidth, b.NumLayers, b.AttentionWindow));
    }

    [Fact]
    public void Legacy_block_types_key_lru_width_null_and_defaults()
    {
        var c = Parse("{" + Minimal + """, "_block_types": ["recurrent", "attention"], "lru_width": null}""");
        Assert.Equal([BlockType.Recurrent, BlockType.Attention], c.BlockPattern.ToArray());
        Assert.Equal(64, c.LruWidth);
        Assert.Equal(96, c.MlpWidth);
        Assert.Equal((1, 4, 1e-6f, 0.5f, 10000.0, true, 2, 1, 0), (c.NumKvHeads, c.ConvWidth, c.RmsNormEps, c.PartialRotaryFactor, c.RopeTheta, c.TieWordEmbeddings, c.BosTokenId, c.EosTokenId, c.PadTokenId));
    }

    [Fact]
    public void Empty_config_takes_HF_class_defaults()
    {
        var c = Parse("{}");
        Assert.Equal((2560, 2560, 10, 3840, 26, 2048, 256000), (c.HiddenSize, c.LruWidth, c.NumHeads, c.MlpWidth, c.NumLayers, c.AttentionWindow, c.VocabSize));
    }

    [Fact]
    public void Rope_parameters_object_overrides_flat_keys()
    {
        var c = Parse("{" + Minimal + """, "rope_theta": 5.0, "rope_parameters": {"rope_type": "default", "rope_theta": 20000.0, "partial_rotary_factor": 0.25}}""");
        Assert.Equal(20000.0, c.RopeTheta);
        Assert.Equal(0.25f, c.PartialRotaryFactor);
        Assert.Equal(4, c.RotaryDim);
    }

    [Fact]
    public void Null_soft_cap_means_no_cap_and_eos_list_takes_first()
    {
        var c = Parse("{" + Minimal + """, "logits_soft_cap": null, "eos_token_id": [1, 7]}""");
        Assert.Equal(0f, c.LogitsSoftCap);
        Assert.Equal(1, c.EosTokenId);
    }

    [Theory]
    [InlineData("\"hidden_size\": 65", "hidden_size = 65 is not divisible by num_attention_heads = 4")]
    [InlineData("\"lru_width\": 66", "lru_width = 66 is not divisible by num_attention_heads = 4")]
    [InlineData("\"block_types\": [\"recurrent\", \"mamba\"]", "block_types[1] = \"mamba\"")]
    [InlineData("\"block_types\": []", "block_types is empty")]
    [InlineData("\"num_hidden_layers\": 0", "num_hidden_layers = 0 must be in [1, 512]")]
    [InlineData("\"attention_window_size\": -2", "attention_window_size = -2 must be in [1, 65536]")]
    [InlineData("\"attention_window_size\": 2147483647", "attention_window_size = 2147483647 must be in [1, 65536]")]
    [InlineData("\"num_hidden_layers\": 100000", "num_hidden_layers = 100000 must be in [1, 512]")]
    [InlineData("\"vocab_size\": 2000000000", "vocab_size = 2000000000 must be in [1, 1048576]")]
    [InlineData("\"hidden_size\": 1048576", "hidden_size = 1048576 must be in [1, 32768]")]
    [InlineData("\"intermediate_size\": 262148", "intermediate_size = 131074 must be in [1, 131072]")]
    [InlineData("\"conv1d_width\": 1000", "conv1d_width = 1000 must be in [1, 16]")]
    [InlineData("\"hidden_size\": 32768, \"lru_width\": 32768, \"num_attention_heads\": 1, \"head_dim\": 32768, \"attention_window_size\": 65536", "65536 x head_dim 32768 = 2147483648 floats per K/V ring; the limit is 1073741824")]
    [InlineData("\"num_key_value_heads\": 2", "num_key_value_heads = 2 is not supported")]
    [InlineData("\"hidden_size\": \"big\"", "hidden_size = \"big\"; expected an integer")]
    [InlineData("\"hidden_size\": 64.5", "hidden_size = 64.5; expected an integer")]
    [InlineData("\"intermediate_size\": 191", "intermediate_size = 191; expected an even number")]
    [InlineData("\"head_dim\": 32", "head_dim = 32; expected hidden_size / num_attention_heads = 16")]
    [InlineData("\"model_type\": \"gemma\"", "model_type = \"gemma\"; expected \"recurrent_gemma\"")]
    [InlineData("\"hidden_activation\": \"relu\"", "hidden_activation = \"relu\"")]
    [InlineData("\"block_types\": [\"recurrent\"], \"_block_types\": [\"attention\"]", "block_types and _block_types disagree")]
    [InlineData("\"bos_token_id\": 100", "bos_token_id = 100 is outside the vocabulary [0, 100)")]
    [InlineData("\"partial_rotary_factor\": 0", "partial_rotary_factor = 0 must be in (0, 1]")]
    [InlineData("\"rope_parameters\": {\"rope_type\": \"yarn\"}", "rope_parameters.rope_type = \"yarn\"")]
    [InlineData("\"rms_norm_eps\": -1", "rms_norm_eps = -1 must be a positive number")]
    [InlineData("\"tie_word_embeddings\": \"yes\"", "tie_word_embeddings = \"yes\"; expected true or false")]
    public void Inconsistent_configs_name_the_key_and_value(string fragment, string expected)
    {
        var e = Assert.Throws<ModelConfigException>(() => Parse("{" + Minimal + ", " + fragment + "}"));
        Assert.Contains(expected, e.Message);
    }

    [Theory]
    [InlineData("{\"hidden_size\": ", "not valid JSON")]
    [InlineData("[]", "must hold a JSON object")]
    public void Malformed_json_is_reported(string json, string expected) =>
        Assert.Contains(expected, Assert.Throws<ModelConfigException>(() => Parse(json)).Message);

    [Fact]
    public void Missing_config_file_is_reported() =>
        Assert.Contains("not found", Assert.Throws<ModelConfigException>(() => ModelConfigJson.Load("/nonexistent/config.json")).Message);

    [Fact]
    public void Presets_count_the_parameters_the_published_checkpoints_have()
    {
        // Hugging Face lists google/recurrentgemma-2b at 2.68B parameters and -9b at 8.58B (safetensors element totals).
        Assert.Equal(2.68e9, ModelConfig.RecurrentGemma2B.ParameterCount, 0.005e9);
        Assert.Equal(8.58e9, ModelConfig.RecurrentGemma9B.ParameterCount, 0.005e9);
    }

    [Theory]
    [InlineData("tiny-a")]
    [InlineData("tiny-b")]
    public void The_parameter_count_is_what_a_reference_checkpoint_holds(string name)
    {
        var config = ModelConfigJson.Load(Path.Combine(TestData.Golden(name), "config.json"));
        using var file = Core.Checkpoint.SafetensorsFile.Open(Path.Combine(TestData.Golden(name), "model.safetensors"));
        // Tied checkpoints may still carry a copy of the embedding as lm_head.weight (tiny-b does): it is not a parameter.
        long stored = file.Tensors.Values.Where(t => !(config.TieWordEmbeddings && t.Name == "lm_head.weight")).Sum(t => t.ElementCount);
        Assert.Equal(stored, config.ParameterCount);
    }

    [Fact]
    public void The_state_size_formula_is_the_size_of_the_real_buffers()
    {
        foreach (var config in new[] { ModelConfig.RecurrentGemma2B, ModelConfigJson.Load(Path.Combine(TestData.Golden("tiny-b"), "config.json")) })
            Assert.Equal(SequenceState.BytesFor(config), new SequenceState(config).Arrays().Sum(a => 4L * a.Length));
    }
}

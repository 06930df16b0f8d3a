using System.Text;
using RecurrentGemma.Core;
using RecurrentGemma.Core.Checkpoint;
using RecurrentGemma.Core.Config;
using RecurrentGemma.Core.Model;
using RecurrentGemma.Core.Packed;
using RecurrentGemma.Tests.Support;
using Xunit;

namespace RecurrentGemma.Tests;

/// <summary>
/// Packed model folders (rgemma convert): they load in place to exactly the model that converting at load gives,
/// any safetensors reader can list them, and every way such a folder can be wrong is refused by name.
/// </summary>
public class PackedModelTests
{
    static float[] Logits(RecurrentGemmaModel model, int[] ids)
    {
        var logits = new float[(long)ids.Length * model.Config.VocabSize];
        model.CreateForwardPass().Run([new BatchEntry(model.CreateState(), ids, AllLogits: true)], logits);
        return logits;
    }

    static readonly int[] Prompt = [2, 17, 300, 41, 999, 5, 1200, 64, 7];

    [Theory]
    [InlineData(WeightFormat.Bf16)]
    [InlineData(WeightFormat.Q8)]
    [InlineData(WeightFormat.Q4)]
    public void A_packed_folder_loads_in_place_to_the_same_model_as_converting_at_load(WeightFormat format)
    {
        string dir = Path.Combine(TestData.NewTempDirectory(), "packed");
        var info = PackedModel.Convert(TestData.DemoModel, dir, new ModelLoadOptions { Threads = 2, Weights = format });
        Assert.Equal(format, info.Weights);
        Assert.True(File.Exists(Path.Combine(dir, "tokenizer.model")));
        Assert.Equal(File.ReadAllBytes(Path.Combine(TestData.DemoModel, "config.json")), File.ReadAllBytes(Path.Combine(dir, "config.json")));
        using var converted = RecurrentGemmaModel.Load(TestData.DemoModel, new ModelLoadOptions { Threads = 2, Weights = format });
        using var packed = RecurrentGemmaModel.Load(dir, new ModelLoadOptions { Threads = 2 });
        Assert.Equal(format, packed.Weights.Format);
        Assert.Equal(converted.Weights.MatrixBytes, packed.Weights.MatrixBytes);
        Assert.Equal(ModelWeights.PackedBytes(packed.Config, format), packed.Weights.MatrixBytes);
        Assert.True(Logits(converted, Prompt).AsSpan().SequenceEqual(Logits(packed, Prompt)));
        // A plain safetensors reader sees U8 matrices, F32 vectors and the metadata; the data is page-aligned.
        using var file = SafetensorsFile.Open(Path.Combine(dir, "model.safetensors"));
        Assert.Equal("rgemma-packed", file.Metadata["format"]);
        Assert.Equal(format.Name(), file.Metadata["weights"]);
        Assert.All(file.Tensors.Values, t => Assert.True(t.DType is SafetensorsDType.U8 or SafetensorsDType.F32, t.Name));
        Assert.Equal(0, file.Tensors.Values.Min(t => t.Offset) % PackedLayout.DataAlignment);
    }

    sealed class CountingDisposable : IDisposable
    {
        public int Disposals;
        public void Dispose() => Disposals++;
    }

    [Fact]
    public void The_mapping_closes_once_when_the_loader_and_every_view_have_let_go()
    {
        var file = new CountingDisposable();
        var mapping = new SharedMapping(file);
        var a = mapping.Acquire();
        var b = mapping.Acquire();
        mapping.Dispose();    // the loader is done; the views still hold it
        a.Dispose();
        a.Dispose();          // a view disposed twice releases once
        Assert.Equal(0, file.Disposals);
        b.Dispose();
        Assert.Equal(1, file.Disposals);
        Assert.Throws<ObjectDisposedException>(() => mapping.Acquire());
    }

    [Fact]
    public void Every_format_estimate_equals_the_loaded_bytes()
    {
        foreach (var format in Enum.GetValues<WeightFormat>())
        {
            using var model = RecurrentGemmaModel.Load(TestData.DemoModel, new ModelLoadOptions { Threads = 1, Weights = format });
            Assert.Equal(ModelWeights.PackedBytes(model.Config, format), model.Weights.MatrixBytes);
        }
        using var tinyB = RecurrentGemmaModel.Load(TestData.Golden("tiny-b"), new ModelLoadOptions { Threads = 1, Weights = WeightFormat.Q4 });
        Assert.Equal(ModelWeights.PackedBytes(tinyB.Config, WeightFormat.Q4), tinyB.Weights.MatrixBytes);
    }

    [Fact]
    public void Wrong_folders_and_requests_are_refused_by_name()
    {
        string root = TestData.NewTempDirectory();
        string dir = Path.Combine(root, "q8");
        PackedModel.Convert(TestData.DemoModel, dir, new ModelLoadOptions { Weights = WeightFormat.Q8 });
        string model = Path.Combine(dir, "model.safetensors");
        byte[] original = File.ReadAllBytes(model);

        // Another format asked of a packed folder.
        var e = Assert.Throws<CheckpointException>(() => RecurrentGemmaModel.Load(dir, new ModelLoadOptions { Weights = WeightFormat.Q4 }));
        Assert.Contains("is a packed q8 model; open it with weights q8", e.Message);
        // Converting onto an existing folder, or converting a packed folder.
        var exists = Assert.Throws<RecurrentGemmaException>(() => PackedModel.Convert(TestData.DemoModel, dir, new ModelLoadOptions()));
        Assert.Contains("already exists", exists.Message);
        Assert.Equal(original, File.ReadAllBytes(model));
        Assert.Contains("already a packed q8 model", Assert.Throws<CheckpointException>(() => PackedModel.Convert(dir, Path.Combine(root, "again"), new ModelLoadOptions())).Message);
        Assert.Equal(["q8"], Directory.GetFileSystemEntries(root).Select(Path.GetFileName));   // no temporary folder left behind

        // Another layout version (same length, patched in the header).
        string header = Encoding.UTF8.GetString(original, 8, 4096);
        int at = header.IndexOf("\"layout_version\":\"1\"", StringComparison.Ordinal);
        Assert.True(at > 0);
        var patched = (byte[])original.Clone();
        patched[8 + at + "\"layout_version\":\"".Length] = (byte)'7';
        File.WriteAllBytes(model, patched);
        e = Assert.Throws<CheckpointException>(() => RecurrentGemmaModel.Load(dir, new ModelLoadOptions()));
        Assert.Contains("packed with layout version 7; this build reads version 1", e.Message);

        // A config that does not match the packed matrices, larger or smaller (a tensor too big would be garbage too).
        File.WriteAllBytes(model, original);
        string config = Path.Combine(dir, "config.json");
        string originalConfig = File.ReadAllText(config);
        foreach (string size in new[] { "1600", "1472" })
        {
            File.WriteAllText(config, originalConfig.Replace("\"intermediate_size\": 1536", $"\"intermediate_size\": {size}"));
            Assert.Contains($"\"intermediate_size\": {size}", File.ReadAllText(config));
            e = Assert.Throws<CheckpointException>(() => RecurrentGemmaModel.Load(dir, new ModelLoadOptions()));
            Assert.Contains("packed tensor 'model.layers.0.mlp_block.gate_proj.weight+model.layers.0.mlp_block.up_proj.weight@q8'", e.Message);
        }
    }

    [Fact]
    public void Cli_converts_and_info_reads_headers_only()
    {
        string dir = Path.Combine(TestData.NewTempDirectory(), "q4");
        var (code, stdout, stderr) = CliRunner.Run("convert", "--model", TestData.DemoModel, "--weights", "q4", "--out", dir);
        Assert.True(code == 0, stderr);
        Assert.Contains($"wrote {dir}: q4", stdout);
        (code, stdout, stderr) = CliRunner.Run("info", "--model", dir);
        Assert.True(code == 0, stderr);
        Assert.Contains("(packed q4, layout version 1: loads in place)", stdout);
        Assert.Contains($"weights      q4 {ModelWeights.PackedBytes(ModelConfigJson.Load(Path.Combine(dir, "config.json")), WeightFormat.Q4) / 1e6:F1} MB resident", stdout);
        (code, _, stderr) = CliRunner.Run("generate", "ROMEO:", "--model", dir, "--max-tokens", "4", "--weights", "q8");
        Assert.Equal(1, code);
        Assert.Contains("is a packed q4 model", stderr);
        (code, _, stderr) = CliRunner.Run("convert", "--model", Path.Combine(dir, "missing"), "--out", dir + "y");
        Assert.Equal(1, code);
        Assert.Contains("does not exist", stderr);
        Assert.False(Directory.Exists(dir + "y"));
        (code, _, stderr) = CliRunner.Run("convert", "--model", TestData.DemoModel);
        Assert.Equal(2, code);
        Assert.Contains("--out", stderr);
        (code, _, stderr) = CliRunner.Run("convert", "--model", "random:2b", "--out", dir + "x");
        Assert.Equal(2, code);
        Assert.Contains("convert reads a checkpoint directory", stderr);
    }
}

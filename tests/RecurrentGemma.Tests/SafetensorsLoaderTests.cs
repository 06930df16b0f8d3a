using System.Buffers.Binary;
using System.Text;
using FsCheck.Xunit;
using RecurrentGemma.Core;
using RecurrentGemma.Core.Checkpoint;
using RecurrentGemma.Core.Model;
using RecurrentGemma.Tests.Support;
using Xunit;

namespace RecurrentGemma.Tests;

/// <summary>Every way a checkpoint can be broken gives a CheckpointException whose message says what and where.</summary>
public class SafetensorsLoaderTests
{
    static string WriteRaw(string header, byte[] data, ulong? declaredLength = null)
    {
        string path = Path.Combine(TestData.NewTempDirectory(), "x.safetensors");
        var h = Encoding.UTF8.GetBytes(header);
        var bytes = new byte[8 + h.Length + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, declaredLength ?? (ulong)h.Length);
        h.CopyTo(bytes, 8);
        data.CopyTo(bytes, 8 + h.Length);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    static CheckpointException OpenFails(string path) => Assert.Throws<CheckpointException>(() => SafetensorsFile.Open(path).Dispose());

    [Fact]
    public void A_valid_file_round_trips_through_the_writer()
    {
        string path = Path.Combine(TestData.NewTempDirectory(), "ok.safetensors");
        new SafetensorsWriter().Add("a", new float[] { 1, 2, 3, 4, 5, 6 }, 2, 3).Add("b", new long[] { 7 }, 1).Write(path);
        using var file = SafetensorsFile.Open(path);
        Assert.Equal([2L, 3L], file.Tensors["a"].Shape);
        Assert.Equal(SafetensorsDType.I64, file.Tensors["b"].DType);
        Assert.Equal(3f, BitConverter.ToSingle(file.Bytes(file.Tensors["a"]).Slice(8, 4)));
        Assert.Empty(Directory.GetFiles(Path.GetDirectoryName(path)!, "*.tmp"));
    }

    [Fact]
    public void Empty_and_tiny_files_are_refused() =>
        Assert.Contains("8-byte header length", OpenFails(WriteTiny(3)).Message);

    static string WriteTiny(int n)
    {
        string path = Path.Combine(TestData.NewTempDirectory(), "tiny.safetensors");
        File.WriteAllBytes(path, new byte[n]);
        return path;
    }

    [Fact]
    public void Header_length_past_end_of_file() =>
        Assert.Contains("runs past the end of the file", OpenFails(WriteRaw("{}", [], declaredLength: 1_000_000)).Message);

    [Fact]
    public void Header_length_over_the_limit()
    {
        string path = Path.Combine(TestData.NewTempDirectory(), "huge.safetensors");
        using (var f = File.Create(path))
        {
            var prefix = new byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(prefix, (ulong)SafetensorsHeader.MaxHeaderBytes + 1);
            f.Write(prefix);
            f.SetLength(SafetensorsHeader.MaxHeaderBytes + 64);   // sparse: no real disk use
        }
        Assert.Contains("exceeds the", OpenFails(path).Message);
    }

    [Fact]
    public void Truncated_data_section()
    {
        string path = WriteRaw("""{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}""", new byte[10]);
        var e = OpenFails(path);
        Assert.Contains("'w'", e.Message);
        Assert.Contains("runs past the end of the data section", e.Message);
    }

    [Theory]
    [InlineData("{not json", "not valid JSON")]
    [InlineData("[1,2]", "must be a JSON object")]
    [InlineData("""{"w":{"dtype":"X99","shape":[1],"data_offsets":[0,4]}}""", "unknown dtype \"X99\"")]
    [InlineData("""{"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,16]}}""", "needs 24 bytes but data_offsets [0, 16] hold 16")]
    [InlineData("""{"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}""", "shape[0] = -1 is not a non-negative integer")]
    [InlineData("""{"w":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}}""", "has begin after end")]
    [InlineData("""{"w":{"dtype":"F32","shape":[1]}}""", "missing or non-array \"data_offsets\"")]
    [InlineData("""{"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}}""", "is too large")]
    [InlineData("""{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}""", "overlap")]
    [InlineData("""{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}""", "appears twice")]
    [InlineData("""{"\uD800":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}""", "unreadable text")]
    public void Malformed_headers_are_refused_with_specific_errors(string header, string expected) =>
        Assert.Contains(expected, OpenFails(WriteRaw(header, new byte[16])).Message);

    [Fact]
    public void Missing_tensor_names_tensor_and_expected_shape()
    {
        string dir = new RandomModelSpec().Write();
        RewriteWithout(dir, "model.layers.1.temporal_block.o_proj.bias");
        var e = Assert.Throws<CheckpointException>(() => RecurrentGemmaModel.Load(dir));
        Assert.Contains("tensor 'model.layers.1.temporal_block.o_proj.bias' is missing (expected shape [32])", e.Message);
    }

    [Fact]
    public void Wrong_shape_names_both_shapes()
    {
        var spec = new RandomModelSpec();
        string dir = spec.Write();
        (spec with { LruWidth = 32 }).WriteConfig(dir);     // config now disagrees with the weights
        var e = Assert.Throws<CheckpointException>(() => RecurrentGemmaModel.Load(dir));
        Assert.Contains("tensor 'model.layers.0.temporal_block.conv_1d.weight' has shape [48, 1, 3], expected [32, 1, 3]", e.Message);
    }

    [Fact]
    public void Untied_config_without_lm_head_is_refused()
    {
        var spec = new RandomModelSpec();
        string dir = spec.Write();
        spec.WriteConfig(dir, json => json.WriteBoolean("tie_word_embeddings", false));
        // WriteConfig writes tie_word_embeddings twice; JsonDocument keeps the last, i.e. false.
        var e = Assert.Throws<CheckpointException>(() => RecurrentGemmaModel.Load(dir));
        Assert.Contains("lm_head.weight", e.Message);
    }

    [Fact]
    public void Integer_weights_are_refused()
    {
        var spec = new RandomModelSpec();
        string dir = spec.Write();
        RewriteCheckpoint(dir, (name, t) => name == "model.final_norm.weight" ? SafetensorsDType.I16 : t.DType);
        var e = Assert.Throws<CheckpointException>(() => RecurrentGemmaModel.Load(dir));
        Assert.Contains("'model.final_norm.weight' has dtype I16", e.Message);
    }

    [Fact]
    public void Missing_directory_and_missing_weights_are_reported()
    {
        Assert.Contains("does not exist", Assert.Throws<CheckpointException>(() => RecurrentGemmaModel.Load("/nonexistent/model")).Message);
        string dir = TestData.NewTempDirectory();
        new RandomModelSpec().WriteConfig(dir);
        Assert.Contains("no model.safetensors", Assert.Throws<CheckpointException>(() => RecurrentGemmaModel.Load(dir)).Message);
    }

    [Fact]
    public void Sharded_index_errors_name_the_shard()
    {
        string dir = CopyGolden("tiny-a-sharded");
        File.Delete(Path.Combine(dir, "model-00002-of-00002.safetensors"));
        Assert.Contains("shard model-00002-of-00002.safetensors", Assert.Throws<CheckpointException>(() => RecurrentGemmaModel.Load(dir)).Message);

        dir = CopyGolden("tiny-a-sharded");
        string index = Path.Combine(dir, Checkpoint.IndexFileName);
        File.WriteAllText(index, File.ReadAllText(index).Replace("\"model.final_norm.weight\": \"model-", "\"model.final_norm.weight\": \"../model-"));
        Assert.Contains("expected a shard file name", Assert.Throws<CheckpointException>(() => RecurrentGemmaModel.Load(dir)).Message);

        dir = CopyGolden("tiny-a-sharded");
        File.WriteAllText(Path.Combine(dir, Checkpoint.IndexFileName), "{\"weight_map\": 3}");
        Assert.Contains("weight_map", Assert.Throws<CheckpointException>(() => RecurrentGemmaModel.Load(dir)).Message);
    }

    [Fact]
    public void Index_pointing_at_the_wrong_shard_is_refused()
    {
        string dir = CopyGolden("tiny-a-sharded");
        string index = Path.Combine(dir, Checkpoint.IndexFileName);
        string text = File.ReadAllText(index);
        Assert.Contains("\"model.embed_tokens.weight\": \"model-00001-of-00002.safetensors\"", text);
        File.WriteAllText(index, text.Replace("\"model.embed_tokens.weight\": \"model-00001-of-00002.safetensors\"", "\"model.embed_tokens.weight\": \"model-00002-of-00002.safetensors\""));
        Assert.Contains("has no such tensor", Assert.Throws<CheckpointException>(() => RecurrentGemmaModel.Load(dir)).Message);
    }

    static readonly byte[] ValidModel = File.ReadAllBytes(Path.Combine(TestData.Golden("tiny-a"), "model.safetensors"));
    static readonly int HeaderEnd = 8 + (int)BinaryPrimitives.ReadUInt64LittleEndian(ValidModel);

    /// <summary>Random corruption (mostly in the header, where it matters) either loads or fails with the loader's exception, never anything else.</summary>
    [Property(MaxTest = 200)]
    public void Random_corruption_never_escapes_as_anything_but_a_loader_error(int seed, byte flips, bool truncate)
    {
        var rng = new Random(seed);
        var bytes = (byte[])ValidModel.Clone();
        int n = 1 + flips % 8;
        for (int i = 0; i < n; i++)
        {
            int at = rng.Next(4) == 0 ? rng.Next(bytes.Length) : rng.Next(Math.Min(HeaderEnd + 64, bytes.Length));
            bytes[at] = (byte)rng.Next(256);
        }
        if (truncate) Array.Resize(ref bytes, rng.Next(bytes.Length));
        string dir = TestData.NewTempDirectory();
        File.Copy(Path.Combine(TestData.Golden("tiny-a"), "config.json"), Path.Combine(dir, "config.json"));
        File.WriteAllBytes(Path.Combine(dir, "model.safetensors"), bytes);
        try
        {
            using var model = RecurrentGemmaModel.Load(dir);
            var logits = new float[model.Config.VocabSize];
            model.CreateForwardPass().Run([new BatchEntry(model.CreateState(), new[] { 2, 5, 7 })], logits);
        }
        catch (CheckpointException e)
        {
            Assert.False(string.IsNullOrWhiteSpace(e.Message));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    static string CopyGolden(string name)
    {
        string dir = TestData.NewTempDirectory();
        foreach (var f in Directory.GetFiles(TestData.Golden(name))) File.Copy(f, Path.Combine(dir, Path.GetFileName(f)));
        return dir;
    }

    static void RewriteWithout(string dir, string dropped) =>
        RewriteCheckpoint(dir, (name, t) => name == dropped ? null : t.DType);

    /// <summary>Rewrites model.safetensors tensor by tensor: <paramref name="dtypeFor"/> relabels a tensor's dtype, or drops it (null).</summary>
    static void RewriteCheckpoint(string dir, Func<string, SafetensorsTensor, SafetensorsDType?> dtypeFor)
    {
        string path = Path.Combine(dir, "model.safetensors");
        var writer = new SafetensorsWriter();
        using (var original = SafetensorsFile.Open(path))
            foreach (var (name, t) in original.Tensors)
                if (dtypeFor(name, t) is { } dtype) writer.Add(name, dtype, t.Shape, original.Bytes(t).ToArray());
        writer.Write(path);
    }
}

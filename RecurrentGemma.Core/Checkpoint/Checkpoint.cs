using System.Text.Json;

namespace RecurrentGemma.Core.Checkpoint;

/// <summary>
/// The weights of a Hugging Face model directory: one model.safetensors, or shards listed by
/// model.safetensors.index.json (weight_map: tensor name -> shard file). Every file is opened and validated up front.
/// </summary>
public sealed class Checkpoint : IDisposable
{
    public const string SingleFileName = "model.safetensors";
    public const string IndexFileName = "model.safetensors.index.json";

    readonly List<SafetensorsFile> _files;
    readonly Dictionary<string, SafetensorsFile> _owner;

    public string Directory { get; }
    public IReadOnlyList<SafetensorsFile> Files => _files;

    Checkpoint(string directory, List<SafetensorsFile> files, Dictionary<string, SafetensorsFile> owner)
    {
        Directory = directory;
        _files = files;
        _owner = owner;
    }

    public static Checkpoint Open(string directory)
    {
        if (!System.IO.Directory.Exists(directory)) throw new CheckpointException($"model directory {directory} does not exist");
        string index = Path.Combine(directory, IndexFileName);
        if (File.Exists(index)) return OpenSharded(directory, index);
        string single = Path.Combine(directory, SingleFileName);
        if (!File.Exists(single))
            throw new CheckpointException($"{directory}: no {SingleFileName} or {IndexFileName} (expected a Hugging Face checkpoint directory)");
        var file = SafetensorsFile.Open(single);
        var owner = new Dictionary<string, SafetensorsFile>(StringComparer.Ordinal);
        foreach (var name in file.Tensors.Keys) owner[name] = file;
        return new Checkpoint(directory, [file], owner);
    }

    static Checkpoint OpenSharded(string directory, string indexPath)
    {
        var weightMap = ReadWeightMap(indexPath);
        var files = new List<SafetensorsFile>();
        var byShard = new Dictionary<string, SafetensorsFile>(StringComparer.Ordinal);
        var owner = new Dictionary<string, SafetensorsFile>(StringComparer.Ordinal);
        try
        {
            foreach (var (tensor, shard) in weightMap)
            {
                if (!byShard.TryGetValue(shard, out var file))
                {
                    string shardPath = Path.Combine(directory, shard);
                    if (!File.Exists(shardPath)) throw new CheckpointException($"{indexPath}: shard {shard} (holding '{tensor}') does not exist");
                    file = SafetensorsFile.Open(shardPath);
                    files.Add(file);
                    byShard[shard] = file;
                }
                if (!file.Tensors.ContainsKey(tensor))
                    throw new CheckpointException($"{indexPath}: weight_map puts '{tensor}' in {shard}, but that shard has no such tensor");
                owner[tensor] = file;
            }
        }
        catch
        {
            foreach (var f in files) f.Dispose();
            throw;
        }
        return new Checkpoint(directory, files, owner);
    }

    static List<(string Tensor, string Shard)> ReadWeightMap(string indexPath)
    {
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(indexPath));
            if (doc.RootElement.ValueKind != JsonValueKind.Object || !doc.RootElement.TryGetProperty("weight_map", out var map) || map.ValueKind != JsonValueKind.Object)
                throw new CheckpointException($"{indexPath}: expected an object with a \"weight_map\" object");
            var entries = new List<(string, string)>();
            foreach (var p in map.EnumerateObject())
            {
                string? shard = p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString() : null;
                if (string.IsNullOrEmpty(shard) || Path.GetFileName(shard) != shard)
                    throw new CheckpointException($"{indexPath}: weight_map['{p.Name}'] = {p.Value.GetRawText()}; expected a shard file name in the same directory");
                entries.Add((p.Name, shard));
            }
            return entries;
        }
        catch (JsonException e)
        {
            throw new CheckpointException($"{indexPath}: not valid JSON ({e.Message})", e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CheckpointException($"{indexPath}: cannot read: {e.Message}", e);
        }
    }

    public bool Contains(string name) => _owner.ContainsKey(name);

    public bool TryGet(string name, out SafetensorsFile file, out SafetensorsTensor tensor)
    {
        if (_owner.TryGetValue(name, out var f))
        {
            file = f;
            tensor = f.Tensors[name];
            return true;
        }
        file = null!;
        tensor = null!;
        return false;
    }

    public void Dispose()
    {
        foreach (var f in _files) f.Dispose();
    }
}

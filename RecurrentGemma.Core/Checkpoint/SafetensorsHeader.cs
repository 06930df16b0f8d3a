using System.Text.Json;

namespace RecurrentGemma.Core.Checkpoint;

/// <summary>
/// Parses and validates a safetensors JSON header against the file's size before any tensor byte is touched:
/// known dtypes, non-negative shapes, shape x element size == byte range, ranges inside the data section, no overlaps.
/// </summary>
public static class SafetensorsHeader
{
    /// <summary>Headers above this are refused: real checkpoints stay under a few hundred KB, and a corrupt length must not allocate gigabytes.</summary>
    public const long MaxHeaderBytes = 100L * 1024 * 1024;

    public static Dictionary<string, SafetensorsTensor> Parse(ReadOnlySpan<byte> json, long dataStart, long fileLength, string file) =>
        Parse(json, dataStart, fileLength, file, out _);

    /// <summary>As <see cref="Parse(ReadOnlySpan{byte}, long, long, string)"/>, also returning the <c>__metadata__</c> string map (empty if none).</summary>
    public static Dictionary<string, SafetensorsTensor> Parse(ReadOnlySpan<byte> json, long dataStart, long fileLength, string file,
        out Dictionary<string, string> metadata)
    {
        JsonDocument doc;
        try { doc = JsonDocument.Parse(json.ToArray()); }
        catch (JsonException e)
        {
            throw new CheckpointException($"{file}: the safetensors header is not valid JSON ({e.Message})", e);
        }
        using (doc)
        {
            try
            {
                metadata = ParseMetadata(doc.RootElement, file);
                return ParseRoot(doc.RootElement, dataStart, fileLength, file);
            }
            catch (Exception e) when (e is InvalidOperationException or ArgumentException or FormatException)
            {
                // e.g. a string with an unpaired surrogate escape: valid JSON, invalid text.
                throw new CheckpointException($"{file}: the safetensors header has unreadable text ({e.Message})", e);
            }
        }
    }

    static Dictionary<string, string> ParseMetadata(JsonElement root, string file)
    {
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("__metadata__", out var m)) return metadata;
        if (m.ValueKind != JsonValueKind.Object) throw new CheckpointException($"{file}: __metadata__ must be an object of strings, found {m.ValueKind}");
        foreach (var entry in m.EnumerateObject())
        {
            if (entry.Value.ValueKind != JsonValueKind.String)
                throw new CheckpointException($"{file}: __metadata__ entry '{entry.Name}' must be a string, found {entry.Value.ValueKind}");
            metadata[entry.Name] = entry.Value.GetString()!;
        }
        return metadata;
    }

    static Dictionary<string, SafetensorsTensor> ParseRoot(JsonElement root, long dataStart, long fileLength, string file)
    {
        if (root.ValueKind != JsonValueKind.Object)
            throw new CheckpointException($"{file}: the safetensors header must be a JSON object, found {root.ValueKind}");
        long dataLength = fileLength - dataStart;
        var tensors = new Dictionary<string, SafetensorsTensor>(StringComparer.Ordinal);
        foreach (var property in root.EnumerateObject())
        {
            if (property.Name == "__metadata__") continue;
            if (tensors.ContainsKey(property.Name)) throw new CheckpointException($"{file}: tensor '{property.Name}' appears twice in the header");
            tensors.Add(property.Name, ParseTensor(property.Name, property.Value, dataStart, dataLength, file));
        }
        CheckNoOverlap(tensors.Values, file);
        return tensors;
    }

    static SafetensorsTensor ParseTensor(string name, JsonElement entry, long dataStart, long dataLength, string file)
    {
        string where = $"{file}: tensor '{name}'";
        if (entry.ValueKind != JsonValueKind.Object) throw new CheckpointException($"{where}: header entry must be an object with dtype, shape and data_offsets");
        if (!entry.TryGetProperty("dtype", out var dtypeElement) || dtypeElement.ValueKind != JsonValueKind.String)
            throw new CheckpointException($"{where}: missing or non-string \"dtype\"");
        string dtypeName = dtypeElement.GetString()!;
        if (!SafetensorsDTypes.TryParse(dtypeName, out var dtype))
            throw new CheckpointException($"{where}: unknown dtype \"{dtypeName}\"; expected one of BF16, F16, F32, F64, I64, I32, I16, I8, U8, BOOL, ...");

        long[] shape = ReadIntegers(entry, "shape", where);
        long[] offsets = ReadIntegers(entry, "data_offsets", where);
        if (offsets.Length != 2) throw new CheckpointException($"{where}: data_offsets must be [begin, end], found {offsets.Length} numbers");
        long begin = offsets[0], end = offsets[1];
        if (begin > end) throw new CheckpointException($"{where}: data_offsets [{begin}, {end}] has begin after end");
        if (end > dataLength)
            throw new CheckpointException($"{where}: data_offsets [{begin}, {end}] runs past the end of the data section ({dataLength} bytes; the file is truncated or the header is wrong)");

        long expected;
        try
        {
            expected = dtype.ElementSize();
            foreach (long d in shape) expected = checked(expected * d);
        }
        catch (OverflowException)
        {
            throw new CheckpointException($"{where}: shape {SafetensorsTensor.FormatShape(shape)} is too large");
        }
        if (expected != end - begin)
            throw new CheckpointException($"{where}: shape {SafetensorsTensor.FormatShape(shape)} of {dtype.Name()} needs {expected} bytes but data_offsets [{begin}, {end}] hold {end - begin}");
        return new SafetensorsTensor(name, dtype, shape, dataStart + begin, end - begin);
    }

    static long[] ReadIntegers(JsonElement entry, string key, string where)
    {
        if (!entry.TryGetProperty(key, out var array) || array.ValueKind != JsonValueKind.Array)
            throw new CheckpointException($"{where}: missing or non-array \"{key}\"");
        var values = new long[array.GetArrayLength()];
        int i = 0;
        foreach (var item in array.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.Number || !item.TryGetInt64(out long v) || v < 0)
                throw new CheckpointException($"{where}: {key}[{i}] = {item.GetRawText()} is not a non-negative integer");
            values[i++] = v;
        }
        return values;
    }

    static void CheckNoOverlap(IEnumerable<SafetensorsTensor> tensors, string file)
    {
        var sorted = tensors.Where(t => t.ByteLength > 0).OrderBy(t => t.Offset).ToArray();
        for (int i = 1; i < sorted.Length; i++)
        {
            var previous = sorted[i - 1];
            if (sorted[i].Offset < previous.Offset + previous.ByteLength)
                throw new CheckpointException($"{file}: tensors '{previous.Name}' and '{sorted[i].Name}' overlap in the data section");
        }
    }
}

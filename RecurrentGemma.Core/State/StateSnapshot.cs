using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using RecurrentGemma.Core.Config;
using RecurrentGemma.Core.IO;

namespace RecurrentGemma.Core.State;

/// <summary>What a snapshot holds beyond the state arrays: the tokens so far (penalties need them) and the last logits.</summary>
public sealed record SnapshotExtras(int[] History, float[]? Logits);

/// <summary>
/// A conversation's complete state in a file: the model shape it belongs to, the position, the token history, the last
/// logits (so generation resumes without re-feeding anything) and every state array, bit for bit; a SHA-256 of all of
/// it at the end. Written atomically. Little-endian; version 1:
/// <c>"RGSTATE\0" | u32 version | i32 len + UTF-8 shape | i32 position | i32 n + i32[n] history | i32 v + f32[v] logits
/// (v = 0: none) | f32 arrays in <see cref="SequenceState"/> order | 32-byte SHA-256</c>.
/// </summary>
public static class StateSnapshot
{
    static readonly byte[] Magic = "RGSTATE\0"u8.ToArray();
    const uint Version = 1;

    /// <summary>The config fields that decide the state's layout; a snapshot only loads into the same shape.</summary>
    public static string Shape(ModelConfig c) =>
        $"hidden={c.HiddenSize} lru={c.LruWidth} heads={c.NumHeads} kv_heads={c.NumKvHeads} mlp={c.MlpWidth} layers={c.NumLayers} " +
        $"pattern={string.Join(",", c.BlockPattern).ToLowerInvariant()} window={c.AttentionWindow} conv={c.ConvWidth} vocab={c.VocabSize}";

    public static void Save(string path, SequenceState state, ReadOnlySpan<int> history, ReadOnlySpan<float> logits)
    {
        byte[] bytes = Serialize(state, history, logits);
        AtomicFile.Write(path, stream => stream.Write(bytes));
    }

    /// <summary>The snapshot as bytes (what <see cref="Save"/> writes), for callers that keep it in memory or their own storage.</summary>
    public static byte[] Serialize(SequenceState state, ReadOnlySpan<int> history, ReadOnlySpan<float> logits)
    {
        var body = new MemoryStream();
        var w = new BinaryWriter(body);
        w.Write(Magic);
        w.Write(Version);
        byte[] shape = Encoding.UTF8.GetBytes(Shape(state.Config));
        w.Write(shape.Length);
        w.Write(shape);
        w.Write(state.Position);
        w.Write(history.Length);
        w.Write(MemoryMarshal.AsBytes(history));
        w.Write(logits.Length);
        w.Write(MemoryMarshal.AsBytes(logits));
        foreach (var array in state.Arrays()) w.Write(MemoryMarshal.AsBytes(array.AsSpan()));
        w.Flush();
        w.Write(Sha256.Hash(body.GetBuffer().AsSpan(0, (int)body.Length)));
        return body.ToArray();
    }

    /// <summary>Restores <paramref name="into"/> from the file; refuses other versions, other model shapes, and any damage.</summary>
    public static SnapshotExtras Load(string path, SequenceState into)
    {
        if (!File.Exists(path)) throw new SnapshotException($"snapshot {path} does not exist");
        return Deserialize(File.ReadAllBytes(path), path, into);
    }

    /// <summary>Restores <paramref name="into"/> from snapshot bytes; <paramref name="source"/> names them in errors.</summary>
    public static SnapshotExtras Deserialize(ReadOnlySpan<byte> bytes, string source, SequenceState into)
    {
        string path = source;
        if (bytes.Length < Magic.Length + 4 + 32 || !bytes[..Magic.Length].SequenceEqual(Magic))
            throw new SnapshotException($"{path}: not a RecurrentGemma state snapshot");
        var body = bytes[..^32];
        if (!Sha256.Hash(body).AsSpan().SequenceEqual(bytes[^32..]))
            throw new SnapshotException($"{path}: checksum mismatch (the file is truncated or corrupt)");
        var r = new Reader(body, path, Magic.Length);
        uint version = r.UInt32();
        if (version != Version) throw new SnapshotException($"{path}: snapshot version {version}; this build reads version {Version}");
        string shape = Encoding.UTF8.GetString(r.Bytes(r.Count("shape", 4096)));
        string expected = Shape(into.Config);
        if (shape != expected) throw new SnapshotException($"{path}: saved for a model of shape [{shape}], but this model is [{expected}]");
        int position = r.Int32();
        if (position < 0) throw new SnapshotException($"{path}: negative position {position}");
        int[] history = MemoryMarshal.Cast<byte, int>(r.Bytes(r.Count("history", Math.Min(position, int.MaxValue / 4)) * 4)).ToArray();
        int vocab = into.Config.VocabSize;
        for (int i = 0; i < history.Length; i++)
            if ((uint)history[i] >= (uint)vocab) throw new SnapshotException($"{path}: history token {history[i]} at index {i} is outside the vocabulary [0, {vocab})");
        int logitCount = r.Count("logits", into.Config.VocabSize);
        if (logitCount != 0 && logitCount != into.Config.VocabSize) throw new SnapshotException($"{path}: {logitCount} logits for a vocabulary of {into.Config.VocabSize}");
        float[]? logits = logitCount == 0 ? null : MemoryMarshal.Cast<byte, float>(r.Bytes(logitCount * 4)).ToArray();
        if (logits is not null) RequireFinite(logits, "logits", path);
        var staged = new SequenceState(into.Config);
        foreach (var array in staged.Arrays())
        {
            MemoryMarshal.Cast<byte, float>(r.Bytes(array.Length * 4)).CopyTo(array);
            RequireFinite(array, "state", path);
        }
        if (!r.AtEnd) throw new SnapshotException($"{path}: {r.Remaining} unexpected bytes after the state");
        staged.Position = position;
        into.CopyFrom(staged);
        return new SnapshotExtras(history, logits);
    }

    /// <summary>The engine never writes NaN or infinity into a state or its logits; a snapshot that has one is damaged.</summary>
    static void RequireFinite(ReadOnlySpan<float> values, string what, string path)
    {
        for (int i = 0; i < values.Length; i++)
            if (!float.IsFinite(values[i])) throw new SnapshotException($"{path}: {what} value {values[i]} at index {i}; a snapshot holds finite numbers only");
    }

    ref struct Reader(ReadOnlySpan<byte> data, string path, int offset)
    {
        readonly ReadOnlySpan<byte> _data = data;
        int _at = offset;

        public readonly bool AtEnd => _at == _data.Length;
        public readonly int Remaining => _data.Length - _at;

        public ReadOnlySpan<byte> Bytes(int n)
        {
            if (n < 0 || n > _data.Length - _at) throw new SnapshotException($"{path}: truncated (needs {n} more bytes at offset {_at})");
            var s = _data.Slice(_at, n);
            _at += n;
            return s;
        }

        public uint UInt32() => BinaryPrimitives.ReadUInt32LittleEndian(Bytes(4));
        public int Int32() => BinaryPrimitives.ReadInt32LittleEndian(Bytes(4));

        public int Count(string what, int max)
        {
            int n = Int32();
            if (n < 0 || n > max) throw new SnapshotException($"{path}: {what} count {n} is out of range [0, {max}]");
            return n;
        }
    }
}

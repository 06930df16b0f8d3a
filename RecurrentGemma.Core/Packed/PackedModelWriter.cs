using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text.Json;
using RecurrentGemma.Core.Checkpoint;
using RecurrentGemma.Core.Model;

namespace RecurrentGemma.Core.Packed;

/// <summary>
/// Writes a packed model folder: config.json and tokenizer.model copied, and one model.safetensors whose matrices are
/// the kernels' packed bytes (page-aligned, streamed straight from memory) followed by the f32 vectors. The folder is
/// built under a temporary name beside the target and renamed into place at the end, so a failed or interrupted
/// conversion leaves nothing half-written, and an existing folder is never touched.
/// </summary>
internal static class PackedModelWriter
{
    /// <summary>
    /// Refuses an output folder that exists or whose parent does not; returns its full path. Checked before converting
    /// (to fail fast) and again before writing.
    /// </summary>
    public static string CheckTarget(string outDirectory)
    {
        string target = Path.GetFullPath(outDirectory);
        if (Directory.Exists(target) || File.Exists(target))
            throw new RecurrentGemmaException($"{outDirectory} already exists; give a new folder for the packed model (nothing is overwritten)");
        string? parent = Path.GetDirectoryName(target);
        if (parent is null || !Directory.Exists(parent)) throw new RecurrentGemmaException($"{outDirectory}: the folder {parent} to create it in does not exist");
        return target;
    }

    public static long Write(string outDirectory, string configPath, string? tokenizerPath, WeightFormat format, string source, IReadOnlyList<PackedEntry> entries)
    {
        string target = CheckTarget(outDirectory), parent = Path.GetDirectoryName(target)!;
        string temp = Path.Combine(parent, $".{Path.GetFileName(target)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        Directory.CreateDirectory(temp);
        try
        {
            File.Copy(configPath, Path.Combine(temp, "config.json"));
            if (tokenizerPath is not null) File.Copy(tokenizerPath, Path.Combine(temp, Tokenizer.GemmaTokenizer.FileName));
            long bytes = WriteSafetensors(Path.Combine(temp, Checkpoint.Checkpoint.SingleFileName), format, source, entries);
            Directory.Move(temp, target);
            return bytes;
        }
        catch
        {
            try { Directory.Delete(temp, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            throw;
        }
    }

    static long WriteSafetensors(string path, WeightFormat format, string source, IReadOnlyList<PackedEntry> entries)
    {
        // Matrices first (each a multiple of 64 bytes, so all stay aligned after the page-aligned start), vectors after.
        var ordered = entries.Where(e => e.Matrix is not null).Concat(entries.Where(e => e.Matrix is null)).ToList();
        var header = new MemoryStream();
        using (var json = new Utf8JsonWriter(header))
        {
            json.WriteStartObject();
            json.WriteStartObject("__metadata__");
            json.WriteString(PackedLayout.FormatKey, PackedLayout.FormatValue);
            json.WriteString(PackedLayout.VersionKey, PackedLayout.Version.ToString(System.Globalization.CultureInfo.InvariantCulture));
            json.WriteString(PackedLayout.WeightsKey, format.Name());
            json.WriteString("source", source);
            json.WriteEndObject();
            long offset = 0;
            foreach (var e in ordered)
            {
                long length = e.Matrix?.SizeInBytes ?? (long)e.Values!.Length * sizeof(float);
                json.WriteStartObject(e.Name);
                json.WriteString("dtype", e.Matrix is null ? "F32" : "U8");
                json.WriteStartArray("shape");
                foreach (long d in e.Shape) json.WriteNumberValue(d);
                json.WriteEndArray();
                json.WriteStartArray("data_offsets");
                json.WriteNumberValue(offset);
                json.WriteNumberValue(offset + length);
                json.WriteEndArray();
                json.WriteEndObject();
                offset += length;
            }
            json.WriteEndObject();
        }
        while ((8 + header.Length) % PackedLayout.DataAlignment != 0) header.WriteByte((byte)' ');   // JSON allows trailing spaces
        long total = 0;
        IO.AtomicFile.Write(path, stream =>
        {
            Span<byte> prefix = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(prefix, (ulong)header.Length);
            stream.Write(prefix);
            header.Position = 0;
            header.CopyTo(stream);
            foreach (var e in ordered)
            {
                if (e.Matrix is { } m) m.CopyTo(stream);
                else stream.Write(MemoryMarshal.AsBytes(e.Values.AsSpan()));
            }
            total = stream.Position;
        });
        return total;
    }
}

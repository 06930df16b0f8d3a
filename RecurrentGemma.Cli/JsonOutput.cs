using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace RecurrentGemma.Cli;

/// <summary>Writes one JSON object as a line of output (reflection-free, so NativeAOT-safe; non-ASCII left readable).</summary>
public static class JsonOutput
{
    public static void WriteLine(TextWriter output, Action<Utf8JsonWriter> write)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
            write(writer);
        output.WriteLine(Encoding.UTF8.GetString(buffer.ToArray()));
    }
}

using System.Text;
using System.Text.Json;
using RecurrentGemma.Core;
using RecurrentGemma.Core.Generation;
using RecurrentGemma.Core.Sampling;
using RecurrentGemma.Core.Serving;

namespace RecurrentGemma.Cli.Commands;

/// <summary>
/// rgemma generate --batch-file: every line of a JSONL file is a request, all submitted to one
/// <see cref="BatchScheduler"/> so they decode together. Output: one JSON line per input line, in input order, with the
/// generated "ids", "text" (when there is a tokenizer) and "usage", or an "error" for that line alone.
/// Input fields: "prompt" (text) or "ids" (token ids, used as given), and optionally "chat", "max_tokens",
/// "temperature", "top_k", "top_p", "min_p", "repeat_penalty", "presence_penalty", "seed", "stop" (array).
/// </summary>
internal static class BatchFile
{
    public static string[] Read(string path)
    {
        if (!File.Exists(path)) throw new UsageException($"--batch-file: {path} does not exist");
        try { return File.ReadAllLines(path, new UTF8Encoding(false, throwOnInvalidBytes: true)); }
        catch (DecoderFallbackException) { throw new UsageException($"--batch-file: {path} is not valid UTF-8"); }
    }

    public static async Task<int> Run(TextGenerator generator, string[] lines, SamplingParameters defaults, bool chatDefault, TextWriter stdout, CancellationToken cancellation)
    {
        var scheduler = generator.Scheduler;   // shared with any sessions of this generator
        var handles = new (RequestHandle? Handle, string? Error)[lines.Length];
        for (int i = 0; i < lines.Length; i++)
        {
            if (string.IsNullOrWhiteSpace(lines[i])) { handles[i] = (null, "empty line"); continue; }
            try
            {
                var (ids, parameters) = Parse(lines[i], generator, defaults, chatDefault);
                handles[i] = (scheduler.Submit(ids, parameters, cancellation), null);
            }
            catch (Exception e) when (e is RecurrentGemmaException or JsonException or FormatException or InvalidOperationException)
            {
                handles[i] = (null, e.Message);
            }
        }
        int failed = 0;
        for (int i = 0; i < handles.Length; i++)
        {
            var (handle, error) = handles[i];
            if (handle is null)
            {
                failed++;
                JsonOutput.WriteLine(stdout, w => { w.WriteStartObject(); w.WriteNumber("line", i + 1); w.WriteString("error", error); w.WriteEndObject(); });
                continue;
            }
            var ids = new List<int>();
            var text = new StringBuilder();
            await foreach (var token in handle.Tokens(cancellation))
            {
                if (token.Id >= 0) ids.Add(token.Id);
                text.Append(token.Text);
            }
            var usage = await handle.Completion;
            JsonOutput.WriteLine(stdout, w =>
            {
                w.WriteStartObject();
                w.WriteNumber("line", i + 1);
                w.WriteStartArray("ids");
                foreach (int id in ids) w.WriteNumberValue(id);
                w.WriteEndArray();
                if (generator.Tokenizer is not null) w.WriteString("text", text.ToString());
                w.WriteStartObject("usage");
                w.WriteNumber("prompt_tokens", usage.PromptTokens);
                w.WriteNumber("generated_tokens", usage.GeneratedTokens);
                w.WriteString("stop_reason", usage.StopReason.ToString());
                w.WriteNumber("seconds", Math.Round(usage.PrefillSeconds + usage.DecodeSeconds, 4));
                w.WriteEndObject();
                w.WriteEndObject();
            });
        }
        return failed == lines.Length && lines.Length > 0 ? ExitCodes.Failure : 0;
    }

    static (int[] Ids, SamplingParameters Parameters) Parse(string line, TextGenerator generator, SamplingParameters defaults, bool chatDefault)
    {
        using var doc = JsonDocument.Parse(line);
        var r = doc.RootElement;
        if (r.ValueKind != JsonValueKind.Object) throw new FormatException("expected a JSON object");
        var p = defaults with
        {
            MaxTokens = Int(r, "max_tokens") ?? defaults.MaxTokens,
            Temperature = Float(r, "temperature") ?? defaults.Temperature,
            TopK = Int(r, "top_k") ?? defaults.TopK,
            TopP = Float(r, "top_p") ?? defaults.TopP,
            MinP = Float(r, "min_p") ?? defaults.MinP,
            // "temperature": 0 is exactly greedy, as --temperature 0 is: the default repetition penalty goes with it.
            RepetitionPenalty = Float(r, "repeat_penalty") ?? (Float(r, "temperature") == 0 ? 1f : defaults.RepetitionPenalty),
            PresencePenalty = Float(r, "presence_penalty") ?? defaults.PresencePenalty,
            Seed = r.TryGetProperty("seed", out var seed) ? seed.GetUInt64() : defaults.Seed,
            StopStrings = r.TryGetProperty("stop", out var stop) ? [.. stop.EnumerateArray().Select(e => e.GetString() ?? "")] : defaults.StopStrings,
        };
        if (p.MaxTokens > CountRange.Tokens.Max) throw new FormatException($"\"max_tokens\": {p.MaxTokens} must be in [0, {CountRange.Tokens.Max}]");
        if (p.TopK > CountRange.TopK.Max) throw new FormatException($"\"top_k\": {p.TopK} must be in [0, {CountRange.TopK.Max}]");
        try
        {
            p.Validate();
        }
        catch (SamplingParameterException e)
        {
            throw new FormatException($"\"{Field(e.Parameter)}\": {e.Problem}");   // the JSON field, not the command-line flag
        }
        int[] ids;
        if (r.TryGetProperty("ids", out var idArray))
            ids = [.. idArray.EnumerateArray().Select(e => e.GetInt32())];
        else if (r.TryGetProperty("prompt", out var prompt) && prompt.GetString() is { } text)
        {
            bool chat = r.TryGetProperty("chat", out var c) ? c.GetBoolean() : chatDefault;
            ids = generator.RequireTokenizer().Encode(chat ? ChatTemplate.Format([new ChatTurn(TurnRole.User, text)]) : text, addBos: true);
        }
        else throw new FormatException("a request needs \"prompt\" (text) or \"ids\" (token ids)");
        if (ids.Length > generator.MaxPromptTokens) throw new RecurrentGemmaException($"the prompt is {ids.Length} tokens; the limit is {generator.MaxPromptTokens}");
        return (ids, p);
    }

    /// <summary>The JSON field of a <see cref="SamplingParameters"/> property.</summary>
    static string Field(string parameter) => parameter switch
    {
        nameof(SamplingParameters.MaxTokens) => "max_tokens",
        nameof(SamplingParameters.Temperature) => "temperature",
        nameof(SamplingParameters.TopK) => "top_k",
        nameof(SamplingParameters.TopP) => "top_p",
        nameof(SamplingParameters.MinP) => "min_p",
        nameof(SamplingParameters.RepetitionPenalty) => "repeat_penalty",
        nameof(SamplingParameters.PresencePenalty) => "presence_penalty",
        nameof(SamplingParameters.Seed) => "seed",
        nameof(SamplingParameters.StopStrings) => "stop",
        _ => parameter,
    };

    static int? Int(JsonElement r, string name) => r.TryGetProperty(name, out var v) ? v.GetInt32() : null;
    static float? Float(JsonElement r, string name) => r.TryGetProperty(name, out var v) ? v.GetSingle() : null;
}

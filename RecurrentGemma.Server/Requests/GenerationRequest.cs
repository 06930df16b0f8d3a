using System.Security.Cryptography;
using System.Text.Json;
using RecurrentGemma.Core.Sampling;
using RecurrentGemma.Server.Api;

namespace RecurrentGemma.Server.Requests;

/// <summary>
/// A validated generation request: the prompt as ids (and the positions worth caching a state at), the sampling
/// parameters, how many choices, how to answer. Every field is checked against OpenAI's accepted range (or the server's
/// caps) and a refusal names the field, so no bad value reaches the engine.
/// </summary>
public sealed record GenerationRequest(int[] PromptIds, IReadOnlyList<int> Checkpoints, SamplingParameters Sampling, int Choices,
    bool Stream, bool IncludeUsage)
{
    /// <summary>The sampling fields both endpoints share, in OpenAI's ranges; the chat and completion readers add the rest.</summary>
    public static SamplingParameters ReadSampling(GenerationRequestBody body, ServerOptions options, int? maxTokens, string maxTokensField)
    {
        if (body.LogitBias is { ValueKind: not JsonValueKind.Null } bias && !(bias.ValueKind == JsonValueKind.Object && !bias.EnumerateObject().Any()))
            throw ApiException.BadField("logit_bias", "is not supported by this server");
        int max = maxTokens ?? options.MaxTokensCap;
        if (max < 1 || max > options.MaxTokensCap) throw ApiException.BadField(maxTokensField, $"{max} must be in [1, {options.MaxTokensCap}] (the server's --max-tokens-cap)");
        double temperature = Range(body.Temperature, 1.0, "temperature", 0, 2);
        double topP = body.TopP ?? 1.0;
        if (!(topP > 0 && topP <= 1)) throw ApiException.BadField("top_p", $"{topP} must be in (0, 1]");
        int topK = body.TopK ?? 0;
        if (topK < 0) throw ApiException.BadField("top_k", $"{topK} must be 0 (off) or more");
        double minP = body.MinP ?? 0;
        if (!(minP >= 0 && minP < 1)) throw ApiException.BadField("min_p", $"{minP} must be in [0, 1)");
        double repetition = body.RepetitionPenalty ?? 1;
        if (!(repetition > 0 && repetition <= 10)) throw ApiException.BadField("repetition_penalty", $"{repetition} must be in (0, 10] (1 = off)");
        return new SamplingParameters
        {
            MaxTokens = max,
            Temperature = (float)temperature,
            TopP = (float)topP,
            TopK = topK,
            MinP = (float)minP,
            RepetitionPenalty = (float)repetition,
            PresencePenalty = (float)Range(body.PresencePenalty, 0, "presence_penalty", -2, 2),
            FrequencyPenalty = (float)Range(body.FrequencyPenalty, 0, "frequency_penalty", -2, 2),
            // No seed: a fresh random one, as OpenAI samples differently each time; with one, the same tokens every time.
            Seed = body.Seed is { } seed ? unchecked((ulong)seed) : BitConverter.ToUInt64(RandomNumberGenerator.GetBytes(8)),
            StopStrings = ReadStop(body.Stop),
        };
    }

    public static int ReadChoices(GenerationRequestBody body, ServerOptions options)
    {
        int n = body.N ?? 1;
        int limit = Math.Min(ServerOptions.MaxChoices, options.MaxSequences);
        if (n < 1 || n > limit) throw ApiException.BadField("n", $"{n} must be in [1, {limit}]");
        return n;
    }

    static double Range(double? value, double fallback, string field, double min, double max)
    {
        double v = value ?? fallback;
        if (!(v >= min && v <= max)) throw ApiException.BadField(field, $"{v} must be in [{min}, {max}]");
        return v;
    }

    static string[] ReadStop(JsonElement? stop)
    {
        if (stop is not { } element || element.ValueKind == JsonValueKind.Null) return [];
        var stops = new List<string>();
        if (element.ValueKind == JsonValueKind.String) stops.Add(element.GetString()!);
        else if (element.ValueKind == JsonValueKind.Array)
            foreach (var item in element.EnumerateArray())
            {
                if (item.ValueKind != JsonValueKind.String) throw ApiException.BadField("stop", "must be a string or a list of strings");
                stops.Add(item.GetString()!);
            }
        else throw ApiException.BadField("stop", "must be a string or a list of strings");
        if (stops.Count > ServerOptions.MaxStopStrings) throw ApiException.BadField("stop", $"has {stops.Count} strings; at most {ServerOptions.MaxStopStrings}");
        if (stops.Any(s => s.Length == 0)) throw ApiException.BadField("stop", "a stop string must not be empty");
        return [.. stops];
    }
}

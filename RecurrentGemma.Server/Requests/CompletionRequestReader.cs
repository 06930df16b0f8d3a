using System.Text.Json;
using RecurrentGemma.Core.Tokenizer;
using RecurrentGemma.Server.Api;
using RecurrentGemma.Server.Generation;

namespace RecurrentGemma.Server.Requests;

/// <summary>/v1/completions' body → a <see cref="GenerationRequest"/>: a text prompt (encoded with &lt;bos&gt; first) or token ids as given.</summary>
public static class CompletionRequestReader
{
    public const int MaxLegacyLogprobs = 5;

    /// <summary>Validates the body, then tokenizes a text prompt through the gate (its length checked first: see <see cref="TokenizerGate"/>).</summary>
    public static async Task<GenerationRequest> ReadAsync(CompletionRequest body, ServerOptions options, TokenizerGate tokenizing, CancellationToken cancellation)
    {
        if (body.Echo == true) throw ApiException.BadField("echo", "is not supported by this server");
        if (!string.IsNullOrEmpty(body.Suffix)) throw ApiException.BadField("suffix", "is not supported by this server");
        var tokenizer = tokenizing.Tokenizer;
        int[] ids = ReadPrompt(body.Prompt, tokenizer) is { } given ? given
            : await EncodeAsync(PromptText(body.Prompt)!, tokenizing, cancellation).ConfigureAwait(false);
        if (ids.Length > options.MaxPromptTokens)
            throw new ApiException(400, $"prompt: has {ids.Length} tokens; this server accepts at most {options.MaxPromptTokens} (--max-prompt-tokens)", "prompt", "context_length_exceeded");
        int? logprobs = body.Logprobs;
        if (logprobs is < 0 or > MaxLegacyLogprobs) throw ApiException.BadField("logprobs", $"{logprobs} must be in [0, {MaxLegacyLogprobs}]");
        var sampling = GenerationRequest.ReadSampling(body, options, body.MaxTokens ?? Math.Min(16, options.MaxTokensCap), "max_tokens")
            with { Logprobs = logprobs is not null, TopLogprobs = logprobs ?? 0 };
        bool stream = body.Stream ?? false;
        return new GenerationRequest(ids, [ids.Length], sampling, GenerationRequest.ReadChoices(body, options), stream,
            stream && (body.StreamOptions?.IncludeUsage ?? false));
    }

    static async Task<int[]> EncodeAsync(string text, TokenizerGate tokenizing, CancellationToken cancellation)
    {
        tokenizing.CheckLength(text.Length, "prompt");
        return await tokenizing.RunAsync(() => tokenizing.Tokenizer.Encode(text, addBos: true), cancellation).ConfigureAwait(false);
    }

    /// <summary>The prompt's text when it is one ("text" or ["text"]); null when it is token ids.</summary>
    static string? PromptText(JsonElement? prompt) => prompt is { ValueKind: JsonValueKind.String } s ? s.GetString()
        : prompt is { ValueKind: JsonValueKind.Array } a && a.GetArrayLength() == 1 && a[0].ValueKind == JsonValueKind.String ? a[0].GetString()
        : null;

    /// <summary>Token ids given as such, checked; null when the prompt is text (validated non-empty, tokenized by the caller).</summary>
    static int[]? ReadPrompt(JsonElement? prompt, GemmaTokenizer tokenizer)
    {
        if (prompt is not { } p || p.ValueKind == JsonValueKind.Null) throw ApiException.BadField("prompt", "is required: a string or a list of token ids");
        if (PromptText(prompt) is { } text)
            return text.Length == 0 ? throw ApiException.BadField("prompt", "is empty") : null;
        if (p.ValueKind != JsonValueKind.Array) throw ApiException.BadField("prompt", "must be a string or a list of token ids");
        int n = p.GetArrayLength();
        if (n == 0) throw ApiException.BadField("prompt", "is empty");
        var ids = new int[n];
        for (int i = 0; i < n; i++)
        {
            var item = p[i];
            if (item.ValueKind != JsonValueKind.Number || !item.TryGetInt32(out ids[i]))
                throw ApiException.BadField($"prompt[{i}]", n > 1 && item.ValueKind == JsonValueKind.String
                    ? "a list of several prompts is not supported; send one prompt per request (use n for several choices)"
                    : "must be a token id (an integer)");
            if ((uint)ids[i] >= (uint)tokenizer.VocabularySize)
                throw ApiException.BadField($"prompt[{i}]", $"token id {ids[i]} is outside the vocabulary [0, {tokenizer.VocabularySize})");
        }
        return ids;
    }
}

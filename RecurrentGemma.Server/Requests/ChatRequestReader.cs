using System.Text;
using System.Text.Json;
using RecurrentGemma.Core;
using RecurrentGemma.Core.Generation;
using RecurrentGemma.Server.Generation;
using RecurrentGemma.Server.Api;

namespace RecurrentGemma.Server.Requests;

/// <summary>/v1/chat/completions' body → a <see cref="GenerationRequest"/> in the Gemma chat format (<see cref="ChatPrompt"/>).</summary>
public static class ChatRequestReader
{
    /// <summary>Validates the body, then tokenizes it through the gate (its length checked first: see <see cref="TokenizerGate"/>).</summary>
    public static async Task<GenerationRequest> ReadAsync(ChatCompletionRequest body, ServerOptions options, TokenizerGate tokenizing, CancellationToken cancellation)
    {
        if (body.Tools is { ValueKind: JsonValueKind.Array } tools && tools.GetArrayLength() > 0)
            throw ApiException.BadField("tools", "tool calling is not supported by this server");
        if (body.ResponseFormat is { ValueKind: JsonValueKind.Object } format
            && !(format.TryGetProperty("type", out var type) && type.ValueKind == JsonValueKind.String && type.GetString() == "text"))
            throw ApiException.BadField("response_format", "only {\"type\": \"text\"} is supported");
        var messages = ReadMessages(body.Messages);
        long characters = 0;
        foreach (var m in messages) characters += m.Content.Length;
        tokenizing.CheckLength(characters, "messages");
        ChatPrompt prompt;
        try
        {
            prompt = await tokenizing.RunAsync(() => ChatPrompt.Encode(tokenizing.Tokenizer, messages), cancellation).ConfigureAwait(false);
        }
        catch (RecurrentGemmaException e)
        {
            throw ApiException.BadField("messages", e.Message);
        }
        if (prompt.Ids.Length > options.MaxPromptTokens)
            throw new ApiException(400, $"messages: the prompt has {prompt.Ids.Length} tokens; this server accepts at most {options.MaxPromptTokens} (--max-prompt-tokens)", "messages", "context_length_exceeded");
        bool logprobs = body.Logprobs ?? false;
        int top = body.TopLogprobs ?? 0;
        if (top < 0 || top > ServerOptions.MaxTopLogprobs) throw ApiException.BadField("top_logprobs", $"{top} must be in [0, {ServerOptions.MaxTopLogprobs}]");
        if (top > 0 && !logprobs) throw ApiException.BadField("top_logprobs", "needs logprobs: true");
        var sampling = GenerationRequest.ReadSampling(body, options, body.MaxCompletionTokens ?? body.MaxTokens,
            body.MaxCompletionTokens is not null ? "max_completion_tokens" : "max_tokens") with { Logprobs = logprobs, TopLogprobs = top };
        bool stream = body.Stream ?? false;
        return new GenerationRequest(prompt.Ids, prompt.Checkpoints, sampling, GenerationRequest.ReadChoices(body, options),
            stream, stream && (body.StreamOptions?.IncludeUsage ?? false));
    }

    static List<ChatTurn> ReadMessages(List<ChatMessageBody?>? bodies)
    {
        if (bodies is null) throw ApiException.BadField("messages", "is required: a list of {role, content} objects");
        if (bodies.Count == 0) throw ApiException.BadField("messages", "is empty; a chat needs at least one user message");
        var messages = new List<ChatTurn>(bodies.Count);
        for (int i = 0; i < bodies.Count; i++)
        {
            var m = bodies[i] ?? throw ApiException.BadField($"messages[{i}]", "must be an object {role, content}");
            var role = m.Role switch
            {
                "user" => TurnRole.User,
                "assistant" => TurnRole.Model,
                "system" or "developer" => TurnRole.System,
                null => throw ApiException.BadField($"messages[{i}].role", "is required"),
                _ => throw ApiException.BadField($"messages[{i}].role", $"'{m.Role}' is not supported; use system, developer, user or assistant"),
            };
            messages.Add(new ChatTurn(role, ReadContent(m.Content, $"messages[{i}].content", role == TurnRole.Model)));
        }
        return messages;
    }

    /// <summary>A string, or a list of parts of which only text parts are supported.</summary>
    static string ReadContent(JsonElement? content, string field, bool mayBeNull)
    {
        if (content is not { } c || c.ValueKind == JsonValueKind.Null)
            return mayBeNull ? "" : throw ApiException.BadField(field, "is required");
        if (c.ValueKind == JsonValueKind.String) return c.GetString()!;
        if (c.ValueKind != JsonValueKind.Array) throw ApiException.BadField(field, "must be a string or a list of {type: text, text} parts");
        var text = new StringBuilder();
        int index = 0;
        foreach (var part in c.EnumerateArray())
        {
            if (part.ValueKind != JsonValueKind.Object || !part.TryGetProperty("type", out var type) || type.ValueKind != JsonValueKind.String)
                throw ApiException.BadField($"{field}[{index}]", "must be a {type, ...} object");
            if (type.GetString() != "text") throw ApiException.BadField($"{field}[{index}].type", $"'{type.GetString()}' parts are not supported; only text");
            if (!part.TryGetProperty("text", out var t) || t.ValueKind != JsonValueKind.String) throw ApiException.BadField($"{field}[{index}].text", "must be a string");
            text.Append(t.GetString());
            index++;
        }
        return text.ToString();
    }
}

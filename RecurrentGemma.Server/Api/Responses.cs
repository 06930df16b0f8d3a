using System.Text.Json.Serialization;

namespace RecurrentGemma.Server.Api;

// Response bodies in OpenAI's shapes. Null members are left out (ServerJsonContext), except where OpenAI writes an
// explicit null that clients look for (finish_reason while streaming, an error's param and code).

public sealed class ChatCompletion
{
    public required string Id { get; init; }
    public string Object => "chat.completion";
    public long Created { get; init; }
    public required string Model { get; init; }
    public required List<ChatChoice> Choices { get; init; }
    public required Usage Usage { get; init; }
}

public sealed class ChatChoice
{
    public int Index { get; init; }
    public required ChatMessageOut Message { get; init; }
    public ChatLogprobs? Logprobs { get; init; }
    public required string FinishReason { get; init; }
}

public sealed class ChatMessageOut
{
    public string Role => "assistant";
    public required string Content { get; init; }
}

public sealed class ChatLogprobs
{
    public required List<LogprobEntry> Content { get; init; }
}

public sealed class LogprobEntry
{
    public required string Token { get; init; }
    public float Logprob { get; init; }
    public required List<int> Bytes { get; init; }
    public List<TopLogprobEntry>? TopLogprobs { get; init; }
}

public sealed class TopLogprobEntry
{
    public required string Token { get; init; }
    public float Logprob { get; init; }
    public required List<int> Bytes { get; init; }
}

public sealed class Usage
{
    public int PromptTokens { get; init; }
    public int CompletionTokens { get; init; }
    public int TotalTokens => PromptTokens + CompletionTokens;
    public required PromptTokensDetails PromptTokensDetails { get; init; }
}

public sealed class PromptTokensDetails
{
    /// <summary>Prompt tokens whose state came from the conversation-state cache (not prefilled again).</summary>
    public int CachedTokens { get; init; }
}

public sealed class ChatCompletionChunk
{
    public required string Id { get; init; }
    public string Object => "chat.completion.chunk";
    public long Created { get; init; }
    public required string Model { get; init; }
    public required List<ChunkChoice> Choices { get; init; }
    public Usage? Usage { get; init; }
}

public sealed class ChunkChoice
{
    public int Index { get; init; }
    public required ChunkDelta Delta { get; init; }
    public ChatLogprobs? Logprobs { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.Never)]
    public string? FinishReason { get; init; }
}

public sealed class ChunkDelta
{
    public string? Role { get; init; }
    public string? Content { get; init; }
}

public sealed class TextCompletion
{
    public required string Id { get; init; }
    public string Object => "text_completion";
    public long Created { get; init; }
    public required string Model { get; init; }
    public required List<TextChoice> Choices { get; init; }
    public Usage? Usage { get; init; }
}

public sealed class TextChoice
{
    public required string Text { get; init; }
    public int Index { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.Never)]
    public TextLogprobs? Logprobs { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.Never)]
    public string? FinishReason { get; init; }
}

/// <summary>The legacy completions API's logprobs: parallel lists per generated token.</summary>
public sealed class TextLogprobs
{
    public required List<string> Tokens { get; init; }
    public required List<float> TokenLogprobs { get; init; }
    public required List<Dictionary<string, float>> TopLogprobs { get; init; }
    public required List<int> TextOffset { get; init; }
}

public sealed class ModelList
{
    public string Object => "list";
    public required List<ModelCard> Data { get; init; }
}

public sealed class ModelCard
{
    public required string Id { get; init; }
    public string Object => "model";
    public long Created { get; init; }
    public string OwnedBy => "rgemma";
}

public sealed class ErrorBody
{
    public required ErrorDetail Error { get; init; }
}

public sealed class ErrorDetail
{
    public required string Message { get; init; }
    public required string Type { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.Never)]
    public string? Param { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.Never)]
    public string? Code { get; init; }
}

public sealed class TokenizeResponse
{
    public required List<int> Tokens { get; init; }
    public List<string>? Pieces { get; init; }
}

public sealed class DetokenizeResponse
{
    public required string Content { get; init; }
}

public sealed class HealthResponse
{
    public required string Status { get; init; }
}

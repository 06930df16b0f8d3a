using System.Text.Json;

namespace RecurrentGemma.Server.Api;

// Request bodies in OpenAI's shapes (snake_case on the wire, see ServerJsonContext). Fields a client may send in more than
// one shape (stop: a string or a list; content: a string or parts; prompt: text or ids) are JsonElements, read by
// RequestReader. Unknown fields are ignored, as OpenAI's clients send fields of newer API versions.

/// <summary>The sampling and streaming fields /v1/chat/completions and /v1/completions share.</summary>
public abstract class GenerationRequestBody
{
    public string? Model { get; set; }
    public bool? Stream { get; set; }
    public StreamOptionsBody? StreamOptions { get; set; }
    public int? MaxTokens { get; set; }
    public double? Temperature { get; set; }
    public double? TopP { get; set; }
    public int? N { get; set; }
    public JsonElement? Stop { get; set; }
    public long? Seed { get; set; }
    public double? PresencePenalty { get; set; }
    public double? FrequencyPenalty { get; set; }
    public JsonElement? LogitBias { get; set; }
    // Extensions (llama-server's and vLLM's names).
    public int? TopK { get; set; }
    public double? MinP { get; set; }
    public double? RepetitionPenalty { get; set; }
}

public sealed class StreamOptionsBody
{
    public bool? IncludeUsage { get; set; }
}

public sealed class ChatCompletionRequest : GenerationRequestBody
{
    public List<ChatMessageBody?>? Messages { get; set; }
    public int? MaxCompletionTokens { get; set; }
    public bool? Logprobs { get; set; }
    public int? TopLogprobs { get; set; }
    public JsonElement? Tools { get; set; }
    public JsonElement? ResponseFormat { get; set; }
}

public sealed class ChatMessageBody
{
    public string? Role { get; set; }
    public JsonElement? Content { get; set; }
}

public sealed class CompletionRequest : GenerationRequestBody
{
    public JsonElement? Prompt { get; set; }
    /// <summary>The legacy API's logprobs: how many alternatives per token (0 to 5), null for none.</summary>
    public int? Logprobs { get; set; }
    public bool? Echo { get; set; }
    public string? Suffix { get; set; }
}

public sealed class TokenizeRequest
{
    public string? Content { get; set; }
    /// <summary>Put &lt;bos&gt; first (as a prompt has it); default true.</summary>
    public bool? AddSpecial { get; set; }
    public bool? WithPieces { get; set; }
}

public sealed class DetokenizeRequest
{
    public List<int>? Tokens { get; set; }
}

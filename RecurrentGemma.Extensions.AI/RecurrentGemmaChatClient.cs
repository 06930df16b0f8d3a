using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using Microsoft.Extensions.AI;
using RecurrentGemma.Core.Generation;
using RecurrentGemma.Core.Sampling;
using RecurrentGemma.Core.Serving;

namespace RecurrentGemma.Extensions.AI;

/// <summary>
/// A <see cref="TextGenerator"/> as an <see cref="IChatClient"/>: messages go through the Gemma chat template
/// (<see cref="ChatPrompt"/>: system text folded into the next user turn), <see cref="ChatOptions"/> map to
/// <see cref="SamplingParameters"/>, and every call runs on the generator's one scheduler, so concurrent calls are batched
/// together. A call that resends a conversation's history starts from the cached state of its longest known prefix
/// (<see cref="PromptStateCache"/>, as rgemma serve does), so a follow-up turn prefills only what is new. Thread-safe.
/// </summary>
public sealed class RecurrentGemmaChatClient : IChatClient
{
    readonly TextGenerator _generator;
    readonly RecurrentGemmaChatClientOptions _options;
    readonly PromptStateCache _cache;
    readonly ChatClientMetadata _metadata;

    public RecurrentGemmaChatClient(TextGenerator generator, RecurrentGemmaChatClientOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(generator);
        _generator = generator;
        _options = options ?? new RecurrentGemmaChatClientOptions();
        _options.Defaults.Validate();
        generator.RequireTokenizer();
        _cache = new PromptStateCache(generator, _options.StateCacheBytes);
        _metadata = new ChatClientMetadata("recurrentgemma", null, _options.ModelId);
    }

    /// <summary>The conversation-state cache of this client (its hit counts, its size).</summary>
    public PromptStateCache Cache => _cache;

    /// <summary>The stream folded by the abstractions' own <c>ToChatResponseAsync</c> (text, usage, finish reason, ids).</summary>
    public Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default) =>
        GetStreamingResponseAsync(messages, options, cancellationToken).ToChatResponseAsync(cancellationToken);

    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var prompt = ChatPrompt.Encode(_generator.Tokenizer!, ToCore(messages, options));
        var parameters = Sampling(options);
        string responseId = "rg-" + Guid.NewGuid().ToString("N")[..16];
        var created = DateTimeOffset.UtcNow;
        var (session, cached) = await _cache.PrefillAsync(prompt.Ids, prompt.Checkpoints, cancellationToken).ConfigureAwait(false);
        await foreach (var token in session.GenerateAsync([], parameters, cancellationToken).ConfigureAwait(false))
            if (!string.IsNullOrEmpty(token.Text))
                yield return new ChatResponseUpdate(ChatRole.Assistant, token.Text) { ResponseId = responseId, ModelId = _options.ModelId, CreatedAt = created };
        var usage = session.LastUsage;
        if (usage is null || usage.StopReason == StopReason.Cancelled)
        {
            cancellationToken.ThrowIfCancellationRequested();
            yield break;
        }
        _cache.Add(session);   // the conversation's next turn starts from here
        var details = new UsageDetails
        {
            InputTokenCount = prompt.Ids.Length,
            OutputTokenCount = usage.GeneratedTokens,
            TotalTokenCount = prompt.Ids.Length + usage.GeneratedTokens,
            CachedInputTokenCount = cached,
        };
        yield return new ChatResponseUpdate(ChatRole.Assistant, [new UsageContent(details)])
        {
            ResponseId = responseId,
            ModelId = _options.ModelId,
            CreatedAt = created,
            FinishReason = usage.StopReason == StopReason.MaxTokens ? ChatFinishReason.Length : ChatFinishReason.Stop,
        };
    }

    static List<ChatTurn> ToCore(IEnumerable<ChatMessage> messages, ChatOptions? options)
    {
        var result = new List<ChatTurn>();
        if (options?.Instructions is { Length: > 0 } instructions) result.Add(new(TurnRole.System, instructions));
        int index = 0;
        foreach (var m in messages)
        {
            TurnRole role = m.Role == ChatRole.User ? TurnRole.User
                : m.Role == ChatRole.Assistant ? TurnRole.Model
                : m.Role == ChatRole.System ? TurnRole.System
                : throw new NotSupportedException($"message {index} has role '{m.Role}'; RecurrentGemma chats take system, user and assistant messages (no tools)");
            foreach (var content in m.Contents)
                if (content is not (TextContent or UsageContent))
                    throw new NotSupportedException($"message {index} holds {content.GetType().Name}; only text is supported");
            result.Add(new(role, m.Text));
            index++;
        }
        return result;
    }

    /// <summary>The call's options over the client's defaults; no seed means a fresh random one, as chat services sample.</summary>
    SamplingParameters Sampling(ChatOptions? options)
    {
        var d = _options.Defaults;
        if (options?.Tools is { Count: > 0 }) throw new NotSupportedException("tool calling is not supported by RecurrentGemma");
        float temperature = options?.Temperature ?? d.Temperature;
        return new SamplingParameters
        {
            Temperature = temperature,
            TopP = options?.TopP ?? d.TopP,
            TopK = options?.TopK ?? d.TopK,
            MinP = d.MinP,
            // Temperature 0 asked for is exactly greedy: the default repetition penalty (which ChatOptions cannot set) is dropped too.
            RepetitionPenalty = options?.Temperature == 0 ? 1f : d.RepetitionPenalty,
            PresencePenalty = options?.PresencePenalty ?? d.PresencePenalty,
            FrequencyPenalty = options?.FrequencyPenalty ?? d.FrequencyPenalty,
            MaxTokens = options?.MaxOutputTokens ?? d.MaxTokens,
            StopStrings = options?.StopSequences is { Count: > 0 } stops ? [.. stops] : d.StopStrings,
            Seed = options?.Seed is { } seed ? unchecked((ulong)seed) : BitConverter.ToUInt64(RandomNumberGenerator.GetBytes(8)),
        }.Validate();
    }

    public object? GetService(Type serviceType, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        if (serviceKey is not null) return null;
        if (serviceType == typeof(ChatClientMetadata)) return _metadata;
        if (serviceType.IsInstanceOfType(this)) return this;
        if (serviceType == typeof(TextGenerator)) return _generator;
        return null;
    }

    /// <summary>Does not dispose the generator: it belongs to the caller.</summary>
    public void Dispose() { }
}

/// <summary>How <see cref="RecurrentGemmaChatClient"/> answers when a call's <see cref="ChatOptions"/> leave something unset.</summary>
public sealed record RecurrentGemmaChatClientOptions
{
    /// <summary>The model id in metadata and responses.</summary>
    public string ModelId { get; init; } = "recurrentgemma";
    /// <summary>Memory for cached conversation states (0: off).</summary>
    public long StateCacheBytes { get; init; } = 512L << 20;
    /// <summary>Sampling where the call says nothing: <see cref="SamplingParameters.Chat"/> (Temperature = 0 in ChatOptions is exactly greedy: no repetition penalty either).</summary>
    public SamplingParameters Defaults { get; init; } = SamplingParameters.Chat;
}

/// <summary>The entry point: <c>generator.AsIChatClient()</c>.</summary>
public static class TextGeneratorChatClientExtensions
{
    public static IChatClient AsIChatClient(this TextGenerator generator, RecurrentGemmaChatClientOptions? options = null) =>
        new RecurrentGemmaChatClient(generator, options);
}

namespace RecurrentGemma.Core.Serving;

/// <summary>One generated token: its id, and the text it completes (empty while a multi-byte character is incomplete; null without a tokenizer).</summary>
public readonly record struct GeneratedToken(int Id, string? Text)
{
    /// <summary>Id of a request's final item when it only carries text held back to the end (no token).</summary>
    public const int NoId = -1;

    /// <summary>The token's log-probability and the top alternatives, when <see cref="Sampling.SamplingParameters.Logprobs"/> asked for them.</summary>
    public Sampling.TokenLogprobs? Logprobs { get; init; }
}

public enum StopReason { MaxTokens, EndOfSequence, EndOfTurn, StopString, Cancelled }

/// <summary>What one generation call did, and how fast.</summary>
public sealed record GenerationUsage(int PromptTokens, int GeneratedTokens, double PrefillSeconds, double DecodeSeconds, StopReason StopReason)
{
    public double PrefillTokensPerSecond => PrefillSeconds > 0 ? PromptTokens / PrefillSeconds : 0;
    public double DecodeTokensPerSecond => DecodeSeconds > 0 ? GeneratedTokens / DecodeSeconds : 0;
}

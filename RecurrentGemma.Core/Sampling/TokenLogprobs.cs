namespace RecurrentGemma.Core.Sampling;

/// <summary>ln p(token) under the model's next-token distribution (the raw logits, before penalties and cuts), and the most likely tokens there, most likely first.</summary>
public sealed record TokenLogprobs(float Logprob, IReadOnlyList<TokenLogprob> Top);

public readonly record struct TokenLogprob(int Id, float Logprob);
